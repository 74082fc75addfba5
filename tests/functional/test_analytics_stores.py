"""The analytics adapters on moto: ledger claims, chunk transactions (all or nothing, once), KPI reads, app event
stream destinations through an assumed role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.dynamo_aggregates import DynamoAggregateStore
from kizuna.adapters.dynamo_event_ledger import DynamoEventLedger
from kizuna.adapters.event_destinations import AssumedRoleDestinations
from kizuna.clock import VirtualClock
from kizuna.domain.analytics_events import AnalyticsEvent
from kizuna.domain.endpoint_activity import EndpointActivity
from kizuna.domain.sketch import DistinctSketch
from kizuna.ports_analytics import ActivityItem, ChunkCommit, ChunkOutcome, CounterKey, DestinationRefused, SketchKey
from kizuna.services.event_stream import pinpoint_event
from kizuna.services.ingest_event_objects import ingest_object

REGION = "us-east-1"
DAY = date(2026, 11, 20)


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        for table in ("analytics", "ledger"):
            ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
                BillingMode="PAY_PER_REQUEST",
            )
        yield {
            "ddb": ddb,
            "store": DynamoAggregateStore("analytics", ddb),
            "ledger": DynamoEventLedger("ledger", ddb),
        }


def _event(ident: str, endpoint: str = "ep1", event_type: str = "purchase") -> AnalyticsEvent:
    return AnalyticsEvent(
        "app1", ident, event_type, int(datetime(2026, 11, 20, 9, tzinfo=UTC).timestamp() * 1000), endpoint
    )


def test_a_claim_holds_new_events_and_its_own_earlier_claims_but_not_anothers(aws):
    ledger = aws["ledger"]
    assert [e.event_id for e in ledger.claim([_event("a"), _event("b"), _event("a")], "s3://x/1")] == ["a", "b"]
    assert [e.event_id for e in ledger.claim([_event("a"), _event("c")], "s3://x/1")] == ["a", "c"]
    assert [e.event_id for e in ledger.claim([_event("a"), _event("d")], "s3://x/2")] == ["d"]
    item = aws["ddb"].get_item(TableName="ledger", Key={"pk": {"S": "app1#ep1"}, "sk": {"S": "a"}})["Item"]
    assert item["src"]["S"] == "s3://x/1"
    assert json.loads(item["e"]["S"])["t"] == "purchase"
    assert int(item["expires_at"]["N"]) > datetime(2027, 2, 17, tzinfo=UTC).timestamp()


def _commit(marker: str, amount: float = 1.0, activity=None) -> ChunkCommit:
    return ChunkCommit(
        marker,
        2_000_000_000,
        {
            CounterKey("app1", "app", None, DAY): {"events": amount, "sms.price": 645.5},
            CounterKey("app1", "app", "origin", DAY): {"messages.sent|txn": amount},
        },
        activity or {},
    )


def test_a_chunk_commits_once_and_its_counts_are_read_back_by_day(aws):
    store = aws["store"]
    assert store.commit_chunk(_commit("s3://x/1#0", 2)) is ChunkOutcome.APPLIED
    assert store.commit_chunk(_commit("s3://x/1#0", 2)) is ChunkOutcome.ALREADY_APPLIED
    assert store.commit_chunk(_commit("s3://x/1#1", 3)) is ChunkOutcome.APPLIED
    totals = store.counters_between("app1", "app", None, date(2026, 11, 1), date(2026, 11, 30))
    assert totals == {DAY: {"events": 5.0, "sms.price": 1291.0}}
    assert store.counters_between("app1", "app", "origin", DAY, DAY) == {DAY: {"messages.sent|txn": 5.0}}
    assert store.counters_between("app1", "app", "origin", date(2026, 11, 21), date(2026, 11, 30)) == {}
    assert store.reads() == 3


def test_a_stale_activity_state_cancels_the_whole_chunk(aws):
    store = aws["store"]
    key = ("app1", "ep1")
    state = EndpointActivity(first_day=20_000)
    assert store.commit_chunk(_commit("m#0", activity={key: (ActivityItem(state, 1), 0)})) is ChunkOutcome.APPLIED
    assert store.read_activity([key])[key].version == 1
    stale = _commit("m#1", 10, activity={key: (ActivityItem(state, 1), 0)})  # read before the first commit
    assert store.commit_chunk(stale) is ChunkOutcome.ACTIVITY_MOVED
    assert store.counters_between("app1", "app", None, DAY, DAY)[DAY]["events"] == 1.0  # nothing of it was written
    fresh = _commit("m#1", 10, activity={key: (ActivityItem(state, 2), 1)})
    assert store.commit_chunk(fresh) is ChunkOutcome.APPLIED
    assert store.counters_between("app1", "app", None, DAY, DAY)[DAY]["events"] == 11.0


def test_sketch_writes_are_versioned_and_read_per_day_and_value(aws):
    store = aws["store"]
    key = SketchKey("app1", "app", "delivered", "origin", "txn", DAY)
    assert store.put_sketch(key, DistinctSketch.of(["a", "b"]), 0)
    assert not store.put_sketch(key, DistinctSketch.of(["c"]), 0)  # someone wrote it first
    assert store.put_sketch(key, DistinctSketch.of(["a", "b", "c"]), 1)
    other = SketchKey("app1", "app", "delivered", "origin", "campaign", DAY)
    assert store.put_sketch(other, DistinctSketch.of(["z"]), 0)
    found = store.sketches_between("app1", "app", "delivered", "origin", DAY, DAY)
    assert {k: s.estimate() for k, s in found.items()} == {(DAY, "txn"): 3.0, (DAY, "campaign"): 1.0}
    assert store.read_sketches([key])[key][1] == 2


def test_event_stream_documents_and_links_round_trip(aws):
    store = aws["store"]
    stream = {"ApplicationId": "app1", "DestinationStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/s"}
    store.put_event_stream("app1", stream)
    assert store.get_event_stream("app1") == stream
    store.delete_event_stream("app1")
    assert store.get_event_stream("app1") is None
    store.put_links([{"code": "Abc123XYZ0", "url": "https://shop.example.jp/", "created": "2026-11-20T00:00:00.000Z"}])
    assert store.get_link("Abc123XYZ0")["url"] == "https://shop.example.jp/"
    assert store.get_link("nope") is None


def test_an_object_goes_through_claims_and_transactions_on_dynamodb(aws):
    clock = VirtualClock(datetime(2026, 11, 20, 12, tzinfo=UTC))
    now = clock.now()
    lines = [
        json.dumps(
            pinpoint_event(
                "_SMS.SUCCESS", "app1", now, now, {"record_status": "DELIVERED"}, client_id=f"e{i}", ident=f"s{i}"
            )
        ).encode()  # fmt: skip
        for i in range(30)
    ]

    class NoStreams:
        def get_event_stream(self, app_id):
            return None

    for source in ("s3://b/1", "s3://b/1", "s3://b/2"):
        ingest_object(source, lines, aws["ledger"], aws["store"], NoStreams(), None, clock)
    totals = aws["store"].counters_between("app1", "app", None, now.date(), now.date())
    assert totals[now.date()]["sms.delivered"] == 30.0


@pytest.fixture
def destinations() -> Iterator[tuple[AssumedRoleDestinations, Any, Any]]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        kinesis, firehose, s3 = session.client("kinesis"), session.client("firehose"), session.client("s3")
        kinesis.create_stream(StreamName="app-events", ShardCount=1)
        s3.create_bucket(Bucket="app-bucket")
        firehose.create_delivery_stream(
            DeliveryStreamName="app-firehose",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/fh",
                "BucketARN": "arn:aws:s3:::app-bucket",
                "Prefix": "raw/",
            },
        )
        yield AssumedRoleDestinations(session.client("sts"), lambda svc, **kw: session.client(svc, **kw)), kinesis, s3


def test_lines_reach_the_apps_kinesis_stream_and_firehose_as_its_role(destinations):
    forwarder, kinesis, s3 = destinations
    lines = [b'{"event_type":"a"}\n', b'{"event_type":"b"}\n']
    role = "arn:aws:iam::123456789012:role/pinpoint-events"
    forwarder.forward(
        {"DestinationStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/app-events", "RoleArn": role}, lines
    )  # noqa: E501
    shard = kinesis.describe_stream(StreamName="app-events")["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="app-events", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]] == lines
    forwarder.forward(
        {
            "DestinationStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/app-firehose",
            "RoleArn": role,
        },
        lines,
    )  # noqa: E501
    (obj,) = s3.list_objects_v2(Bucket="app-bucket")["Contents"]
    assert s3.get_object(Bucket="app-bucket", Key=obj["Key"])["Body"].read() == b"".join(lines)


def test_a_missing_destination_is_a_refusal_not_a_retry(destinations):
    forwarder, _, _ = destinations
    with pytest.raises(DestinationRefused):
        forwarder.forward(
            {
                "DestinationStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/gone",
                "RoleArn": "arn:aws:iam::123456789012:role/r",
            },  # noqa: E501
            [b"{}\n"],
        )
