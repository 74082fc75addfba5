"""Journey participants in DynamoDB (moto): the sparse due index answers only waiting participants due by now,
earliest first; a participant that moves on leaves the index; enrolment markers are per run and shard; moves are
written with their counts in one transaction per chunk, refused whole when a participant moved meanwhile."""

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
from kizuna.ports_journeys import Move, ParticipantsMoved

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
