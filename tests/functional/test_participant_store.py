"""Journey participants in DynamoDB (moto): the sparse due index answers only waiting participants due by now,
earliest first; a participant that moves on leaves the index; enrolment markers are per run and shard; moves are
written with their counts in one transaction per chunk, refused whole when a participant moved meanwhile; refused
entries are counted once per key; the run's wake record is swapped only from the version read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.dynamo_participants import DynamoParticipantStore
from kizuna.catalog import TABLES
from kizuna.domain.journey_steps import Participant
from kizuna.ports_journeys import Enrolment, EntryStep, LoopState, Move, ParticipantsMoved

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[Any]:
    spec = TABLES["journeys"]
    [index] = spec.indexes
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="ap-northeast-1")
        ddb.create_table(
            TableName="journeys",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"}
                for name in ("pk", "sk", index.partition_key, index.sort_key)
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": index.name,
                    "KeySchema": [
                        {"AttributeName": index.partition_key, "KeyType": "HASH"},
                        {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoParticipantStore("journeys", ddb)


def waiting(endpoint_id: str, at: datetime) -> Participant:
    return Participant(endpoint_id, "wait", NOW, "WAITING", at, {"hello": "j123"}, ("hello",))


def test_only_due_participants_are_read_and_a_moved_one_leaves_the_index(store):
    store.put_many(
        "app",
        "j1",
        3,
        [
            waiting("a", NOW + timedelta(hours=2)),
            waiting("b", NOW - timedelta(minutes=1)),
            waiting("c", NOW),
            Participant("d", None, NOW, "FINISHED"),
        ],
    )
    store.put_many("app", "j1", 4, [waiting("x", NOW - timedelta(days=1))])  # another shard
    assert [p.endpoint_id for p in store.due("app", "j1", 3, NOW, 10)] == ["b", "c"]
    assert store.next_wake("app", "j1", 3) == NOW - timedelta(minutes=1)
    [b] = store.get_many("app", "j1", 3, ["b"]).values()
    assert b.messages == {"hello": "j123"} and b.path == ("hello",)
    store.put_many("app", "j1", 3, [Participant("b", None, NOW, "FINISHED", path=("hello", "wait"))])
    assert [p.endpoint_id for p in store.due("app", "j1", 3, NOW, 10)] == ["c"]
    assert len(store.all_participants("app", "j1", 3)) == 4


def test_enrolment_is_marked_per_run_and_shard(store):
    assert not store.enrolled("app", "j1", "r1", 0)
    store.mark_enrolled("app", "j1", "r1", 0)
    assert store.enrolled("app", "j1", "r1", 0) and not store.enrolled("app", "j1", "r2", 0)
    assert store.all_participants("app", "j1", 0) == []  # the marker is not a participant
    assert store.enrolment("app", "j1", "r1", 0) == Enrolment()
    store.mark_enrolled("app", "j1", "r1", 0, Enrolment(NOW, 3))  # a refresh: when, and the segment Version read
    assert store.enrolment("app", "j1", "r1", 0) == Enrolment(NOW, 3) and store.enrolment("app", "j1", "r2", 0) is None


def test_a_reentered_participant_keeps_its_entries_and_the_keys_that_entered_it(store):
    again = Participant("e1", "hello", NOW, rev=0, entries=2, entered_at=NOW, entered_by=("event:e1:a", "event:e1:b"))
    store.record_moves("app", "j1", "r1", 2, [Move(again, {"ENDPOINT_ENTERED": 1})], NOW)
    [read] = store.get_many("app", "j1", 2, ["e1"]).values()
    assert (read.entries, read.entered_at, read.entered_by, read.rev) == (2, NOW, ("event:e1:a", "event:e1:b"), 1)


def test_a_participant_waiting_for_its_local_start_is_due_then_and_keeps_it(store):
    starts = NOW + timedelta(hours=5)  # LocalTime: the journey opens later in its zone
    scheduled = Participant("e1", "hello", starts, "WAITING", starts, entered_at=NOW, starts_at=starts)
    store.record_moves("app", "j1", "r1", 2, [Move(scheduled, {"ENDPOINT_ENTERED": 1})], NOW)
    assert store.due("app", "j1", 2, NOW, 10) == [] and store.next_wake("app", "j1", 2) == starts
    [read] = store.due("app", "j1", 2, starts, 10)
    assert read == replace(scheduled, rev=1)


def test_refused_entries_are_counted_once_per_key(store):
    refused = {"ACTIVE_ENDPOINT_REJECTED": 1}
    assert store.count_once("app", "j1", "r1", 4, "event:e1:b", refused, NOW) is True
    assert store.count_once("app", "j1", "r1", 4, "event:e1:b", refused, NOW) is False  # the SDK's retry
    assert store.count_once("app", "j1", "r1", 4, "refresh:x", {"REENTRY_CAP_EXCEEDED": 5}, NOW) is True
    assert store.tally("app", "j1", "r1").counts == {"ACTIVE_ENDPOINT_REJECTED": 1, "REENTRY_CAP_EXCEEDED": 5}
    assert store.all_participants("app", "j1", 4) == []


def test_the_runs_wake_record_is_swapped_only_from_the_version_read(store):
    empty = store.loop_state("app", "j1", "r1")
    assert empty == LoopState()
    planned = LoopState(wake_at=NOW + timedelta(days=1), by="2026-12-03T09:00:00.000Z#0")
    assert store.swap_loop_state("app", "j1", "r1", empty, planned) is True
    assert store.swap_loop_state("app", "j1", "r1", empty, LoopState(wake_at=NOW)) is False  # someone wrote first
    read = store.loop_state("app", "j1", "r1")
    assert (read.wake_at, read.by, read.want, read.version) == (planned.wake_at, planned.by, None, 1)
    wished = LoopState(read.wake_at, read.by, NOW + timedelta(hours=1))
    assert store.swap_loop_state("app", "j1", "r1", read, wished) is True
    assert store.loop_state("app", "j1", "r1").want == NOW + timedelta(hours=1)
    assert store.swap_loop_state("app", "j1", "r1", read, LoopState()) is False  # a stale version
    assert store.loop_state("app", "j1", "r2") == LoopState()


def test_moves_are_written_with_their_counts_and_a_stale_move_is_refused_whole(store):
    fresh = [Participant(f"e{i:03d}", "hello", NOW) for i in range(150)]  # two transactions: 99 and 51
    moved = [replace(p, activity="wait", status="WAITING", wake_at=NOW + timedelta(days=1)) for p in fresh]
    store.record_moves("app", "j1", "r1", 5, [Move(p, {"ENDPOINT_ENTERED": 1, "hello|SUCCESS": 1}) for p in moved], NOW)
    store.record_moves("app", "j1", "r1", 6, [Move(Participant("z", None, NOW, "FINISHED"), {"ENDPOINT_LEFT": 1})], NOW)
    tally = store.tally("app", "j1", "r1")
    assert tally.counts == {"ENDPOINT_ENTERED": 150, "hello|SUCCESS": 150, "ENDPOINT_LEFT": 1}
    assert tally.updated_at == NOW and store.tally("app", "j1", "r2").counts == {}
    due = store.due("app", "j1", 5, NOW + timedelta(days=1), 500)
    assert len(due) == 150 and {p.rev for p in due} == {1}
    later = NOW + timedelta(days=1)
    done = [replace(p, activity=None, status="FINISHED", wake_at=None) for p in due[:3]]
    store.record_moves("app", "j1", "r1", 5, [Move(p, {"wait|COMPLETED": 1}) for p in done], later)
    # A second mover holding the same (stale) states: nothing of its chunk is written or counted.
    stale = [Move(replace(p, activity=None, status="FINISHED"), {"wait|COMPLETED": 1}) for p in due[1:5]]
    with pytest.raises(ParticipantsMoved):
        store.record_moves("app", "j1", "r1", 5, stale, later + timedelta(minutes=1))
    tally = store.tally("app", "j1", "r1")
    assert tally.counts["wait|COMPLETED"] == 3 and tally.updated_at == later
    assert len(store.due("app", "j1", 5, later, 500)) == 147  # e003 and e004 still wait
    with pytest.raises(ParticipantsMoved):  # entering twice
        store.record_moves("app", "j1", "r1", 5, [Move(fresh[10], {"ENDPOINT_ENTERED": 1})], later)
    assert store.tally("app", "j1", "r1").counts["ENDPOINT_ENTERED"] == 150
    assert len(store.all_participants("app", "j1", 5)) == 150  # the tally is not a participant


def test_an_entry_batch_is_written_with_its_counts_and_marker_and_a_stale_batch_is_refused_whole(store):
    entrants = [Move(Participant(f"e{i:02d}", "hello", NOW), {"ENDPOINT_ENTERED": 1}) for i in range(98)]
    first = EntryStep({"ENDPOINT_PRODUCED": 100, "ENDPOINT_OPT_OUT": 2}, None, Enrolment(NOW, 3, "segment", "e99"))
    store.record_entry("app", "j1", "r1", 7, entrants, first, NOW)  # 98 puts + the tally + the marker: 100 actions
    marker = store.enrolment("app", "j1", "r1", 7)
    assert marker == Enrolment(NOW, 3, "segment", "e99", rev=1)
    # Another wake-up that read the marker before this batch was written takes the same batch: refused whole.
    again = [Move(Participant("f00", "hello", NOW), {"ENDPOINT_ENTERED": 1})]
    with pytest.raises(ParticipantsMoved):
        store.record_entry("app", "j1", "r1", 7, again, first, NOW)
    # The last step: no one left to enter, the entry is done (no pending key), still conditional on the marker.
    store.record_entry("app", "j1", "r1", 7, [], EntryStep({}, marker, Enrolment(NOW, 3)), NOW)
    assert store.enrolment("app", "j1", "r1", 7) == Enrolment(NOW, 3, rev=2)
    counts = store.tally("app", "j1", "r1").counts
    assert counts == {"ENDPOINT_ENTERED": 98, "ENDPOINT_PRODUCED": 100, "ENDPOINT_OPT_OUT": 2}
    assert store.get_many("app", "j1", 7, ["f00"]) == {}
    with pytest.raises(ValueError, match="at most 98"):
        store.record_entry("app", "j1", "r1", 8, [*entrants, *again], first, NOW)
