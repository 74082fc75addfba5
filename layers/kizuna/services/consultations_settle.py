"""Settling a consultation's hold: exactly one capture (or release), whoever asks and however often.

1. claim: HELD → SETTLING with the Settlement fixed (capture N, or release) and a lease, in one conditional
   write. Of concurrent claimers (duplicate callbacks, the reconciler, a cancellation) one wins; the rest stop.
2. execute: the lease holder calls Stripe once: capture(N) with the key "kizuna-capture-<app>-<id>" (a partial
   capture releases the rest), or cancel with "kizuna-release-<app>-<id>".
3. record: CAPTURED / RELEASED with Stripe's figures, and the revenue aggregate, in one conditional transaction.

A crash between 2 and 3 leaves SETTLING with a lease that runs out; `take_over` (the reconciler, or a Stripe
webhook) re-claims it and reads the PaymentIntent before doing anything, so a capture that happened is recorded,
not repeated. The idempotency key protects the same window at Stripe; localstripe ignores keys, and the tests run
against it, so nothing here relies on them. A hold past its expiry is never captured blindly: HOLD_EXPIRED, alert.
"""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools import Logger

from kizuna.domain.consultations import PAYMENT_FINAL, SETTLE_LEASE, Consultation, Payment, Settlement, Status
from kizuna.ports_consultations import PaymentIntentState, PaymentRefused, PaymentUnavailable, RevenueDelta
from kizuna.services.consultation_events import alert, settled
from kizuna.services.consultations_deps import ConsultationDeps

logger = Logger(child=True)
ATTEMPTS = 4  # re-applications of a final write that lost to an unrelated concurrent write


def capture_key(c: Consultation) -> str:
    return f"kizuna-capture-{c.app_id}-{c.consultation_id}"


def release_key(c: Consultation) -> str:
    return f"kizuna-release-{c.app_id}-{c.consultation_id}"


def claim(deps: ConsultationDeps, c: Consultation, settlement: Settlement, **changes: object) -> Consultation | None:
    """HELD → SETTLING (with `changes` to the call's status in the same write); None if another writer won."""
    if c.payment is not Payment.HELD:
        return None
    now = deps.clock.now()
    claimed = c.with_changes(
        now,
        payment=Payment.SETTLING,
        settlement=settlement,
        settle_lease_until=now + SETTLE_LEASE,
        settle_attempts=c.settle_attempts + 1,
        **changes,
    )
    return claimed if deps.store.save(claimed) else None


def settle(deps: ConsultationDeps, c: Consultation, settlement: Settlement, **changes: object) -> Consultation:
    """Claim and execute; returns the record as it stands afterwards (someone else's if they won)."""
    claimed = claim(deps, c, settlement, **changes)
    if claimed is None:
        return deps.store.get(c.app_id, c.consultation_id) or c
    return execute(deps, claimed)


def execute(deps: ConsultationDeps, c: Consultation) -> Consultation:
    """Call Stripe for a SETTLING record whose lease this caller holds."""
    now = deps.clock.now()
    s = c.settlement
    assert s is not None and c.payment is Payment.SETTLING
    if s.action == "capture" and not c.hold_usable(now):
        return _hold_expired(deps, c)
    try:
        if s.action == "capture":
            state = deps.payments.capture(c.payment_intent_id, s.amount, capture_key(c))
        else:
            state = deps.payments.cancel(c.payment_intent_id, release_key(c))
    except PaymentUnavailable as exc:
        # Outcome unknown: the lease runs out and the reconciler takes over (reading the intent first).
        logger.warning("stripe unavailable while settling", consultation_id=c.consultation_id, error=str(exc))
        return c
    except PaymentRefused as exc:
        # Typically "already captured/canceled" (an earlier attempt did it, and localstripe ignores keys):
        # Stripe's own record of the intent decides.
        logger.info("settlement refused; reading the intent", consultation_id=c.consultation_id, error=str(exc))
        state = deps.payments.retrieve(c.payment_intent_id)
    return record(deps, c, state)


