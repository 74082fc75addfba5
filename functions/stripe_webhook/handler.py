"""Stripe webhook events (PaymentIntents of consultations). Signature first, with Stripe's 5-minute tolerance:
a forged, tampered or replayed-late event → 400, nothing read or stored."""

from __future__ import annotations

import base64

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.observability import logger, metrics
from kizuna.services.consultations_stripe import handle_event
from kizuna.settings import StripeWebhookSettings
from kizuna.webhooks.stripe_requests import SignatureRejected, verified_event
from kizuna.wiring_consultations import consultation_deps, stripe_account

settings = StripeWebhookSettings()
deps = consultation_deps(settings)
app = APIGatewayHttpResolver()  # the webhooks HTTP API, payload format 2.0 (infra/webhooks_api.py)


@app.post("/webhooks/stripe/events")
def events() -> Response:
    event = app.current_event
    payload = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode("utf-8")
    secret = stripe_account(settings.stripe_secret_id).webhook_secret.get_secret_value()
    outcome = handle_event(deps, verified_event(payload, event.headers.get("Stripe-Signature"), secret))
    return Response(200, "application/json", f'{{"received": true, "outcome": "{outcome}"}}')


@app.exception_handler(SignatureRejected)
def rejected(exc: SignatureRejected) -> Response:
    logger.warning("rejected Stripe webhook", reason=str(exc))
    return Response(400, "text/plain", "Invalid signature")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
