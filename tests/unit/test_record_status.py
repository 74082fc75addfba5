"""Status callbacks follow the ladder (kizuna.domain.messages); replays and late statuses change nothing (a replay
emits its event again under the same id, tests/unit/test_lost_event_replay.py; a late status emits nothing), and
one that should change a record but cannot is not answered as done."""

from __future__ import annotations

import pytest

from kizuna.domain.messages import OutboundMessage, ProviderReceipt
from kizuna.errors import StatusNotApplied
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


def test_a_callback_for_a_message_without_a_record_is_not_answered_as_done(messages, sink, clock):
    with pytest.raises(StatusNotApplied):  # the webhook answers 503: Twilio posts it again
        record_status(messages, sink, clock, "never-sent", {"MessageStatus": "delivered"})
    assert sink.events == []


def test_a_late_delivery_receipt_corrects_undelivered_and_takes_the_failure_back(messages, sink, clock, sent):
    record_status(messages, sink, clock, sent, {"MessageStatus": "undelivered", "ErrorCode": "30003"})

    assert record_status(messages, sink, clock, sent, {"MessageStatus": "delivered"})

    record = messages.get(sent)
    assert (record.status, record.error_code) == ("delivered", None)
    assert (record.corrected_status, record.corrected_error_code) == ("undelivered", "30003")
    failure, success = sink.events
    assert (failure["event_type"], success["event_type"]) == ("_SMS.FAILURE", "_SMS.SUCCESS")
    assert success["attributes"]["corrected_status"] == "undelivered"
    assert success["attributes"]["corrected_error"] == failure["attributes"]["provider_error_code"] == "30003"


@pytest.mark.parametrize("outcome", ["failed", "expired"])
@pytest.mark.parametrize("late", ["delivered", "read"])
def test_a_failure_kizuna_decided_stands_against_a_later_delivery(messages, sink, clock, outcome, late):
    m = OutboundMessage(
        message_id="m2", app_id="app", to="+15005550010", body="hi", request_id="r", accepted_at="2026-11-01T00:00:00Z"
    )
    messages.claim(m, clock.now(), 30)
    messages.record_failed("m2", outcome, "not sent in time", clock.now(), status=outcome)

    assert not record_status(messages, sink, clock, "m2", {"MessageStatus": late})
    assert messages.get("m2").status == outcome and sink.events == []


def test_a_read_receipt_before_the_delivery_receipt_counts_the_message_delivered(messages, sink, clock, sent):
    assert record_status(messages, sink, clock, sent, {"MessageStatus": "read"})
    assert not record_status(messages, sink, clock, sent, {"MessageStatus": "delivered"})  # late now

    assert messages.get(sent).status == "read"
    assert [e["event_type"] for e in sink.events] == ["_SMS.SUCCESS", "_SMS.READ"]
