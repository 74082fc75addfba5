"""Status callbacks move records forward only; replays and late statuses change nothing (a replay emits its event
again under the same id, tests/unit/test_lost_event_replay.py; a late status emits nothing)."""

from __future__ import annotations

import pytest

from kizuna.domain.messages import OutboundMessage, ProviderReceipt
from kizuna.services.record_status import record_status


@pytest.fixture
def sent(messages, clock) -> str:
    m = OutboundMessage(
        message_id="m1", app_id="app", to="+15005550010", body="hi", request_id="r", accepted_at="2026-11-01T00:00:00Z"
    )
    messages.claim(m, clock.now(), 30)
    messages.record_sent("m1", ProviderReceipt("SM1", "queued"), clock.now())
    return "m1"


def test_delivered_then_late_sent_stays_delivered(messages, sink, clock, sent):
    assert record_status(messages, sink, clock, sent, {"MessageStatus": "delivered"})
    assert not record_status(messages, sink, clock, sent, {"MessageStatus": "sent"})

    assert messages.get(sent).status == "delivered"
    assert [e["event_type"] for e in sink.events] == ["_SMS.SUCCESS"]


def test_a_replayed_callback_changes_nothing(messages, sink, clock, sent):
    record_status(messages, sink, clock, sent, {"MessageStatus": "sent"})
    assert not record_status(messages, sink, clock, sent, {"MessageStatus": "sent"})
    assert messages.get(sent).status == "sent"
    assert len({e["event_id"] for e in sink.events}) == 1  # re-emitted with the same id: counted once downstream


def test_failure_keeps_the_error_code_and_maps_it_to_pinpoint_record_status(messages, sink, clock, sent):
    record_status(messages, sink, clock, sent, {"MessageStatus": "undelivered", "ErrorCode": "30003"})
    assert messages.get(sent).error_code == "30003"
    assert sink.events[0]["attributes"]["record_status"] == "UNREACHABLE"


def test_unknown_status_is_ignored_explicitly(messages, sink, clock, sent):
    assert not record_status(messages, sink, clock, sent, {"MessageStatus": "teleported"})
    assert messages.get(sent).status == "queued" and sink.events == []


@pytest.mark.parametrize("order", [["sent", "delivered"], ["delivered", "sent"], ["queued", "delivered", "sent"]])
def test_callbacks_in_any_order_end_delivered(messages, sink, clock, sent, order):
    for status in order:
        record_status(messages, sink, clock, sent, {"MessageStatus": status})
    assert messages.get(sent).status == "delivered"
