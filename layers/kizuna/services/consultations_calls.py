"""The consultation's call: the voice webhook (find the booking, bridge with <Dial timeLimit>), the <Dial> action,
and every status callback (stored, forward only, settling the hold when the dialed leg ends).

Which leg is which: the caller's inbound call is `call_sid`; the expert's leg is the child Twilio creates for
<Dial><Number>, reported with ParentCallSid = call_sid. The child's CallDuration is the talk time that is billed
(capped at what the hold covers); the parent's includes the greeting and the PIN.
"""

from __future__ import annotations

from datetime import timedelta

from aws_lambda_powertools import Logger

from kizuna.domain.consultations import (
    EXPIRY_MARGIN,
    LEG_FINAL,
    WARNING_BEFORE_END_S,
    Consultation,
    Payment,
    Settlement,
    Status,
    leg_rank,
)
from kizuna.services import consultations_twiml as twiml
from kizuna.services.consultation_events import alert, emit
from kizuna.services.consultations_deps import ConsultationDeps
from kizuna.services.consultations_settle import claim, execute

logger = Logger(child=True)
CUT_GRACE_S = 10
ATTEMPTS = 4  # re-reads after losing a conditional write to a concurrent writer


def incoming_call(deps: ConsultationDeps, params: dict[str, str], base: str) -> str:
    """The app's Twilio number rang: the caller's booking by caller ID within its window, else ask for the PIN."""
    now = deps.clock.now()
    number, caller, call_sid = params.get("To", ""), params.get("From", ""), params.get("CallSid", "")
    c = deps.store.find_by_caller(number, caller, now)
    if c is None:
        return _retry_of(deps, call_sid, base) or twiml.ask_pin(base, attempt=1)
    return connect(deps, c, call_sid, base)


def pin_entered(deps: ConsultationDeps, params: dict[str, str], base: str, attempt: int) -> str:
    now = deps.clock.now()
    digits = params.get("Digits", "")
    c = deps.store.find_by_pin(params.get("To", ""), digits, now) if digits.isdigit() else None
    if c is None:
        retried = _retry_of(deps, params.get("CallSid", ""), base)
        if retried:
            return retried
        if attempt < twiml.PIN_ATTEMPTS:
            return twiml.ask_pin(base, attempt=attempt + 1)
        return twiml.refuse("not_found")
    return connect(deps, c, params.get("CallSid", ""), base)


def _retry_of(deps: ConsultationDeps, call_sid: str, base: str) -> str | None:
    """The same call asking again (a Twilio retry after a timeout): answer with the same bridge."""
    c = deps.store.find_by_call(call_sid) if call_sid else None
    if c is not None and c.call_sid == call_sid and c.status is Status.CALLING:
        return twiml.bridge(base, c, c.time_limit_s or c.authorized_seconds)
    return None


def connect(deps: ConsultationDeps, c: Consultation, call_sid: str, base: str) -> str:
    for _ in range(ATTEMPTS):
        now = deps.clock.now()
        if c.call_sid == call_sid and c.status is Status.CALLING:
            return twiml.bridge(base, c, c.time_limit_s or c.authorized_seconds)
        if not c.callable:
            return twiml.refuse("busy", c.language)
        limit = c.authorized_seconds
        if limit <= 0 or not c.hold_usable(now + timedelta(seconds=limit) + EXPIRY_MARGIN):
            alert(deps.events, c, "call refused: the hold would expire before the call could be captured", now)
            return twiml.refuse("hold_expired", c.language)
        calling = c.with_changes(
            now, status=Status.CALLING, call_sid=call_sid, time_limit_s=limit, legs={**c.legs, call_sid: "ringing"}
        )
        if deps.store.save(calling):
            return twiml.bridge(base, calling, limit)
        c = deps.store.get(c.app_id, c.consultation_id) or c
    return twiml.refuse("busy", c.language)


def dial_ended(deps: ConsultationDeps, app_id: str, consultation_id: str, params: dict[str, str], base: str) -> str:
    """The caller's <Dial> is over. After the one-minute warning moved the expert into the consultation's room,
    the caller joins it for the time left; otherwise the call ends (and an expert who never answered releases)."""
    c = deps.store.get(app_id, consultation_id)
    if c is None:
        return twiml.refuse("not_found")
    dial_status = params.get("DialCallStatus", "")
    if dial_status == "completed" and c.warned and c.status is Status.IN_CALL and c.bridged_at:
        elapsed = (deps.clock.now() - c.bridged_at).total_seconds()
        remaining = int((c.time_limit_s or c.authorized_seconds) - elapsed)
        if remaining > 0:
            return twiml.warning_for_caller(c, remaining)
    if dial_status in ("busy", "no-answer", "failed") and params.get("DialCallSid"):
        leg = {"CallSid": params["DialCallSid"], "ParentCallSid": c.call_sid or "", "CallStatus": dial_status}
        apply_status(deps, c, leg)
        return twiml.refuse("unavailable", c.language)
    return twiml.refuse("ended", c.language)


