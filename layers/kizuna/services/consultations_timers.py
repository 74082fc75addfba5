"""Call timers: the one-minute warning and the hard cut at the end, fired by the timer function.

The warning marks the record first (a conditional write, so a redelivered timer warns once), then updates the
expert's leg with TwiML that speaks the warning and joins the consultation's conference room; the caller's <Dial>
ends and its action (consultations_calls.dial_ended) does the same for the caller, for the time left. <Dial
timeLimit> already ends the call when the hold's time is used up; the cut hangs up a call that is somehow still
up a few seconds later.
"""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools import Logger

from kizuna.domain.consultations import Status
from kizuna.services import consultations_twiml as twiml
from kizuna.services.consultation_events import emit
from kizuna.services.consultations_deps import ConsultationDeps

logger = Logger(child=True)


def fire(deps: ConsultationDeps, app_id: str, consultation_id: str, kind: str, now: datetime) -> str:
    """Returns what happened: "warned", "cut", or "skipped" (the call is no longer there to act on)."""
    c = deps.store.get(app_id, consultation_id)
    if c is None:
        return "skipped"
    if kind == "warn":
        if c.status is not Status.IN_CALL or c.warned or not c.dial_call_sid:
            return "skipped"
        warned = c.with_changes(now, warned=True)
        if not deps.store.save(warned):
            return "skipped"  # another delivery of this timer (or a settlement) got there first
        if not deps.calls.redirect(c.dial_call_sid, twiml.warning_for_expert(warned)):
            return "skipped"  # the expert's leg ended meanwhile
        emit(deps.events, warned, "warned", now)
        return "warned"
    if kind == "cut":
        if c.status not in (Status.CALLING, Status.IN_CALL) or not c.call_sid:
            return "skipped"
        logger.warning("call still up after its time limit; hanging up", consultation_id=consultation_id)
        deps.calls.hang_up(c.call_sid)
        return "cut"
    raise ValueError(f"unknown timer kind {kind!r}")
