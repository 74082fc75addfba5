"""Relaying inbound messages to a third party's Twilio webhook: re-signed, retried with backoff, dead-lettered with
a reason when the destination refuses or keeps failing."""

from __future__ import annotations

import json
import random

import pytest
from twilio.request_validator import RequestValidator

from kizuna.domain.custom_delivery import sign, verify
from kizuna.domain.messages import RelayRequest
from kizuna.services.relay import MAX_ATTEMPTS, relay

TOKEN = "0123456789abcdef0123456789abcdef"
SECRET = "webhook-signing-secret"
URL = "https://survey.example/twilio/sms?survey=42"
FORM = {
    "MessageSid": "SM00000000000000000000000000000001",
    "From": "+819012345678",
    "To": "+815012345678",
    "Body": "回答: 5",
}


class ScriptedHttp:
    """Records each POST and answers with the next scripted status (an exception is raised instead)."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.posts: list[tuple[str, dict[str, str] | str, dict[str, str]]] = []

    def post(self, url: str, form: dict[str, str] | str, headers: dict[str, str], timeout_s: float) -> int:
        self.posts.append((url, form, headers))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Keys:
    """The signing keys; a key that is not configured raises, as reading an unset secret would."""

    def __init__(self, auth_token: str | None = TOKEN, signing_secret: str | None = SECRET) -> None:
        self._token, self._secret = auth_token, signing_secret

    def twilio_auth_token(self) -> str:
        if self._token is None:
            raise LookupError("no Twilio credentials")
        return self._token

    def webhook_signing_secret(self) -> str:
        if self._secret is None:
            raise LookupError("no signing secret")
        return self._secret


class RelayQueue:
    def __init__(self) -> None:
        self.enqueued: list[tuple[RelayRequest, int]] = []
        self.dead: list[tuple[RelayRequest, str]] = []

    def enqueue_relays(self, relays, delay_s: int = 0) -> None:
        self.enqueued.extend((r, delay_s) for r in relays)

    def dead_letter(self, relay: RelayRequest, reason: str) -> None:
        self.dead.append((relay, reason))


@pytest.fixture
def relay_queue() -> RelayQueue:
    return RelayQueue()


def request(attempt: int = 1) -> RelayRequest:
    return RelayRequest(
        url=URL, params=FORM, app_id="app", channel="SMS", received_at="2026-11-01T00:00:00.000Z", attempt=attempt
    )


def forward(http: ScriptedHttp, queue: RelayQueue, attempt: int = 1):
    return relay(request(attempt), Keys(), http, queue, rng=random.Random(3))


# -- the request ----------------------------------------------------------------------------------------------------


def test_the_relay_posts_twilios_form_to_the_destination(relay_queue):
    http = ScriptedHttp(200)

    forward(http, relay_queue)

    ((url, form, headers),) = http.posts
    assert (url, form) == (URL, FORM)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_the_signature_validates_for_the_destination_url_with_the_auth_token(relay_queue):
    http = ScriptedHttp(200)

    forward(http, relay_queue)

    ((url, form, headers),) = http.posts
    assert RequestValidator(TOKEN).validate(url, form, headers["X-Twilio-Signature"])


def test_the_signature_does_not_validate_for_another_url(relay_queue):
    http = ScriptedHttp(200)

    forward(http, relay_queue)

    ((_, form, headers),) = http.posts
    assert not RequestValidator(TOKEN).validate("https://survey.example/other", form, headers["X-Twilio-Signature"])


def test_the_signature_does_not_validate_with_another_token(relay_queue):
    http = ScriptedHttp(200)

    forward(http, relay_queue)

    ((url, form, headers),) = http.posts
    assert not RequestValidator("f" * 32).validate(url, form, headers["X-Twilio-Signature"])


# -- outcomes -------------------------------------------------------------------------------------------------------


def test_a_2xx_is_delivered_and_nothing_is_requeued(relay_queue):
    outcome = forward(ScriptedHttp(200), relay_queue)

    assert outcome.delivered
    assert relay_queue.enqueued == [] and relay_queue.dead == []


@pytest.mark.parametrize("failure", [503, 500, 429, 408, OSError("connection reset")])
def test_a_passing_failure_is_requeued_as_the_next_attempt_with_a_delay(relay_queue, failure):
    outcome = forward(ScriptedHttp(failure), relay_queue, attempt=2)

    assert outcome.retried and not outcome.delivered
    ((again, delay),) = relay_queue.enqueued
    assert again.attempt == 3
    assert again.params == FORM and again.url == URL
    assert delay > 0
    assert relay_queue.dead == []


def test_the_backoff_grows_with_the_attempt(relay_queue):
    for attempt in (1, 4):
        forward(ScriptedHttp(503), relay_queue, attempt=attempt)

    (_, first), (_, fourth) = relay_queue.enqueued
    assert fourth > first


def test_a_relay_still_failing_after_max_attempts_is_dead_lettered_with_the_attempts(relay_queue):
    outcome = forward(ScriptedHttp(503), relay_queue, attempt=MAX_ATTEMPTS)

    assert outcome.dead_lettered
    assert relay_queue.enqueued == []
    ((dead, reason),) = relay_queue.dead
    assert dead.attempt == MAX_ATTEMPTS
    assert f"{MAX_ATTEMPTS} attempts" in reason and "HTTP 503" in reason


def test_a_network_error_on_the_last_attempt_is_dead_lettered_naming_it(relay_queue):
    forward(ScriptedHttp(OSError("timed out")), relay_queue, attempt=MAX_ATTEMPTS)

    ((_, reason),) = relay_queue.dead
    assert "network error" in reason and "timed out" in reason


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_refusal_is_dead_lettered_at_once(relay_queue, status):
    outcome = forward(ScriptedHttp(status), relay_queue)

    assert outcome.dead_lettered and not outcome.retried
    assert relay_queue.enqueued == []
    ((_, reason),) = relay_queue.dead
    assert f"HTTP {status}" in reason


# -- CUSTOM deliveries ------------------------------------------------------------------------------------------------


def custom_delivery(attempt: int = 1) -> RelayRequest:
    body = json.dumps({"Data": "クーポン", "Endpoints": {"ep-1": {"ChannelType": "CUSTOM"}}}, ensure_ascii=False)
    return RelayRequest(
        url="https://hooks.example.com/pinpoint",
        app_id="app",
        channel="CUSTOM",
        received_at="2026-11-01T00:00:00.000Z",
        body=body,
        delivery_id="d" * 32,
        attempt=attempt,
    )


def test_a_custom_delivery_posts_its_json_signed_and_keeps_its_delivery_id_on_retry(relay_queue):
    http = ScriptedHttp(503)
    first = relay(custom_delivery(), Keys(auth_token=None), http, relay_queue, rng=random.Random(3))
    retried, _ = relay_queue.enqueued[0]
    relay(retried, Keys(auth_token=None), ScriptedHttp(200), relay_queue)

    url, body, headers = http.posts[0]
    assert first.retried and (retried.attempt, retried.body, retried.delivery_id) == (2, body, "d" * 32)
    assert url == "https://hooks.example.com/pinpoint" and json.loads(body)["Data"] == "クーポン"
    assert headers["Content-Type"].startswith("application/json") and headers["Kizuna-Delivery-Id"] == "d" * 32
    assert verify(SECRET, headers["Kizuna-Signature"], body)
    assert not verify("another-secret", headers["Kizuna-Signature"], body)
    assert not verify(SECRET, headers["Kizuna-Signature"], body + " ")


def test_a_signature_older_than_five_minutes_is_refused_by_the_receivers_check():
    body = custom_delivery().body
    header = sign(SECRET, body, timestamp=1_800_000_000)

    assert verify(SECRET, header, body, now=1_800_000_000 + 299)
    assert not verify(SECRET, header, body, now=1_800_000_000 + 301)
    assert not verify(SECRET, "v1=deadbeef", body) and not verify(SECRET, "t=x,v1=1", body)
