"""Provider status callbacks: forward-only, deduplicated, each real change one stream event."""

from __future__ import annotations

from dataclasses import replace

from aws_lambda_powertools import Logger

from kizuna.clock import Clock
from kizuna.domain.messages import TWILIO_STATUS
from kizuna.ports import EventSink, MessageStore
from kizuna.services.event_stream import sms_status_event

logger = Logger(child=True)


def record_status(
    store: MessageStore, events: EventSink, clock: Clock, message_id: str, params: dict[str, str]
) -> bool:
    """Apply one verified callback. Returns True when it changed the record (False: late, replayed or unknown)."""
    twilio_status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    status = TWILIO_STATUS.get(twilio_status)
    if status is None:
        # Statuses Twilio may add later are recorded in the log, never guessed into the ladder.
        logger.warning("unknown provider status ignored", message_id=message_id, provider_status=twilio_status)
        return False
    error_code = params.get("ErrorCode") or None
    now = clock.now()
    record = store.advance_status(message_id, status, error_code, now)
    if record is None:
        return False
    destination = params.get("To")
    events.emit(
        [sms_status_event(replace(record, to=destination) if destination else record, status, error_code, now, now)]
    )
    return True
