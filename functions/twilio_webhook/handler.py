"""Twilio webhooks: message status callbacks. Signature first: anything unsigned or tampered → 403, nothing stored."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.clock import SystemClock
from kizuna.errors import Forbidden
from kizuna.observability import logger
from kizuna.services.record_status import record_status
from kizuna.settings import TwilioWebhookSettings
from kizuna.webhooks.twilio_requests import from_api_gateway, verify
from kizuna.wiring import event_sink, message_store, twilio_account

settings = TwilioWebhookSettings()
store = message_store(settings.messages_table)
events = event_sink(settings.events_stream)
app = APIGatewayRestResolver()
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@app.post("/webhooks/twilio/status")
def message_status() -> Response:
    request = from_api_gateway(app.current_event.raw_event)
    verify(request, twilio_account(settings.twilio_secret_id).auth_token.get_secret_value())
    message_id = (app.current_event.query_string_parameters or {}).get("m")
    if message_id:
        record_status(store, events, SystemClock(), message_id, request.params)
    return Response(200, "text/xml", EMPTY_TWIML)


@app.exception_handler(Forbidden)
def forbidden(exc: Forbidden) -> Response:
    logger.warning("rejected Twilio webhook", reason=exc.message)
    return Response(403, "text/plain", "Forbidden")


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
