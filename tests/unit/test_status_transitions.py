"""Properties of the forward-only status ladder (kizuna.services.record_status, kizuna.domain.messages): whatever
the order, duplication or mix of provider callbacks, the record ends at the highest-ranked status it was told of,
each change is one event, a replayed callback re-emits its status's event under the same id, and nothing else
emits. The same properties against the DynamoDB adapter: tests/functional/test_dynamo_message_store.py."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.adapters.memory import InMemoryEventSink, InMemoryMessageStore
from kizuna.clock import VirtualClock
from kizuna.domain.messages import TWILIO_CALL_STATUS, TWILIO_STATUS, OutboundMessage, ProviderReceipt, rank
from kizuna.services.event_stream import event_id
from kizuna.services.record_status import record_call_status, record_status
from tests.unit.status_ladder import call_callbacks, expected, message_callbacks

PROPERTY = settings(max_examples=300, deadline=None)


def sent(channel: str = "SMS") -> tuple[InMemoryMessageStore, InMemoryEventSink, VirtualClock]:
    store, sink, clock = InMemoryMessageStore(), InMemoryEventSink(), VirtualClock()
    message = OutboundMessage(
        message_id="m1", app_id="app", to="+15005550010", body="hi", request_id="r",
        accepted_at="2026-11-01T00:00:00Z", channel=channel,
    )  # fmt: skip
    store.claim(message, clock.now(), 30)
    store.record_sent("m1", ProviderReceipt("SM1", "queued"), clock.now())
    return store, sink, clock


@PROPERTY
@given(message_callbacks)
def test_message_callbacks_follow_the_ladder(callbacks: list[str]) -> None:
    store, sink, clock = sent()
    model = expected("m1", "queued", callbacks, TWILIO_STATUS)

    returned = [record_status(store, sink, clock, "m1", {"MessageStatus": s, "MessageSid": "SM1"}) for s in callbacks]

    assert store.get("m1").status == model.status
    assert rank(model.status) == max(rank("queued"), *(rank(TWILIO_STATUS[s]) for s in callbacks))
    assert returned == model.changed
    assert [e["event_id"] for e in sink.events] == model.emitted
    # One distinct event per change; beyond those, only a replay of the status the record started at (its event
    # was the sender's, and a replay re-emits it under the same id, so it is counted once downstream).
    distinct = {e["event_id"] for e in sink.events} - {event_id("m1", "queued")}
    assert distinct == {event_id("m1", status) for status in model.changes}


@PROPERTY
@given(call_callbacks)
def test_call_callbacks_follow_the_ladder(callbacks: list[str]) -> None:
    store, sink, clock = sent("VOICE")
    model = expected("m1", "queued", callbacks, TWILIO_CALL_STATUS)

    returned = [record_call_status(store, sink, clock, "m1", {"CallStatus": s, "CallSid": "CA1"}) for s in callbacks]

    assert store.get("m1").status == model.status
    assert returned == model.changed
    assert [e["event_id"] for e in sink.events] == model.emitted


@PROPERTY
@given(st.lists(st.sampled_from(["queued", "sending", "sent", "delivered", "read"]), min_size=1, max_size=5))
def test_any_order_of_a_success_path_ends_at_its_top(statuses: list[str]) -> None:
    # Without two different statuses of one rank, arrival order cannot matter: every permutation ends the same.
    ends = set()
    for order in itertools.islice(itertools.permutations(statuses), 24):
        store, sink, clock = sent()
        for status in order:
            record_status(store, sink, clock, "m1", {"MessageStatus": status})
        ends.add(store.get("m1").status)
    top = max((TWILIO_STATUS[s] for s in statuses), key=rank)
    assert ends == {top if rank(top) > rank("queued") else "queued"}


@PROPERTY
@given(message_callbacks, st.data())
def test_replaying_every_callback_again_changes_nothing(callbacks: list[str], data: st.DataObject) -> None:
    store, sink, clock = sent()
    for status in callbacks:
        record_status(store, sink, clock, "m1", {"MessageStatus": status})
    settled, events = store.get("m1"), {e["event_id"] for e in sink.events}

    for status in data.draw(st.permutations(callbacks)):
        assert not record_status(store, sink, clock, "m1", {"MessageStatus": status})

    assert store.get("m1") == settled
    assert {e["event_id"] for e in sink.events} == events  # re-emitted events carry ids already sent
