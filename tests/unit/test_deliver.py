"""The sender's exactly-once rules, with in-memory fakes of the store, queue and provider."""

from __future__ import annotations

import random

import pytest

from kizuna.domain.messages import OutboundMessage
from kizuna.errors import PermanentProviderError, RetryableProviderError
from kizuna.services.deliver import Deliverer, Outcome, backoff_s


def message(to: str = "+15005550010", message_id: str = "m1") -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id,
        app_id="app",
        to=to,
        body="こんにちは",
        request_id="r",
        accepted_at="2026-11-01T00:00:00Z",
    )


@pytest.fixture
def deliverer(messages, provider, queue, clock) -> Deliverer:
    return Deliverer(
        messages, {"SMS": provider}, queue, clock, "https://hooks.example", lease_s=30, rng=random.Random(1)
    )


def test_first_delivery_sends_once_and_records_the_provider_id(deliverer, provider, messages):
    assert deliverer.deliver(message()) is Outcome.SENT

    assert len(provider.sent) == 1
    assert provider.sent[0]["callback"] == "https://hooks.example/webhooks/twilio/status?app=app&m=m1"
    record = messages.get("m1")
    assert record.status == "queued" and record.provider_id == provider.sent[0]["sid"]
    assert [e["event_type"] for e in deliverer.events] == ["_SMS.BUFFERED"]


def test_a_second_delivery_of_the_same_message_sends_nothing(deliverer, provider):
    deliverer.deliver(message())
    assert deliverer.deliver(message()) is Outcome.ALREADY_DONE
    assert len(provider.sent) == 1


def test_a_delivery_while_another_sender_holds_the_lease_is_deferred_not_sent(
    deliverer, provider, messages, queue, clock
):
    messages.claim(message(), clock.now(), lease_s=30)  # another sender claimed it and is mid-call

    assert deliverer.deliver(message()) is Outcome.DEFERRED
    assert provider.sent == []
    assert messages.get("m1").status == "sending"  # the other sender's claim is untouched
    assert len(queue.messages) == 1


def test_crash_after_the_provider_accepted_is_resolved_by_lookup_not_by_sending_again(
    deliverer, provider, messages, clock
):
    # An earlier attempt claimed, the provider took the message, then the sender died before recording it.
    messages.claim(message(), clock.now(), lease_s=30)
    provider.send(message(), None)
    clock.advance(31)  # the lease has expired; SQS redelivers

    assert deliverer.deliver(message()) is Outcome.ALREADY_DONE
    assert len(provider.sent) == 1
    assert messages.get("m1").provider_id == provider.sent[0]["sid"]


def test_crash_before_the_provider_call_sends_after_the_lookup_finds_nothing(deliverer, provider, messages, clock):
    messages.claim(message(), clock.now(), lease_s=30)
    clock.advance(31)

    assert deliverer.deliver(message()) is Outcome.SENT
    assert len(provider.sent) == 1


def test_permanent_provider_error_is_recorded_as_failed_and_never_retried(deliverer, provider, messages, queue):
    provider.script["+15005550001"] = [PermanentProviderError("21211", "Invalid 'To' Phone Number")]

    assert deliverer.deliver(message("+15005550001")) is Outcome.FAILED
    record = messages.get("m1")
    assert (record.status, record.error_code) == ("failed", "21211")
    assert queue.messages == []
    assert deliverer.events[0]["event_type"] == "_SMS.FAILURE"
    assert deliverer.events[0]["attributes"]["record_status"] == "INVALID"


def test_throttling_defers_with_a_delay_and_releases_the_claim(deliverer, provider, messages, queue):
    provider.script["+15005550010"] = [RetryableProviderError("20429", "Too Many Requests", retry_after=2)]

    assert deliverer.deliver(message()) is Outcome.DEFERRED
    assert messages.get("m1").status == "accepted"
    ((requeued, delay),) = queue.messages
    assert requeued.message_id == "m1" and delay >= 2

    assert deliverer.deliver(requeued) is Outcome.SENT  # no lookup needed: the provider said no
    assert len(provider.sent) == 1


def test_timeout_keeps_the_outcome_pending_so_the_retry_looks_first(deliverer, provider, messages, queue, clock):
    provider.script["+15005550010"] = [RetryableProviderError("timeout", "read timed out")]
    assert deliverer.deliver(message()) is Outcome.DEFERRED
    assert messages.get("m1").outcome_pending
    clock.advance(31)

    assert deliverer.deliver(message()) is Outcome.SENT
    assert len(provider.sent) == 1


def test_backoff_honours_the_hint_and_the_sqs_limit():
    rng = random.Random(7)
    assert all(backoff_s(a, 5, rng) >= 5 for a in range(20))
    assert all(backoff_s(a, 0, rng) <= 900 for a in range(50))
