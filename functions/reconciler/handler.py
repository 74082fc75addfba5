"""Reconciler (every 5 minutes): asks the provider for messages whose final status callback never came."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.clock import SystemClock
from kizuna.observability import logger
from kizuna.services.reconcile import reconcile_messages
from kizuna.settings import ReconcilerSettings
from kizuna.wiring import event_sink, message_store, providers

settings = ReconcilerSettings()
store = message_store(settings.messages_table)
events = event_sink(settings.events_stream)


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    report = reconcile_messages(store, providers(settings.twilio_secret_id), events, SystemClock())
    logger.info("reconciled", **report)
    return report
