"""The reconciler closes messages whose final callback never came, and leaves fresh ones alone."""

from __future__ import annotations

from kizuna.domain.messages import OutboundMessage, ProviderReceipt
from kizuna.services.reconcile import STALE_AFTER, reconcile_messages


def sent_message(messages, provider, clock, message_id: str) -> str:
    message = OutboundMessage(
        message_id=message_id,
        app_id="app",
        to="+819011112222",
        body="hi",
        request_id="r",
        accepted_at="2026-11-01T00:00:00Z",
    )
    messages.claim(message, clock.now(), 30)
    receipt = provider.send(message, None)
    messages.record_sent(message_id, receipt, clock.now())
    return receipt.provider_id


def test_a_message_silent_for_too_long_takes_the_providers_final_status(messages, provider, sink, clock):
    sid = sent_message(messages, provider, clock, "m1")
    provider.statuses[sid] = "delivered"
    clock.advance(STALE_AFTER.total_seconds() + 1)

    report = reconcile_messages(messages, {"SMS": provider}, sink, clock)

    assert report == {"checked": 1, "advanced": 1, "errors": 0}
    assert messages.get("m1").status == "delivered"
    assert [e["event_type"] for e in sink.events] == ["_SMS.SUCCESS"]


def test_a_recent_message_is_not_asked_about(messages, provider, sink, clock):
    sent_message(messages, provider, clock, "m1")
    clock.advance(60)

    assert reconcile_messages(messages, {"SMS": provider}, sink, clock)["checked"] == 0


def test_running_twice_changes_nothing_the_second_time(messages, provider, sink, clock):
    sid = sent_message(messages, provider, clock, "m1")
    provider.statuses[sid] = "undelivered"
    clock.advance(STALE_AFTER.total_seconds() + 1)
    reconcile_messages(messages, {"SMS": provider}, sink, clock)

    assert reconcile_messages(messages, {"SMS": provider}, sink, clock) == {"checked": 0, "advanced": 0, "errors": 0}
    assert len(sink.events) == 1


def test_provider_receipt_errors_are_counted_not_raised(messages, provider, sink, clock):
    from kizuna.errors import RetryableProviderError

    sent_message(messages, provider, clock, "m1")
    clock.advance(STALE_AFTER.total_seconds() + 1)

    def failing(_sid: str) -> ProviderReceipt:
        raise RetryableProviderError("503", "unavailable")

    provider.fetch_status = failing
    assert reconcile_messages(messages, {"SMS": provider}, sink, clock) == {"checked": 1, "advanced": 0, "errors": 1}
