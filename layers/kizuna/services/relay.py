"""POST to third parties' webhooks: inbound messages relayed to a service that expects Twilio's webhook (e.g. a
survey platform), and campaigns' CUSTOM deliveries.

A relay is what Twilio sent Kizuna: the same form fields, POSTed as application/x-www-form-urlencoded, with
X-Twilio-Signature computed with the account's auth token for the destination URL (twilio's RequestValidator), so
the destination's own Twilio signature check passes. A CUSTOM delivery is Pinpoint's custom-channel JSON with a
Kizuna-Signature and a Kizuna-Delivery-Id that stays the same on every retry (kizuna.domain.custom_delivery).
A 2xx is done; 408, 429, 5xx and network errors are retried with backoff; any other 4xx is the destination refusing
this request and goes straight to the dead-letter queue with the reason, as does a request still failing after
MAX_ATTEMPTS.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from twilio.request_validator import RequestValidator

from kizuna.domain.custom_delivery import DELIVERY_ID_HEADER, SIGNATURE_HEADER, sign
from kizuna.domain.messages import RelayRequest
from kizuna.ports import RelayQueue

MAX_ATTEMPTS = 6
RETRYABLE_STATUS = frozenset({408, 425, 429})


class RelayHttp(Protocol):
    def post(self, url: str, data: dict[str, str] | str, headers: dict[str, str], timeout_s: float) -> int:
        """POST the form (a dict) or the body (a str); the HTTP status, or raise OSError for a network failure."""
        ...


class RelaySigning(Protocol):
    """The keys requests are signed with, read only when a request needs one (a deployment without Twilio can still
    make CUSTOM deliveries)."""

    def twilio_auth_token(self) -> str: ...

    def webhook_signing_secret(self) -> str: ...


@dataclass(frozen=True)
class RelayOutcome:
    delivered: bool
    retried: bool = False
    dead_lettered: bool = False
    reason: str = ""


def relay_headers(auth_token: str, url: str, params: dict[str, str]) -> dict[str, str]:
    return {
        "X-Twilio-Signature": RequestValidator(auth_token).compute_signature(url, params),
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1 (Kizuna relay)",
        "I-Twilio-Idempotency-Token": params.get("MessageSid", ""),
    }


def custom_delivery_headers(secret: str, request: RelayRequest) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Kizuna custom delivery",
        SIGNATURE_HEADER: sign(secret, request.body),
        DELIVERY_ID_HEADER: request.delivery_id,
    }


def relay(
    request: RelayRequest,
    signing: RelaySigning,
    http: RelayHttp,
    queue: RelayQueue,
    rng: random.Random | None = None,
    timeout_s: float = 10.0,
) -> RelayOutcome:
    try:
        if request.is_custom_delivery:
            headers = custom_delivery_headers(signing.webhook_signing_secret(), request)
            status = http.post(request.url, request.body, headers, timeout_s)
        else:
            headers = relay_headers(signing.twilio_auth_token(), request.url, request.params)
            status = http.post(request.url, request.params, headers, timeout_s)
    except OSError as exc:
        return _retry_or_give_up(request, queue, f"network error: {exc}", rng or random.Random())
    if 200 <= status < 300:
        return RelayOutcome(delivered=True)
    if status >= 500 or status in RETRYABLE_STATUS:
        return _retry_or_give_up(request, queue, f"HTTP {status}", rng or random.Random())
    reason = f"HTTP {status}: the destination refused the request"
    queue.dead_letter(request, reason)
    return RelayOutcome(delivered=False, dead_lettered=True, reason=reason)


def _retry_or_give_up(request: RelayRequest, queue: RelayQueue, reason: str, rng: random.Random) -> RelayOutcome:
    if request.attempt >= MAX_ATTEMPTS:
        final = f"gave up after {request.attempt} attempts; last: {reason}"
        queue.dead_letter(request, final)
        return RelayOutcome(delivered=False, dead_lettered=True, reason=final)
    delay = int(min(900, max(1, rng.uniform(0.5, 1.0) * 5 * 2 ** (request.attempt - 1))))
    queue.enqueue_relays([request.model_copy(update={"attempt": request.attempt + 1})], delay_s=delay)
    return RelayOutcome(delivered=False, retried=True, reason=reason)
