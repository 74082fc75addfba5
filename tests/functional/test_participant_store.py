"""Journey participants in DynamoDB (moto): the sparse due index answers only waiting participants due by now,
earliest first; a participant that moves on leaves the index; enrolment markers are per run and shard."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.dynamo_participants import DynamoParticipantStore
from kizuna.catalog import TABLES
from kizuna.domain.journey_steps import Participant

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
