"""Stripe PaymentIntents with manual capture: the hold, the capture (partial releases the rest), the release.

The stripe SDK is imported here only, and this module only where a consultation needs it, so the sender's cold
start never pays for it. Every mutating call carries Kizuna's idempotency key (derived from the consultation), and
the services never depend on it: localstripe ignores keys, and Kizuna's own conditional writes keep a capture
single (see services/consultations_settle.py).

Hold expiry: Stripe reports it as latest_charge.payment_method_details.card.capture_before; when that is absent
(localstripe, some payment methods) the documented 7 days for online card payments from the intent's creation
are assumed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import stripe

from kizuna.ports_consultations import PaymentDeclined, PaymentIntentState, PaymentRefused, PaymentUnavailable

DEFAULT_HOLD = timedelta(days=7)


def make_stripe_client(api_key: str, api_base_url: str | None = None, timeout_s: float = 10.0) -> stripe.StripeClient:
    kwargs: dict[str, Any] = {"http_client": stripe.RequestsClient(timeout=timeout_s), "max_network_retries": 2}
    if api_base_url:
        kwargs["base_addresses"] = {"api": api_base_url.rstrip("/")}
    return stripe.StripeClient(api_key, **kwargs)


class StripePayments:
    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client
        self.calls = 0  # Stripe API requests made (the benchmark's "Stripe calls per consultation")

    def place_hold(
        self,
        amount: int,
        currency: str,
        customer: str,
        payment_method: str,
        idempotency_key: str,
        metadata: dict[str, str],
        off_session: bool = False,
    ) -> PaymentIntentState:
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "customer": customer,
            "payment_method": payment_method,
            "capture_method": "manual",
            "confirm": True,
            "metadata": metadata,
            "expand": ["latest_charge"],
        }
        if off_session:
            params["off_session"] = True
        intent = self._call(
            lambda: self._client.v1.payment_intents.create(params, {"idempotency_key": idempotency_key})
        )
        return _state(intent)

    def capture(self, payment_intent_id: str, amount: int, idempotency_key: str) -> PaymentIntentState:
        params = {"amount_to_capture": amount, "expand": ["latest_charge"]}
        options = {"idempotency_key": idempotency_key}
        return _state(self._call(lambda: self._client.v1.payment_intents.capture(payment_intent_id, params, options)))

    def cancel(self, payment_intent_id: str, idempotency_key: str) -> PaymentIntentState:
        params = {"expand": ["latest_charge"]}
        options = {"idempotency_key": idempotency_key}
        return _state(self._call(lambda: self._client.v1.payment_intents.cancel(payment_intent_id, params, options)))

    def retrieve(self, payment_intent_id: str) -> PaymentIntentState:
        params = {"expand": ["latest_charge"]}
        return _state(self._call(lambda: self._client.v1.payment_intents.retrieve(payment_intent_id, params)))

    def _call(self, request: Any) -> Any:
        self.calls += 1
        try:
            return request()
        except stripe.CardError as exc:
            raise PaymentDeclined(exc.code or "card_declined", exc.user_message or "The card was declined.") from exc
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
            raise PaymentUnavailable(str(exc)) from exc
        except stripe.StripeError as exc:  # invalid request, idempotency conflict, authentication
            raise PaymentRefused(f"{type(exc).__name__}: {exc.user_message or exc}") from exc


def _state(intent: Any) -> PaymentIntentState:
    data = intent.to_dict()
    charge = data.get("latest_charge") if isinstance(data.get("latest_charge"), dict) else None
    captured = data.get("amount_received")
    if captured is None:  # localstripe: the charge's captured amount is its amount less what was refunded
        captured = (charge["amount"] - charge.get("amount_refunded", 0)) if charge and charge.get("captured") else 0
    if data.get("status") not in ("succeeded",):
        captured = 0
    card = ((charge or {}).get("payment_method_details") or {}).get("card") or {}
    capture_before = card.get("capture_before")
    expires = (
        datetime.fromtimestamp(capture_before, UTC)
        if capture_before
        else datetime.fromtimestamp(data["created"], UTC) + DEFAULT_HOLD
    )
    return PaymentIntentState(
        id=data["id"],
        status=data["status"],
        amount=int(data["amount"]),
        amount_captured=int(captured),
        currency=data["currency"],
        capture_before=expires,
        cancellation_reason=data.get("cancellation_reason"),
    )
