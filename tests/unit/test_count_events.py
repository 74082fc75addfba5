"""Counting S3 objects of events into the aggregates: exactly once, whatever is replayed, duplicated, redelivered or
cut short by a crash. Every count is checked against a plain recount of the distinct events."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kizuna.adapters.memory_analytics import (
    InMemoryAggregateStore,
    InMemoryEventDestinations,
    InMemoryEventLedger,
    InMemoryEventStreamStore,
    RecordingTriggers,
    SimulatedCrash,
)
from kizuna.clock import VirtualClock
from kizuna.domain.analytics_events import StreamEvent, from_stream
from kizuna.domain.analytics_rules import origin
from kizuna.services.count_events import MAX_TRANSACTION_ITEMS, cut_chunks
from kizuna.services.event_stream import pinpoint_event
from kizuna.services.ingest_event_objects import ingest_object

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
TYPES = {
    "buffered": ("_SMS.BUFFERED", {"record_status": "PENDING"}),
    "delivered": ("_SMS.SUCCESS", {"record_status": "DELIVERED"}),
    "failed": (
        "_SMS.FAILURE",
        {"record_status": "UNREACHABLE", "provider_error_code": "30003", "provider_message_id": "SM1"},
    ),  # noqa: E501
    "refused": ("_SMS.FAILURE", {"record_status": "INVALID", "provider_error_code": "21211"}),
    "custom": ("purchase", {}),
}


class Pipeline:
    def __init__(self) -> None:
        self.clock = VirtualClock(NOW)
        self.ledger = InMemoryEventLedger()
        self.store = InMemoryAggregateStore()
        self.streams = InMemoryEventStreamStore()
        self.destinations = InMemoryEventDestinations()
        self.triggers = RecordingTriggers()

    def ingest(self, source: str, lines: list[bytes]):
        return ingest_object(
            source, lines, self.ledger, self.store, self.streams, self.destinations, self.clock, [self.triggers]
        )

    def total(self, measure: str, day=None, scope="app", dim=None) -> float:
        return sum(
            values.get(measure, 0.0)
            for key, values in self.store.counters.items()
            if key.scope == scope and key.dim == dim and (day is None or key.day == day)
        )


def _line(kind: str, ident: str, endpoint: str, at: datetime, campaign: str | None = None) -> bytes:
    event_type, attributes = TYPES[kind]
    attributes = {**attributes, "message_id": ident, "destination_phone_number": "+819012345678"}
    if campaign:
        attributes["campaign_id"] = campaign
    event = pinpoint_event(event_type, "app1", at, at, attributes, client_id=endpoint, ident=ident)
    return json.dumps(event).encode()


def _recount(lines: list[bytes]) -> Counter:
    """Distinct events (by app, endpoint, event id) counted the simplest way: the reference the store must match."""
    seen, counts = set(), Counter()
    for line in lines:
        event = from_stream(StreamEvent.model_validate(json.loads(line)))
        key = (event.app_id, event.client_id, event.event_id)
        if key in seen:
            continue
        seen.add(key)
        counts["events"] += 1
        counts[f"type:{event.event_type}"] += 1
        if event.event_type == "_SMS.BUFFERED" or (
            event.event_type == "_SMS.FAILURE" and "provider_message_id" not in event.attributes
        ):
            counts["sms.sent"] += 1
            counts[f"origin:{origin(event)}"] += 1
    return counts


def test_an_object_counted_twice_and_a_replay_in_another_object_count_once():
    p = Pipeline()
    lines = [_line("buffered", f"b{i}", f"ep{i}", NOW) for i in range(20)]
    first = p.ingest("s3://events/one", lines)
    again = p.ingest("s3://events/one", lines)  # SQS redelivered the notification
    replay = p.ingest("s3://events/two", lines[:5] + [_line("delivered", "d1", "ep1", NOW)])  # replay + one new
    assert (first.events, again.events, replay.events, replay.duplicates) == (20, 20, 1, 5)
    assert again.counting.chunks_already_counted == again.counting.chunks == 1
    assert p.total("events") == 21
    assert p.total("sms.sent") == 20
    assert p.total("sms.delivered") == 1


def test_a_crash_between_chunks_is_finished_by_the_redelivery_without_counting_twice():
    p = Pipeline()
    # many campaigns in one object: each touches its own scope's items, so the object needs several chunks
    lines = [_line("buffered", f"b{i}", f"ep{i}", NOW, campaign=f"c{i % 120}") for i in range(240)]
    p.store.crash_after_commits = 1
    with pytest.raises(SimulatedCrash):
        p.ingest("s3://events/big", lines)
    assert 0 < p.total("events") < 240  # one chunk was committed before the crash
    report = p.ingest("s3://events/big", lines)
    assert report.counting.chunks >= 3 and report.counting.chunks_already_counted == 1
    assert p.total("events") == 240
    assert sum(p.total("sms.sent", scope=f"c:c{n}") for n in range(120)) == 240


def test_chunks_fit_a_transaction_and_are_cut_the_same_way_every_time():
    lines = [_line("custom", f"e{i}", f"ep{i}", NOW - timedelta(days=i % 20)) for i in range(400)]
    events = [from_stream(StreamEvent.model_validate(json.loads(line))) for line in lines]
    chunks = cut_chunks(events)
    assert len(chunks) > 1
    assert chunks == cut_chunks(list(events))
    p = Pipeline()
    p.ingest("s3://events/days", lines)
    assert p.store.transaction_items / p.store.transactions <= MAX_TRANSACTION_ITEMS
    assert p.total("events") == 400
    assert p.total("endpoints.new") == 400  # app events: each endpoint's first day


def test_events_older_than_the_window_and_lines_that_are_not_events_are_skipped():
    p = Pipeline()
    lines = [
        _line("buffered", "old", "ep1", NOW - timedelta(days=90)),  # day 91 counting today: outside
        _line("buffered", "edge", "ep1", NOW - timedelta(days=89)),  # the 90th day: inside
        b'{"event_type": "x"}',
        b"not json at all",
    ]
    report = p.ingest("s3://events/mixed", lines)
    assert (report.events, report.outside_window, report.malformed) == (1, 1, 2)
    assert p.total("events") == 1


def test_concurrent_activity_changes_are_re_read_not_overwritten():
    p = Pipeline()
    p.ingest("s3://events/a", [_line("custom", "a1", "ep1", NOW - timedelta(days=7))])
    stale_read = p.store.read_activity
    calls = {"n": 0}

    def read_then_race(keys):
        found = stale_read(keys)
        calls["n"] += 1
        if calls["n"] == 1:  # another object counts the same endpoint between our read and our commit
            p.ingest("s3://events/b", [_line("custom", "b1", "ep1", NOW - timedelta(days=3))])
        return found

    p.store.read_activity = read_then_race
    p.ingest("s3://events/c", [_line("custom", "c1", "ep1", NOW)])
    cohort = (NOW - timedelta(days=7)).date()
    assert p.total("endpoints.new") == 1
    assert p.total("endpoints.retained.7", day=cohort) == 1
    assert calls["n"] >= 2


def test_each_app_destination_gets_its_lines_and_a_refusing_one_holds_nothing_back():
    p = Pipeline()
    p.streams.put_event_stream("app1", {"DestinationStreamArn": "arn:aws:kinesis:us-east-1:1:stream/s", "RoleArn": "r"})
    lines = [_line("buffered", f"b{i}", f"ep{i}", NOW) for i in range(3)]
    assert p.ingest("s3://events/x", lines).forwarded == 3
    assert len(p.destinations.received["arn:aws:kinesis:us-east-1:1:stream/s"]) == 3
    p.destinations.refuse.add("arn:aws:kinesis:us-east-1:1:stream/s")
    report = p.ingest("s3://events/y", [_line("delivered", "d0", "ep0", NOW)])
    assert report.refused == 1 and p.total("sms.delivered") == 1


def test_triggers_hear_each_held_event_after_its_counts_are_committed():
    p = Pipeline()
    seen_counts = []
    p.triggers.on_events = lambda events: seen_counts.append((len(events), p.total("events")))
    p.ingest("s3://events/t", [_line("custom", f"e{i}", "ep1", NOW) for i in range(4)])
    assert seen_counts == [(4, 4.0)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(TYPES)),
            st.integers(0, 30),  # event id (a repeat is a replay)
            st.integers(0, 6),  # endpoint
            st.integers(0, 3),  # days ago
            st.sampled_from([None, "c1", "c2"]),
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(1, 4),  # objects the lines are spread over
    st.integers(0, 6),  # crash before this many commits (0: none)
)
def test_counts_equal_a_recount_of_distinct_events(specs, objects, crash):
    p = Pipeline()
    lines = [
        _line(kind, f"id{ident}", f"ep{ep}", NOW - timedelta(days=ago, minutes=ident), campaign)
        for kind, ident, ep, ago, campaign in specs
    ]
    parts = [lines[i::objects] for i in range(objects)]
    if crash:
        p.store.crash_after_commits = crash
    for index, part in enumerate(parts):
        for _ in range(2):  # a crash is followed by the redelivery; a clean run is redelivered anyway
            try:
                p.ingest(f"s3://events/{index}", part)
            except SimulatedCrash:
                continue
    # An event id's first arrival is the one that counts: recount in the order the objects were ingested.
    expected = _recount([line for part in parts for line in part])
    assert p.total("events") == expected["events"]
    assert p.total("sms.sent") == expected["sms.sent"]
    by_type = Counter()
    by_origin = Counter()
    for key, values in p.store.counters.items():
        if key.scope == "app" and key.dim == "event_type":
            by_type.update({f"type:{a.split('|')[1]}": v for a, v in values.items() if a.startswith("events|")})
        if key.scope == "app" and key.dim == "origin":
            by_origin.update(
                {f"origin:{a.split('|')[1]}": v for a, v in values.items() if a.startswith("messages.sent|")}
            )  # noqa: E501
    assert dict(by_type) == {k: v for k, v in expected.items() if k.startswith("type:")}
    assert dict(by_origin) == {k: v for k, v in expected.items() if k.startswith("origin:")}
