"""Forward an inbound message to a third party that expects Twilio's webhook (e.g. a survey platform).

The request is what Twilio sent Kizuna: the same form fields, POSTed as application/x-www-form-urlencoded, with
X-Twilio-Signature computed with the account's auth token for the destination URL (twilio's RequestValidator), so
the destination's own Twilio signature check passes. A 2xx is done; 408, 429, 5xx and network errors are retried
with backoff; any other 4xx is the destination refusing this request and goes straight to the dead-letter queue
with the reason, as does a relay still failing after MAX_ATTEMPTS.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from twilio.request_validator import RequestValidator

from kizuna.domain.messages import RelayRequest
from kizuna.ports import RelayQueue

MAX_ATTEMPTS = 6
RETRYABLE_STATUS = frozenset({408, 425, 429})


class RelayHttp(Protocol):
    def post(self, url: str, form: dict[str, str], headers: dict[str, str], timeout_s: float) -> int:
        """POST the form; the HTTP status, or raise OSError for a network failure."""
        ...


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


def relay(
    request: RelayRequest,
    auth_token: str,
    http: RelayHttp,
    queue: RelayQueue,
    rng: random.Random | None = None,
    timeout_s: float = 10.0,
) -> RelayOutcome:
    try:
        status = http.post(
            request.url, request.params, relay_headers(auth_token, request.url, request.params), timeout_s
        )
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
