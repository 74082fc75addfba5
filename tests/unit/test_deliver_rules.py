"""The sender's delivery rules: expiry, quiet-time holds, the daily spend cap, callbacks and events per channel,
and one message's fault staying its own in a batch."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from kizuna.adapters.memory_sending import InMemorySpendLedger
from kizuna.clock import iso
from kizuna.domain.messages import OutboundMessage, WhatsAppTemplate
from kizuna.errors import RetryableProviderError
from kizuna.services.deliver import Deliverer, Outcome


def message(message_id: str = "m1", to: str = "+819012345678", **fields) -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id,
        app_id="app",
        to=to,
        body="ご予約ありがとうございます",
        request_id="r",
        accepted_at="2026-11-01T00:00:00Z",
        **fields,
    )


@pytest.fixture
def spend() -> InMemorySpendLedger:
    return InMemorySpendLedger()


@pytest.fixture
def deliverer(messages, provider, queue, clock, spend) -> Deliverer:
    providers = {"SMS": provider, "VOICE": provider, "WHATSAPP": provider, "EMAIL": provider}
    return Deliverer(
        messages, providers, queue, clock, "https://hooks.example", lease_s=30, spend=spend, rng=random.Random(1)
    )


# -- expiry ---------------------------------------------------------------------------------------------------------


def test_a_message_past_its_not_after_expires_unsent(deliverer, provider, clock):
    expired = message(not_after=iso(clock.now() - timedelta(seconds=1)))

    assert deliverer.deliver(expired) is Outcome.EXPIRED
    assert provider.sent == []


def test_an_expired_message_is_recorded_as_expired(deliverer, messages, clock):
    deliverer.deliver(message(not_after=iso(clock.now() - timedelta(minutes=5))))

    record = messages.get("m1")
    assert record.status == "expired"
    assert "not sent before" in record.reason


def test_an_expired_message_emits_a_failure_event_with_ttl_expired(deliverer, clock):
    deliverer.deliver(message(not_after=iso(clock.now() - timedelta(minutes=5))))

    (event,) = deliverer.events
    assert event["event_type"] == "_SMS.FAILURE"
    assert event["attributes"]["record_status"] == "TTL_EXPIRED"


def test_a_message_not_yet_at_its_not_after_is_sent(deliverer, provider, clock):
    assert deliverer.deliver(message(not_after=iso(clock.now() + timedelta(minutes=5)))) is Outcome.SENT
    assert len(provider.sent) == 1


# -- quiet-time holds -----------------------------------------------------------------------------------------------


def test_a_held_message_is_requeued_for_the_rest_of_its_hold_without_a_record(
    deliverer, provider, messages, queue, clock
):
    held = message(not_before=iso(clock.now() + timedelta(minutes=10)))

    assert deliverer.deliver(held) is Outcome.DEFERRED

    ((requeued, delay),) = queue.messages
    assert requeued.message_id == "m1"
    assert 600 <= delay <= 601  # never earlier than the hold's end
    assert messages.get("m1") is None  # not claimed: the receive count is not spent
    assert provider.sent == []


def test_a_hold_longer_than_sqs_allows_is_requeued_at_the_longest_delay(deliverer, queue, clock):
    deliverer.deliver(message(not_before=iso(clock.now() + timedelta(hours=9))))

    ((_, delay),) = queue.messages
    assert delay == 900


def test_a_message_whose_hold_has_ended_is_sent(deliverer, provider, clock):
    held = message(not_before=iso(clock.now() + timedelta(minutes=10)))
    clock.advance(timedelta(minutes=10, seconds=1))

    assert deliverer.deliver(held) is Outcome.SENT
    assert len(provider.sent) == 1


# -- the daily spend cap --------------------------------------------------------------------------------------------


def test_a_message_that_would_exceed_the_daily_spend_cap_fails_with_spend_cap(deliverer, provider, messages):
    first = message("m1", cost_usd=0.6, spend_cap_usd=1.0)
    second = message("m2", to="+819012345679", cost_usd=0.6, spend_cap_usd=1.0)

    assert deliverer.deliver(first) is Outcome.SENT
    assert deliverer.deliver(second) is Outcome.FAILED

    assert [s["to"] for s in provider.sent] == ["+819012345678"]
    record = messages.get("m2")
    assert (record.status, record.error_code) == ("failed", "SPEND_CAP")


def test_the_spend_cap_resets_the_next_day(deliverer, clock):
    deliverer.deliver(message("m1", cost_usd=0.6, spend_cap_usd=1.0))
    clock.advance(timedelta(days=1))

    assert deliverer.deliver(message("m2", cost_usd=0.6, spend_cap_usd=1.0)) is Outcome.SENT


def test_a_throttled_message_is_counted_once_against_the_spend_cap(deliverer, provider, queue, spend):
    provider.script["+819012345678"] = [RetryableProviderError("20429", "Too Many Requests", retry_after=1)]
    capped = message(cost_usd=0.6, spend_cap_usd=1.0)
    assert deliverer.deliver(capped) is Outcome.DEFERRED

    ((requeued, _),) = queue.messages
    assert deliverer.deliver(requeued) is Outcome.SENT
    assert sum(spend.spent.values()) == pytest.approx(0.6)


# -- channels -------------------------------------------------------------------------------------------------------


def test_a_voice_message_reports_to_the_call_status_webhook(deliverer, provider):
    deliverer.deliver(message(channel="VOICE"))

    assert provider.sent[0]["callback"] == "https://hooks.example/webhooks/twilio/call-status?app=app&m=m1"


def test_an_sms_reports_to_the_message_status_webhook(deliverer, provider):
    deliverer.deliver(message(channel="SMS"))

    assert provider.sent[0]["callback"] == "https://hooks.example/webhooks/twilio/status?app=app&m=m1"


def test_a_whatsapp_message_emits_a_whatsapp_buffered_event(deliverer):
    deliverer.deliver(message(channel="WHATSAPP"))

    assert [e["event_type"] for e in deliverer.events] == ["_WHATSAPP.BUFFERED"]


# -- batches --------------------------------------------------------------------------------------------------------


def test_an_unexpected_provider_error_retries_only_that_message_of_the_batch(deliverer, provider):
    provider.script["+819012345672"] = [RuntimeError("connection pool exploded")]
    batch = [(message(f"m{i}", to=f"+81901234567{i}"), 1) for i in range(1, 4)]

    outcomes = deliverer.deliver_batch(batch)

    assert outcomes == {"m1": Outcome.SENT, "m2": Outcome.RETRY, "m3": Outcome.SENT}
    assert sorted(s["to"] for s in provider.sent) == ["+819012345671", "+819012345673"]


# -- WhatsApp messaging tier ----------------------------------------------------------------------------------------


def whatsapp_template(message_id: str, cap: int = 2) -> OutboundMessage:
    return message(
        message_id,
        to=f"+8190{message_id[-4:]:0>8}",
        channel="WHATSAPP",
        whatsapp_template=WhatsAppTemplate(content_sid="HX" + "0" * 32),
        conversation_cap=cap,
    )


def test_business_initiated_whatsapp_messages_stop_at_the_tier_for_24_hours(deliverer, provider, messages, clock):
    outcomes = [deliverer.deliver(whatsapp_template(f"m{i:04d}")) for i in range(3)]

    assert outcomes == [Outcome.SENT, Outcome.SENT, Outcome.FAILED]
    assert messages.get("m0002").error_code == "WHATSAPP_TIER"
    assert len(provider.sent) == 2
    clock.advance(timedelta(hours=24, seconds=1))
    assert deliverer.deliver(whatsapp_template("m0003")) is Outcome.SENT  # the rolling day has moved on


def test_free_form_whatsapp_replies_inside_the_window_do_not_count_against_the_tier(deliverer, spend):
    reply = message("r1", channel="WHATSAPP")

    assert deliverer.deliver(reply) is Outcome.SENT
    assert spend.conversations == {}