def call_status(
    deps: ConsultationDeps, app_id: str | None, consultation_id: str | None, params: dict[str, str]
) -> bool:
    """A verified status callback: store its parameters (once per CallSid and status), then apply it.
    Returns False when it belongs to no consultation."""
    c = deps.store.get(app_id, consultation_id) if app_id and consultation_id else None
    if c is None:
        c = deps.store.find_by_call(params.get("ParentCallSid") or params.get("CallSid", ""))
    if c is None:
        logger.info("call status for no consultation", call_sid=params.get("CallSid"))
        return False
    deps.store.record_call_event(c.app_id, c.consultation_id, params, deps.clock.now())
    apply_status(deps, c, params)
    return True


def apply_status(deps: ConsultationDeps, c: Consultation, params: dict[str, str]) -> Consultation:
    """Move the consultation by one leg status, forward only; conditional writes, re-read on conflict."""
    sid, status = params.get("CallSid", ""), params.get("CallStatus", "")
    for _ in range(ATTEMPTS):
        previous = c.legs.get(sid)
        if leg_rank(status) < 0 or (previous is not None and leg_rank(status) <= leg_rank(previous)):
            return c  # unknown, late or replayed: nothing moves
        legs = {**c.legs, sid: status}
        is_child = bool(c.call_sid) and (params.get("ParentCallSid") == c.call_sid or sid == c.dial_call_sid)
        if is_child:
            done = _child_status(deps, c, sid, status, params, legs)
        elif sid and sid == c.call_sid:
            done = _parent_status(deps, c, status, legs)
        else:
            return c
        if done is not None:
            return done
        c = deps.store.get(c.app_id, c.consultation_id) or c
    return c


def _child_status(
    deps: ConsultationDeps, c: Consultation, sid: str, status: str, params: dict[str, str], legs: dict[str, str]
) -> Consultation | None:
    now = deps.clock.now()
    if status == "completed" and c.payment is Payment.HELD:
        seconds = int(params.get("CallDuration") or 0)
        billed = min(seconds, c.authorized_seconds)
        claimed = claim(deps, c, c.settlement_for_call(seconds), status=Status.COMPLETED, billed_seconds=billed,
                        legs=legs, dial_call_sid=sid)  # fmt: skip
        if claimed is None:
            return None
        emit(deps.events, claimed, "call_ended", now, detail=sid, metrics_={"billed_seconds": float(billed)})
        return execute(deps, claimed)
    if status in ("busy", "no-answer", "failed") and c.payment is Payment.HELD:
        claimed = claim(deps, c, Settlement("release", 0, "no_answer"), status=Status.NO_ANSWER,
                        status_reason=f"expert {status}", legs=legs, dial_call_sid=sid)  # fmt: skip
        if claimed is None:
            return None
        emit(deps.events, claimed, "call_ended", now, detail=sid, outcome=status)
        return execute(deps, claimed)
    if status == "canceled" and c.status is Status.CALLING:
        # The caller hung up while the expert's phone rang: the booking stands, they may call again.
        return _save(deps, c.with_changes(now, status=Status.BOOKED, legs=legs))
    if status == "in-progress" and c.status in (Status.CALLING, Status.BOOKED) and c.payment is Payment.HELD:
        # (BOOKED too: the caller's own final callback can overtake the expert's answer; see _parent_status.)
        started = c.with_changes(now, status=Status.IN_CALL, bridged_at=now, dial_call_sid=sid, legs=legs)
        if not deps.store.save(started):
            return None
        emit(deps.events, started, "call_started", now, detail=sid)
        _schedule_timers(deps, started)
        return started
    return _save(deps, c.with_changes(now, legs=legs, dial_call_sid=c.dial_call_sid or sid))


def _parent_status(deps: ConsultationDeps, c: Consultation, status: str, legs: dict[str, str]) -> Consultation | None:
    now = deps.clock.now()
    child_answered = any(leg_rank(s) >= 3 for k, s in c.legs.items() if k != c.call_sid)
    if status in LEG_FINAL and c.status is Status.CALLING and not child_answered and c.payment is Payment.HELD:
        # The caller left before the expert answered (or during the PIN prompt): the booking stands and they may
        # call again. Callbacks of different legs arrive in any order, so call_sid is kept: an expert's leg of
        # this call reported later still settles it (and a new call replaces call_sid when it connects).
        return _save(deps, c.with_changes(now, status=Status.BOOKED, legs=legs))
    return _save(deps, c.with_changes(now, legs=legs))


def _save(deps: ConsultationDeps, c: Consultation) -> Consultation | None:
    return c if deps.store.save(c) else None


def _schedule_timers(deps: ConsultationDeps, c: Consultation) -> None:
    if deps.timers is None or c.bridged_at is None:
        return
    limit = c.time_limit_s or c.authorized_seconds
    timers = (
        [("warn", c.bridged_at + timedelta(seconds=limit - WARNING_BEFORE_END_S))]
        if limit > WARNING_BEFORE_END_S
        else []
    )
    timers.append(("cut", c.bridged_at + timedelta(seconds=limit + CUT_GRACE_S)))
    deps.timers.schedule(c.app_id, c.consultation_id, timers, deps.clock.now())
