"""Twilio voice for consultations: the number's voice URL, the PIN <Gather>, the <Dial> action and every call
status callback. Signature first: anything unsigned or tampered → 403, nothing stored, no TwiML."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.errors import Forbidden
from kizuna.observability import logger, metrics
from kizuna.services import consultations_calls as calls
from kizuna.services.consultations_twiml import empty
from kizuna.settings import VoiceWebhookSettings
from kizuna.webhooks.twilio_requests import TwilioRequest, from_http_api, verify
from kizuna.wiring import twilio_account
from kizuna.wiring_consultations import consultation_deps

settings = VoiceWebhookSettings()
deps = consultation_deps(settings)
app = APIGatewayHttpResolver()  # the webhooks HTTP API, payload format 2.0 (infra/webhooks_api.py)
PREFIX = "/webhooks/twilio/voice"


def _verified() -> tuple[TwilioRequest, str, dict[str, str]]:
    """The verified request, the voice base URL as Twilio reached it (for action URLs), and the query string."""
    request = from_http_api(app.current_event.raw_event)
    verify(request, twilio_account(settings.twilio_secret_id).auth_token.get_secret_value())
    base = request.url.split("?", 1)[0].rsplit("/", 1)[0]
    return request, base, app.current_event.query_string_parameters or {}


def _twiml(body: str) -> Response:
    return Response(200, "text/xml", body)


@app.post(f"{PREFIX}/incoming")
def incoming() -> Response:
    request, base, _ = _verified()
    return _twiml(calls.incoming_call(deps, request.params, base))


@app.post(f"{PREFIX}/pin")
def pin() -> Response:
    request, base, query = _verified()
    attempt = int(query.get("attempt", "1")) if query.get("attempt", "1").isdigit() else 1
    return _twiml(calls.pin_entered(deps, request.params, base, attempt))


@app.post(f"{PREFIX}/dialed")
def dialed() -> Response:
    request, base, query = _verified()
    return _twiml(calls.dial_ended(deps, query.get("a", ""), query.get("c", ""), request.params, base))


@app.post(f"{PREFIX}/status")
def status() -> Response:
    request, _, query = _verified()
    calls.call_status(deps, query.get("a"), query.get("c"), request.params)
    return _twiml(empty())


@app.exception_handler(Forbidden)
def forbidden(exc: Forbidden) -> Response:
    logger.warning("rejected Twilio voice webhook", reason=exc.message)
    return Response(403, "text/plain", "Forbidden")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
