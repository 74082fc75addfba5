"""Provider status callbacks: the status ladder (kizuna.domain.messages), deduplicated, each change its events.

The record is advanced before its events are emitted, and a function can die between the two (a crash, a Firehose
call that fails for good): the provider then retries the callback, which finds the record already there. Such an
exact replay emits the status's events again, under the same deterministic ids (message id + status), so the events
a failed attempt lost reach the stream and the analytics ledger still counts each once.

A callback is answered 2xx only when it was applied or the ladder says it changes nothing (late, replayed, or a
status Kizuna does not know). One that should change a record but could not (no such record, or concurrent writes
kept moving it) raises StatusNotApplied, and the webhook answers 503 so the provider posts it again."""

from __future__ import annotations

from dataclasses import replace

from aws_lambda_powertools import Logger

from kizuna.clock import Clock
from kizuna.domain.messages import FAILURES, TWILIO_CALL_STATUS, TWILIO_STATUS, Advance, statuses_reached
from kizuna.errors import StatusNotApplied
from kizuna.ports import EventSink, MessageStore
from kizuna.services.event_stream import status_event

logger = Logger(child=True)

# Call outcomes that are not errors of Twilio's but still mean "not delivered": kept as the record's error code.
_CALL_FAILURE_CODES = {"busy": "busy", "no-answer": "no-answer", "canceled": "canceled"}


def record_status(
    store: MessageStore, events: EventSink, clock: Clock, message_id: str, params: dict[str, str]
) -> bool:
    """Apply one verified message status callback (SMS, WhatsApp). True when it changed the record (False: late,
    replayed or a status Kizuna does not know); StatusNotApplied when it should and could not."""
    twilio_status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    status = TWILIO_STATUS.get(twilio_status)
    return apply_status(store, events, clock, message_id, status, twilio_status, params, params.get("MessageSid"))


def record_call_status(
    store: MessageStore, events: EventSink, clock: Clock, message_id: str, params: dict[str, str]
) -> bool:
    """Apply one verified call status callback of a voice message."""
    twilio_status = params.get("CallStatus", "")
    if twilio_status in _CALL_FAILURE_CODES and not params.get("ErrorCode"):
        params = {**params, "ErrorCode": _CALL_FAILURE_CODES[twilio_status]}
    status = TWILIO_CALL_STATUS.get(twilio_status)
    return apply_status(store, events, clock, message_id, status, twilio_status, params, params.get("CallSid"))


def apply_status(
    store: MessageStore,
    events: EventSink,
    clock: Clock,
    message_id: str,
    status: str | None,
    provider_status: str,
    params: dict[str, str],
    provider_id: str | None = None,
) -> bool:
    """`provider_id` (Twilio's MessageSid/CallSid) is kept on a record that has none yet: when the create request
    timed out, the callbacks can settle the message before any sender learns its sid, and the reconciler can only
    ask about a record that names it."""
    if status is None:
        # Statuses Twilio may add later are recorded in the log, never guessed into the ladder.
        logger.warning("unknown provider status ignored", message_id=message_id, provider_status=provider_status)
        return False
    error_code = params.get("ErrorCode") or None
    now = clock.now()
    update = store.advance_status(message_id, status, error_code, now, provider_id=provider_id)
    if update.outcome is Advance.UNKNOWN or update.record is None:
        # Every send writes its record before the provider sees the message, so this is a record not readable yet
        # or gone (erased); a retry costs little, a 200 would lose the status for good.
        raise StatusNotApplied(f"no delivery record for message {message_id}")
    record = update.record
    if update.outcome is Advance.UNCHANGED:
        if record.status != status:
            if record.status in FAILURES and status in ("delivered", "read"):
                logger.warning("delivery reported after a final failure; the failure stands", message_id=message_id,
                               status=record.status, provider_status=provider_status)  # fmt: skip
            return False  # late: the ladder keeps the record where it is
        reached, error_code = statuses_reached(None, status), record.error_code  # a replay: its events again
    else:
        reached = statuses_reached(update.before.status if update.before else None, status)
    destination = (params.get("To") or "").removeprefix("whatsapp:")
    if destination:
        record = replace(record, to=destination)
    events.emit([status_event(record, s, error_code if s == status else None, now, now) for s in reached])
    return update.outcome is Advance.APPLIED
