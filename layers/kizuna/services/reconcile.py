"""Close the gaps callbacks leave: Twilio's test credentials never send them, and real ones can be lost."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from kizuna.clock import Clock
from kizuna.errors import ProviderError, StatusNotApplied
from kizuna.observability import logger
from kizuna.ports import EventSink, MessageProvider, MessageStore
from kizuna.services.record_status import record_call_status, record_status

# Twilio usually reports a final status within seconds; after this long without one, ask.
STALE_AFTER = timedelta(minutes=10)
WAITING = ("queued", "accepted_by_service", "scheduled", "sent")


def reconcile_messages(
    store: MessageStore, providers: Mapping[str, MessageProvider], events: EventSink, clock: Clock, limit: int = 500
) -> dict[str, int]:
    checked = advanced = errors = 0
    for record in store.stale(WAITING, clock.now() - STALE_AFTER, limit):
        if not record.provider_id:
            continue
        checked += 1
        provider = providers.get(record.channel)
        if provider is None:  # e-mail: SES reports through its event destination; there is nothing to ask
            continue
        try:
            receipt = provider.fetch_status(record.provider_id)
        except ProviderError as exc:
            errors += 1
            logger.warning("provider lookup failed", message_id=record.message_id, code=exc.code)
            continue
        try:
            if record.channel == "VOICE":
                params = {"CallStatus": receipt.status, "ErrorCode": receipt.error_code or ""}
                advanced += record_call_status(store, events, clock, record.message_id, params)
            else:
                params = {"MessageStatus": receipt.status, "ErrorCode": receipt.error_code or ""}
                advanced += record_status(store, events, clock, record.message_id, params)
        except StatusNotApplied as exc:  # the record is still open, so the next run asks again
            errors += 1
            logger.warning("provider status not applied", message_id=record.message_id, reason=exc.message)
    return {"checked": checked, "advanced": advanced, "errors": errors}
