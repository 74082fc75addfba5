"""SES events from the configuration set's EventBridge destination → e-mail delivery records and the stream."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.clock import SystemClock
from kizuna.observability import logger
from kizuna.services.email_events import record_email_event
from kizuna.settings import EmailEventsSettings
from kizuna.wiring import event_sink, message_store

settings = EmailEventsSettings()
store = message_store(settings.messages_table)
events = event_sink(settings.events_stream)


@logger.inject_lambda_context
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict:
    changed = record_email_event(store, events, SystemClock(), event.detail)
    return {"changed": changed}