def take_over(deps: ConsultationDeps, c: Consultation) -> Consultation:
    """A SETTLING record whose lease ran out: re-claim it, read the intent, and only then act."""
    now = deps.clock.now()
    if c.payment is not Payment.SETTLING or (c.settle_lease_until and c.settle_lease_until > now):
        return c
    claimed = c.with_changes(now, settle_lease_until=now + SETTLE_LEASE, settle_attempts=c.settle_attempts + 1)
    if not deps.store.save(claimed):
        return deps.store.get(c.app_id, c.consultation_id) or c
    state = deps.payments.retrieve(c.payment_intent_id)
    if state.status in ("succeeded", "canceled"):
        return record(deps, claimed, state)
    return execute(deps, claimed)


def record(deps: ConsultationDeps, c: Consultation, state: PaymentIntentState) -> Consultation:
    """Write what Stripe says happened to a SETTLING record (a no-op for anything else).

    Other writers may touch the record meanwhile (a leg's late callback updates its call log state), so a lost
    write is re-applied to the fresh record for as long as it is still SETTLING."""
    now = deps.clock.now()
    if state.status == "requires_capture":
        return c  # the capture has not happened yet (Stripe unavailable earlier): retried after the lease
    if state.status == "canceled" and c.settlement and c.settlement.action == "capture":
        # Stripe canceled the intent itself (the authorization lapsed): nothing was captured.
        return _hold_expired(deps, c, reason=f"intent canceled by Stripe ({state.cancellation_reason})")
    for _ in range(ATTEMPTS):
        if c.payment is not Payment.SETTLING:
            return c
        revenue = None
        if state.status == "succeeded":
            done = c.with_changes(now, payment=Payment.CAPTURED, amount_captured=state.amount_captured,
                                  settle_lease_until=None)  # fmt: skip
            revenue = RevenueDelta(now.date(), c.currency, state.amount_captured)
        elif state.status == "canceled":
            done = c.with_changes(now, payment=Payment.RELEASED, amount_captured=0, settle_lease_until=None)
        else:
            done = c.with_changes(now, payment=Payment.FAILED, status_reason=f"intent is {state.status}")
        if deps.store.save(done, revenue):
            if done.payment is Payment.FAILED:
                alert(deps.events, done, f"capture failed: intent is {state.status}", now)
            else:
                settled(deps.events, done, now)
            return done
        c = deps.store.get(c.app_id, c.consultation_id) or c
    return c


def _hold_expired(deps: ConsultationDeps, c: Consultation, reason: str = "hold expired before capture") -> Consultation:
    now = deps.clock.now()
    for _ in range(ATTEMPTS):
        if c.payment is not Payment.SETTLING:
            return c
        expired = c.with_changes(now, payment=Payment.HOLD_EXPIRED, status_reason=reason, settle_lease_until=None)
        if deps.store.save(expired):
            alert(deps.events, expired, reason, now)
            return expired
        c = deps.store.get(c.app_id, c.consultation_id) or c
    return c


def settlement_for_ended_call(c: Consultation) -> Settlement:
    """What a record whose call is over owes (used when the settling step itself was never claimed)."""
    if c.status is Status.COMPLETED:
        return c.settlement_for_call(c.billed_seconds or 0)
    if c.status in (Status.CANCELED, Status.NO_SHOW) and c.status_reason in ("late_cancellation", "no_show"):
        return c.settlement_for_fee(c.status_reason)
    return Settlement("release", 0, (c.status_reason or c.status.value).lower())


def is_settled(c: Consultation) -> bool:
    return c.payment in PAYMENT_FINAL


def lease_expired(c: Consultation, now: datetime) -> bool:
    return c.payment is Payment.SETTLING and (c.settle_lease_until is None or c.settle_lease_until <= now)
