"""Stripe webhook events for consultation PaymentIntents, after the handler verified the signature.

Deduplicated by event id (a replay is acknowledged and ignored). Events arrive late, twice, or out of order, so an
event is never applied as a fact: when it disagrees with the record, the PaymentIntent is read from Stripe and
that is what gets recorded (the same `record` step settlement uses). In the usual order of things (Kizuna's own
capture already recorded) an event agrees with the record and costs no Stripe call.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from kizuna.domain.consultations import Consultation, Payment
from kizuna.services.consultation_events import alert
from kizuna.services.consultations_deps import ConsultationDeps
from kizuna.services.consultations_settle import record

logger = Logger(child=True)

# What the record says when it already agrees with the event (no Stripe read needed).
AGREES: dict[str, frozenset[Payment]] = {
    "payment_intent.succeeded": frozenset({Payment.CAPTURED}),
    "payment_intent.canceled": frozenset({Payment.RELEASED, Payment.HOLD_EXPIRED}),
    "payment_intent.amount_capturable_updated": frozenset({Payment.HELD, Payment.SETTLING}),
    "payment_intent.created": frozenset({Payment.HELD, Payment.SETTLING}),
}


def handle_event(deps: ConsultationDeps, event: dict[str, Any]) -> str:
    """Returns what was done: "duplicate", "ignored", "consistent" or "reconciled"."""
    event_id, event_type = event.get("id", ""), event.get("type", "")
    if deps.store.provider_event_seen("stripe", event_id):
        return "duplicate"
    outcome = _apply(deps, event_type, (event.get("data") or {}).get("object") or {})
    deps.store.claim_provider_event("stripe", event_id, deps.clock.now())  # after applying: a crash is retried
    return outcome


def _apply(deps: ConsultationDeps, event_type: str, intent: dict[str, Any]) -> str:
    if intent.get("object") != "payment_intent" or not event_type.startswith("payment_intent."):
        return "ignored"
    metadata = intent.get("metadata") or {}
    app_id, consultation_id = metadata.get("kizuna_app"), metadata.get("kizuna_consultation")
    if not app_id or not consultation_id:
        return "ignored"  # not a consultation's intent
    c = deps.store.get(app_id, consultation_id)
    if c is None or c.payment_intent_id != intent.get("id"):
        return "ignored"  # unknown, or an old intent replaced by a re-authorization
    if c.payment in AGREES.get(event_type, frozenset()):
        return "consistent"
    state = deps.payments.retrieve(c.payment_intent_id)
    _reconcile(deps, c, state.status, state)
    return "reconciled"


def _reconcile(deps: ConsultationDeps, c: Consultation, status: str, state: Any) -> None:
    now = deps.clock.now()
    if c.payment is Payment.SETTLING:
        record(deps, c, state)  # e.g. Kizuna crashed after capturing: Stripe's word completes the settlement
    elif c.payment is Payment.HELD and status == "canceled":
        expired = c.with_changes(now, payment=Payment.HOLD_EXPIRED, status_reason=f"intent canceled at Stripe "
                                 f"({state.cancellation_reason})")  # fmt: skip
        if deps.store.save(expired):
            alert(deps.events, expired, f"hold canceled at Stripe ({state.cancellation_reason})", now)
    elif c.payment is Payment.HELD and status == "succeeded":
        alert(deps.events, c, "intent captured outside Kizuna while the consultation holds it", now)
    else:
        logger.info("stripe event needs no change", consultation_id=c.consultation_id, intent_status=status)
