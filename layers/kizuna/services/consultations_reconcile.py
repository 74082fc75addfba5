"""Reconciliation (every 5 minutes): close what callbacks and webhooks left open, never settling twice.

For each record whose check_at has passed:
- SETTLING with its lease run out (a crash, Stripe unavailable): take over — read the intent, then act;
- the call is over but nothing was claimed: settle it now;
- CALLING / IN_CALL past its time limit: ask Twilio for the legs and apply their final status like a callback;
- BOOKED past its window: a no-show (the cancellation fee, or a release);
- BOOKED whose hold expires before the window ends: re-authorize (a new off-session hold, then release the old);
  a declined re-authorization releases, cancels the booking and alerts.
Every step is the same conditional write the callbacks use, so a reconciler racing a callback changes nothing the
callback did (and the other way round).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from kizuna.domain.consultations import CALL_ENDED, Consultation, Payment, Settlement, Status
from kizuna.errors import ProviderError
from kizuna.ports_consultations import PaymentDeclined, PaymentRefused, PaymentUnavailable
from kizuna.services.consultation_events import alert, emit
from kizuna.services.consultations_calls import apply_status
from kizuna.services.consultations_deps import ConsultationDeps
from kizuna.services.consultations_settle import lease_expired, settle, settlement_for_ended_call, take_over

logger = Logger(child=True)


def reconcile_consultations(deps: ConsultationDeps, limit: int = 200) -> dict[str, int]:
    report = {"checked": 0, "settled": 0, "calls": 0, "reauthorized": 0, "no_shows": 0, "errors": 0}
    for c in deps.store.due(deps.clock.now(), limit):
        report["checked"] += 1
        try:
            outcome = _reconcile_one(deps, c)
        except (ProviderError, PaymentUnavailable, PaymentRefused) as exc:
            report["errors"] += 1
            logger.warning("reconciliation step failed", consultation_id=c.consultation_id, error=str(exc))
            continue
        if outcome:
            report[outcome] += 1
    return report


def _reconcile_one(deps: ConsultationDeps, c: Consultation) -> str | None:
    now = deps.clock.now()
    if c.payment is Payment.SETTLING:
        if lease_expired(c, now):
            take_over(deps, c)
            return "settled"
        return None
    if c.payment is not Payment.HELD:
        return None
    if c.status in CALL_ENDED:
        settle(deps, c, settlement_for_ended_call(c))
        return "settled"
    if c.status in (Status.CALLING, Status.IN_CALL):
        _ask_twilio(deps, c)
        return "calls"
    if c.status is Status.BOOKED and now > c.end_time:
        settlement = c.settlement_for_fee("no_show") if c.cancellation_fee else Settlement("release", 0, "no_show")
        done = settle(deps, c, settlement, status=Status.NO_SHOW, status_reason="no_show")
        emit(deps.events, done, "canceled", now, reason="no_show")
        return "no_shows"
    if c.status is Status.BOOKED and (reauthorize_at := c.reauthorize_at()) and now >= reauthorize_at:
        return "reauthorized" if _reauthorize(deps, c) else None
    return None


def _ask_twilio(deps: ConsultationDeps, c: Consultation) -> None:
    """A call with no final callback: Twilio's record of each leg, applied as if its callback had come."""
    legs = [deps.calls.fetch(c.dial_call_sid)] if c.dial_call_sid else list(deps.calls.children(c.call_sid or ""))
    for leg in legs:
        params = {"CallSid": leg.sid, "ParentCallSid": c.call_sid or "", "CallStatus": leg.status,
                  "CallbackSource": "kizuna-reconciler"}  # fmt: skip
        if leg.duration is not None:
            params["CallDuration"] = str(leg.duration)
        deps.store.record_call_event(c.app_id, c.consultation_id, params, deps.clock.now())
        c = apply_status(deps, c, params)
    if not legs and c.call_sid:
        parent = deps.calls.fetch(c.call_sid)
        apply_status(deps, c, {"CallSid": parent.sid, "CallStatus": parent.status})


def _reauthorize(deps: ConsultationDeps, c: Consultation) -> bool:
    now = deps.clock.now()
    attempt = c.reauthorizations + 1
    try:
        hold = deps.payments.place_hold(
            c.hold_amount,
            c.currency,
            c.stripe_customer,
            c.stripe_payment_method,
            idempotency_key=f"kizuna-hold-{c.app_id}-{c.consultation_id}-{attempt}",
            metadata={"kizuna_app": c.app_id, "kizuna_consultation": c.consultation_id},
            off_session=True,
        )
    except PaymentDeclined as exc:
        done = settle(deps, c, Settlement("release", 0, "reauthorization_declined"), status=Status.CANCELED,
                      status_reason=f"re-authorization declined: {exc.reason}")  # fmt: skip
        alert(deps.events, done, f"re-authorization declined: {exc.reason}", now)
        return False
    if hold.status != "requires_capture":
        deps.payments.cancel(hold.id, f"kizuna-release-{hold.id}")
        alert(deps.events, c, f"re-authorization left the intent {hold.status}", now)
        return False
    renewed = c.with_changes(now, payment_intent_id=hold.id, hold_amount=hold.amount,
                             hold_expires_at=hold.capture_before, reauthorizations=attempt)  # fmt: skip
    if not deps.store.save(renewed):
        deps.payments.cancel(hold.id, f"kizuna-release-{hold.id}")  # someone else changed it: keep theirs
        return False
    # The old authorization is released only once the new one is recorded.
    execute_release_of(deps, c.payment_intent_id)
    emit(deps.events, renewed, "reauthorized", now, detail=str(attempt), payment_intent_id=hold.id)
    return True


def execute_release_of(deps: ConsultationDeps, payment_intent_id: str) -> None:
    try:
        deps.payments.cancel(payment_intent_id, f"kizuna-release-{payment_intent_id}")
    except (PaymentRefused, PaymentUnavailable) as exc:  # it lapses by itself within days; worth a log, no more
        logger.warning("old hold not released", payment_intent_id=payment_intent_id, error=str(exc))
