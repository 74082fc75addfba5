"""Local mode for billed consultations: localstripe in-process, the Stripe secret pointing at it, the sandbox
Twilio number's voice URL and status callback pointing at the voice webhook, and Stripe's webhook at Kizuna."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

from kizuna import wiring
from kizuna.catalog import FUNCTIONS
from kizuna.local.runtime_gateway import HTTP, Route
from kizuna.local.sandbox_twilio import VALID_FROM

if TYPE_CHECKING:
    from kizuna.local.system import LocalKizuna

VOICE_PREFIX = "/webhooks/twilio/voice"
STRIPE_EVENTS = "/webhooks/stripe/events"


def routes(kizuna: LocalKizuna) -> list[Route]:
    invoke = kizuna._invoke
    return [
        Route(
            f"{VOICE_PREFIX}/",
            invoke("voice_webhook"),
            "voice_webhook",
            FUNCTIONS["voice_webhook"].timeout_s,
            payload=HTTP,
        ),
        Route(
            "/webhooks/stripe/",
            invoke("stripe_webhook"),
            "stripe_webhook",
            FUNCTIONS["stripe_webhook"].timeout_s,
            payload=HTTP,
        ),
    ]


def start_stripe(kizuna: LocalKizuna) -> None:
    """Start localstripe and put its credentials into the Stripe secret, as an operator would Stripe's."""
    kizuna.stripe.start()
    kizuna.stripe_webhook_secret = "whsec_" + secrets.token_hex(16)
    secret = {
        "api_key": kizuna.stripe.api_key,
        "webhook_secret": kizuna.stripe_webhook_secret,
        "api_base_url": kizuna.stripe.base_url,
    }
    wiring.aws("secretsmanager").put_secret_value(
        SecretId=kizuna.resources.secrets["stripe"], SecretString=json.dumps(secret)
    )


def point_providers_at(kizuna: LocalKizuna, base_url: str) -> None:
    """What the operator sets in Twilio's console and Stripe's dashboard, done for the sandboxes."""
    kizuna.sandbox.calls.configure_number(
        VALID_FROM, voice_url=f"{base_url}{VOICE_PREFIX}/incoming", status_callback=f"{base_url}{VOICE_PREFIX}/status"
    )
    kizuna.stripe.register_webhook(f"{base_url}{STRIPE_EVENTS}", kizuna.stripe_webhook_secret)
