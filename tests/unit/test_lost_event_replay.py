"""What the soak with faults (tests/faults/test_soak.py) found, one behaviour each.

A handler writes the delivery record, then emits its event; it can die in between (a crash, a Firehose call that
fails for good). The retry found the record already there and emitted nothing, so the event was lost and the KPIs
undercounted what Twilio had sent and delivered. Now a retry emits the event again under the same deterministic id,
which the analytics ledger counts once.

And when Twilio's create request timed out, the status callbacks settled the record before any sender learned the
message's sid: the record had no provider id (its events no provider_message_id, and the reconciler could never ask
about it had the final callback been lost). Callbacks now keep the sid on a record that has none.
"""

from __future__ import annotations

import pytest

from kizuna.domain.messages import OutboundMessage, ProviderReceipt
from kizuna.errors import PermanentProviderError
from kizuna.services.deliver import Deliverer, Outcome
from kizuna.services.record_status import record_status


class DyingSink:
    """An event sink whose next emit fails, as a handler dying after its state change."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.fail_next = False

    def emit(self, events: list[dict]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the function died before its events were out")
        self.events.extend(events)


def message(message_id: str = "m1", to: str = "+819012345678") -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id, app_id="app", to=to, body="ご予約ありがとうございます", request_id="r",
        accepted_at="2026-11-01T00:00:00Z",
    )  # fmt: skip


@pytest.fixture
def queued(messages, clock) -> str:
    messages.claim(message(), clock.now(), 30)
    messages.record_sent("m1", ProviderReceipt("SM1", "queued"), clock.now())
    return "m1"


def test_a_callback_retried_after_its_emit_failed_emits_the_lost_event(messages, clock, queued):
    sink = DyingSink()
    sink.fail_next = True
    with pytest.raises(RuntimeError):
        record_status(messages, sink, clock, queued, {"MessageStatus": "delivered", "MessageSid": "SM1"})
    assert messages.get(queued).status == "delivered" and sink.events == []  # the record moved, the event is lost

    assert record_status(messages, sink, clock, queued, {"MessageStatus": "delivered", "MessageSid": "SM1"}) is False
    assert [e["event_type"] for e in sink.events] == ["_SMS.SUCCESS"]


def test_a_replayed_callback_emits_the_same_event_id_so_it_counts_once(messages, sink, clock, queued):
    record_status(messages, sink, clock, queued, {"MessageStatus": "delivered"})
    record_status(messages, sink, clock, queued, {"MessageStatus": "delivered"})

    assert len({e["event_id"] for e in sink.events}) == 1


def test_a_late_lower_status_still_emits_nothing(messages, sink, clock, queued):
    record_status(messages, sink, clock, queued, {"MessageStatus": "delivered"})
    record_status(messages, sink, clock, queued, {"MessageStatus": "sent"})

    assert [e["event_type"] for e in sink.events] == ["_SMS.SUCCESS"]


def test_callbacks_keep_the_sid_of_a_message_whose_create_timed_out(messages, sink, clock):
    messages.claim(message(), clock.now(), 30)  # the sender's create request timed out: no sid recorded

    record_status(messages, sink, clock, "m1", {"MessageStatus": "sent", "MessageSid": "SM9", "To": message().to})
    record_status(messages, sink, clock, "m1", {"MessageStatus": "delivered", "MessageSid": "SM9"})

    assert messages.get("m1").provider_id == "SM9"
    assert [e["attributes"].get("provider_message_id") for e in sink.events] == ["SM9", "SM9"]


def test_a_callback_never_replaces_the_sid_the_sender_recorded(messages, sink, clock, queued):
    record_status(messages, sink, clock, queued, {"MessageStatus": "sent", "MessageSid": "SM-other"})

    assert messages.get(queued).provider_id == "SM1"


def test_a_redelivery_after_the_sender_died_before_its_emit_emits_the_queued_event_again(
    messages, provider, queue, clock
):
    first = Deliverer(messages, {"SMS": provider}, queue, clock, "https://hooks.example", lease_s=30)
    assert first.deliver(message()) is Outcome.SENT  # record written; the invocation dies before emitting first.events
    sent_event = first.events[0]

    again = Deliverer(messages, {"SMS": provider}, queue, clock, "https://hooks.example", lease_s=30)
    assert again.deliver(message()) is Outcome.ALREADY_DONE
    assert len(provider.sent) == 1  # nothing sent twice
    [replayed] = again.events
    assert (replayed["event_id"], replayed["event_type"]) == (sent_event["event_id"], "_SMS.BUFFERED")
    assert replayed["attributes"]["record_status"] == "PENDING"  # counted as sent (once, by its id)
    assert replayed["attributes"]["provider_message_id"] == provider.sent[0]["sid"]


def test_a_redelivery_of_a_message_refused_at_submission_emits_its_failure_again(messages, provider, queue, clock):
    provider.script[message().to] = [PermanentProviderError("21211", "invalid 'To' number")]
    first = Deliverer(messages, {"SMS": provider}, queue, clock, "https://hooks.example", lease_s=30)
    assert first.deliver(message()) is Outcome.FAILED

    again = Deliverer(messages, {"SMS": provider}, queue, clock, "https://hooks.example", lease_s=30)
    assert again.deliver(message()) is Outcome.ALREADY_DONE
    [replayed] = again.events
    assert replayed["event_id"] == first.events[0]["event_id"]
    assert replayed["event_type"] == "_SMS.FAILURE" and replayed["attributes"]["provider_error_code"] == "21211"
    assert "provider_message_id" not in replayed["attributes"]
