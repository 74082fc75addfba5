"""Stripe webhook requests: verify Stripe-Signature with stripe.Webhook.construct_event (its HMAC and its
5-minute timestamp tolerance) and hand back the event as a plain dict."""

from __future__ import annotations

from typing import Any

# Stripe's default: a signature older than this is refused, which is what stops replays of captured requests.
TOLERANCE_S = 300


class SignatureRejected(Exception):
    pass


def verified_event(payload: bytes, signature: str | None, webhook_secret: str) -> dict[str, Any]:
    import stripe  # only the Stripe webhook pays for the SDK

    if not signature:
        raise SignatureRejected("missing Stripe-Signature")
    try:
        event = stripe.Webhook.construct_event(payload, signature, webhook_secret, tolerance=TOLERANCE_S)
    except stripe.SignatureVerificationError as exc:
        raise SignatureRejected(str(exc)) from None
    except ValueError as exc:  # not JSON
        raise SignatureRejected(f"invalid payload: {exc}") from None
    return event.to_dict()
