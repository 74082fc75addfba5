"""Properties of the status transitions (the ladder in kizuna.domain.messages, applied by
kizuna.services.record_status): whatever the order, duplication or mix of provider callbacks, the record ends where
the ladder's table says, each change emits its events once (a move to read emits delivered too), a replayed callback
re-emits its events under the same ids, nothing else emits, and the analytics counts say what the record says: a
message is counted failed or delivered, never both. The same properties against the DynamoDB adapter:
tests/functional/test_dynamo_message_store.py."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.adapters.memory import InMemoryEventSink, InMemoryMessageStore
from kizuna.adapters.memory_analytics import (
    InMemoryAggregateStore,
    InMemoryEventDestinations,
    InMemoryEventLedger,
    InMemoryEventStreamStore,
)
from kizuna.clock import VirtualClock
from kizuna.domain.messages import TWILIO_CALL_STATUS, TWILIO_STATUS, OutboundMessage, ProviderReceipt
from kizuna.services.event_stream import event_id
from kizuna.services.ingest_event_objects import ingest_object
from kizuna.services.record_status import record_call_status, record_status
from tests.unit.status_ladder import DELIVERED, FAILURES, call_callbacks, expected, message_callbacks

PROPERTY = settings(max_examples=300, deadline=None)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
ERROR_CODES = {"undelivered": "30003", "failed": "30008"}


def sent(channel: str = "SMS") -> tuple[InMemoryMessageStore, InMemoryEventSink, VirtualClock]:
    store, sink, clock = InMemoryMessageStore(), InMemoryEventSink(), VirtualClock(NOW)
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
    assert returned == model.changed
    assert [e["event_id"] for e in sink.events] == model.emitted
    # One distinct event per status reached; beyond those, only a replay of the status the record started at (its
    # event was the sender's, and a replay re-emits it under the same id, so it is counted once downstream).
    distinct = {e["event_id"] for e in sink.events} - {event_id("m1", "queued")}
    assert distinct == {event_id("m1", status) for status in model.reached}


@PROPERTY
@given(message_callbacks)
def test_an_undelivered_never_outlasts_evidence_of_delivery(callbacks: list[str]) -> None:
    # Stated without the model: whatever the order, once the first final outcome is not failed/expired, a delivered
    # or read anywhere in the callbacks wins, and read wins over delivered.
    store, sink, clock = sent()
    for status in callbacks:
        record_status(store, sink, clock, "m1", {"MessageStatus": status})
    finals = [TWILIO_STATUS[s] for s in callbacks if TWILIO_STATUS[s] in FAILURES | DELIVERED]
    evidence = {TWILIO_STATUS[s] for s in callbacks} & DELIVERED
    if finals and finals[0] not in ("failed", "expired") and evidence:
        assert store.get("m1").status == ("read" if "read" in evidence else "delivered")
    elif finals:
        assert store.get("m1").status == finals[0]


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
@given(st.lists(st.sampled_from(["queued", "sending", "sent", "delivered", "read", "undelivered"]), min_size=1,
                max_size=5))  # fmt: skip
def test_any_order_of_a_path_without_contradictions_ends_at_its_top(statuses: list[str]) -> None:
    # Without two statuses of one rank before a final outcome, or two final outcomes that contradict (delivered
    # and failed), arrival order cannot matter: every permutation ends the same.
    ends = set()
    for order in itertools.islice(itertools.permutations(statuses), 24):
        store, sink, clock = sent()
        for status in order:
            record_status(store, sink, clock, "m1", {"MessageStatus": status})
        ends.add(store.get("m1").status)
    top = next((s for s in ("read", "delivered", "undelivered", "sent") if s in statuses), "queued")
    assert ends == {top}


@PROPERTY
@given(st.sampled_from(["failed", "expired"]), message_callbacks)
def test_a_failure_kizuna_decided_is_final(outcome: str, callbacks: list[str]) -> None:
    store, sink, clock = sent()
    store.record_failed("m1", outcome, "decided by the sender", clock.now(), status=outcome)
    settled = store.get("m1")

    returned = [record_status(store, sink, clock, "m1", {"MessageStatus": s}) for s in callbacks]

    assert store.get("m1") == settled and not any(returned)
    assert sink.events == [] or {e["event_type"] for e in sink.events} == {"_SMS.FAILURE"}  # only replays of it


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


@settings(max_examples=150, deadline=None)
@given(message_callbacks, st.data())
def test_the_counts_say_what_the_record_says(callbacks: list[str], data: st.DataObject) -> None:
    # Every event the callbacks emitted, in any order and some twice (Firehose and the sender's retries), through
    # the analytics pipeline: the message is counted delivered, or failed under its error, exactly as its record
    # ends, never both.
    store, sink, clock = sent()
    for status in callbacks:
        code = ERROR_CODES.get(TWILIO_STATUS[status], "")
        record_status(store, sink, clock, "m1", {"MessageStatus": status, "ErrorCode": code})
    lines = [json.dumps(e).encode() for e in sink.events]
    lines = data.draw(st.permutations(lines + lines[: data.draw(st.integers(0, len(lines)))]))
    aggregates = InMemoryAggregateStore()
    ingest_object("s3://stream/1", lines, InMemoryEventLedger(), aggregates, InMemoryEventStreamStore(),
                  InMemoryEventDestinations(), clock)  # fmt: skip

    def total(measure: str, dim: str | None = None) -> dict[str, float]:
        found: dict[str, float] = {}
        for key, values in aggregates.counters.items():
            if key.scope == "app" and key.dim == dim:
                for name, value in values.items():
                    if name == measure or name.startswith(f"{measure}|"):
                        found[name] = found.get(name, 0.0) + value
        return {k: v for k, v in found.items() if v}

    record = store.get("m1")
    assert total("messages.delivered") == ({"messages.delivered": 1.0} if record.status in DELIVERED else {})
    failed = {"sms.failed": 1.0} if record.status in FAILURES else {}
    assert total("sms.failed") == failed
    expected_errors = {f"sms.failed|{record.error_code}": 1.0} if failed else {}
    assert total("sms.failed", dim="error") == expected_errors
