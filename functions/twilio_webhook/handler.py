"""Twilio webhooks: message and call status callbacks, inbound SMS/WhatsApp. Signature first: anything unsigned or
tampered → 403, nothing stored."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from twilio.twiml.messaging_response import MessagingResponse

from kizuna.clock import SystemClock
from kizuna.errors import Forbidden, StatusNotApplied
from kizuna.observability import logger
from kizuna.services.inbound import InboundDeps, handle_inbound
from kizuna.services.record_status import record_call_status, record_status
from kizuna.settings import TwilioWebhookSettings
from kizuna.webhooks.twilio_requests import TwilioRequest, from_http_api, verify
from kizuna.wiring import (
    channel_store,
    data_store,
    event_sink,
    message_store,
    relay_queue,
    twilio_account,
)
from kizuna.wiring_journeys import engagement_store

settings = TwilioWebhookSettings()
store = message_store(settings.messages_table)
events = event_sink(settings.events_stream)
app = APIGatewayHttpResolver()  # the webhooks HTTP API, payload format 2.0 (infra/webhooks_api.py)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _verified() -> TwilioRequest:
    request = from_http_api(app.current_event.raw_event)
    verify(request, twilio_account(settings.twilio_secret_id).auth_token.get_secret_value())
    return request


def _query(name: str) -> str | None:
    return (app.current_event.query_string_parameters or {}).get(name)


@app.post("/webhooks/twilio/status")
def message_status() -> Response:
    return _status(record_status)


@app.post("/webhooks/twilio/call-status")
def call_status() -> Response:
    return _status(record_call_status)


def _status(apply: Callable[..., bool]) -> Response:
    """A status callback of a message (?m=<message id>, set by the sender on each message or call). 200 means
    applied or rightly ignored (late, replayed); one that could not be applied is answered 503, for a retry."""
    request = _verified()
    message_id = _query("m")
    if not message_id:
        return Response(400, "text/plain", "the status callback URL needs ?m=<message id>")
    apply(store, events, SystemClock(), message_id, request.params)
    return Response(200, "text/xml", EMPTY_TWIML)


@app.post("/webhooks/twilio/inbound")
def inbound_message() -> Response:
    """The number's "A message comes in" webhook: {WebhooksApiUrl}/webhooks/twilio/inbound?app=<application id>."""
    request = _verified()
    app_id = _query("app")
    if not app_id:
        return Response(400, "text/plain", "the webhook URL needs ?app=<application id>")
    channel = "WHATSAPP" if request.params.get("From", "").startswith("whatsapp:") else "SMS"
    data = data_store(settings.data_table)
    channels = channel_store(settings.data_table)
    relays = relay_queue(settings.relay_queue_url)
    deps = InboundDeps(
        data, channels, channels, store, relays, events, SystemClock(), engagement_store(settings.data_table)
    )
    result = handle_inbound(deps, app_id, channel, request.params)
    twiml = MessagingResponse()
    if result.reply:
        twiml.message(result.reply)
    return Response(200, "text/xml", str(twiml))


@app.exception_handler(Forbidden)
def forbidden(exc: Forbidden) -> Response:
    logger.warning("rejected Twilio webhook", reason=exc.message)
    return Response(403, "text/plain", "Forbidden")


@app.exception_handler(StatusNotApplied)
def not_applied(exc: StatusNotApplied) -> Response:
    logger.warning("status callback not applied; asking Twilio to retry", reason=exc.message)
    return Response(503, "text/plain", exc.message)


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
