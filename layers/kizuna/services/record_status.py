"""Provider status callbacks: forward-only, deduplicated, each real change one stream event.

The record is advanced before its event is emitted, and a function can die between the two (a crash, a Firehose
call that fails for good): the provider then retries the callback, which finds the record already there. Such an
exact replay emits the status's event again, under the same deterministic id (message id + status), so the event a
failed attempt lost reaches the stream and the analytics ledger still counts it once."""

from __future__ import annotations

from dataclasses import replace

from aws_lambda_powertools import Logger

from kizuna.clock import Clock
from kizuna.domain.messages import TWILIO_CALL_STATUS, TWILIO_STATUS
from kizuna.ports import EventSink, MessageStore
from kizuna.services.event_stream import status_event

logger = Logger(child=True)

# Call outcomes that are not errors of Twilio's but still mean "not delivered": kept as the record's error code.
_CALL_FAILURE_CODES = {"busy": "busy", "no-answer": "no-answer", "canceled": "canceled"}


def record_status(
    store: MessageStore, events: EventSink, clock: Clock, message_id: str, params: dict[str, str]
) -> bool:
    """Apply one verified message status callback (SMS, WhatsApp). True when it changed the record (False: late,
    replayed or unknown)."""
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
    record = store.advance_status(message_id, status, error_code, now, provider_id=provider_id)
    changed = record is not None
    if record is None:
        replayed = store.get(message_id)
        if replayed is None or replayed.status != status:
            return False  # late (the record is further along) or unknown
        record, error_code = replayed, replayed.error_code
    destination = (params.get("To") or "").removeprefix("whatsapp:")
    if destination:
        record = replace(record, to=destination)
    events.emit([status_event(record, status, error_code, now, now)])
    return changed
