"""The delivery-record adapter against moto: a status callback keeps Twilio's sid on a record that has none (the
create request timed out, the soak with faults found such records settled without one) and never replaces the sid
a sender recorded; callbacks follow the ladder in DynamoDB too; and a callback whose conditional write loses a race
to a concurrent one (injected between its read and its write, through real boto3) is decided again, never lost.
The reconciler's query (`stale`) reads the keys-only open index, sorted by when a record opened, and checks each
record's status and last write itself: records written before the index changed are found, closed ones never; the
in-memory store answers the same."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from moto import mock_aws

from kizuna.adapters.dynamo_messages import DynamoMessageStore, open_shard
from kizuna.adapters.memory import InMemoryEventSink, InMemoryMessageStore
from kizuna.catalog import MESSAGES_OPEN_INDEX, TABLES
from kizuna.clock import VirtualClock
from kizuna.domain.messages import TWILIO_STATUS, Advance, OutboundMessage, ProviderReceipt
from kizuna.errors import StatusNotApplied
from kizuna.services.reconcile import STALE_AFTER, WAITING
from kizuna.services.record_status import record_status
from tests.unit.status_ladder import expected, message_callbacks

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MESSAGE = {
    "message_id": "m1", "app_id": "app", "to": "+819012345678", "body": "こんにちは", "request_id": "r",
    "accepted_at": "2026-12-01T09:00:00Z",
}  # fmt: skip


def _create_messages_table(ddb: Any) -> None:
    """The messages table as the catalog describes it (infra/storage.py and local mode build it from the same)."""
    spec = TABLES["messages"]
    names = {spec.partition_key} | {k for i in spec.indexes for k in (i.partition_key, i.sort_key) if k}
    ddb.create_table(
        TableName="messages",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in sorted(names)],
        KeySchema=[{"AttributeName": spec.partition_key, "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": i.name,
                "KeySchema": [{"AttributeName": i.partition_key, "KeyType": "HASH"}]
                + ([{"AttributeName": i.sort_key, "KeyType": "RANGE"}] if i.sort_key else []),
                "Projection": {"ProjectionType": i.projection},
            }
            for i in spec.indexes
        ],
    )


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client: Any = boto3.client("dynamodb", region_name="us-east-1")
        _create_messages_table(client)
        yield client


@pytest.fixture
def store(ddb) -> DynamoMessageStore:
    return DynamoMessageStore("messages", ddb)


@pytest.fixture(params=["dynamodb", "memory"])
def either_store(request, ddb) -> DynamoMessageStore | InMemoryMessageStore:
    return DynamoMessageStore("messages", ddb) if request.param == "dynamodb" else InMemoryMessageStore()


def claimed(store: DynamoMessageStore) -> str:
    message = OutboundMessage(
        message_id="m1", app_id="app", to="+819012345678", body="こんにちは", request_id="r",
        accepted_at="2026-12-01T09:00:00Z",
    )  # fmt: skip
    store.claim(message, NOW, 30)
    return message.message_id


def test_a_callback_keeps_the_sid_when_the_record_has_none(store):
    message_id = claimed(store)  # the create request timed out: nothing recorded but the claim

    update = store.advance_status(message_id, "delivered", None, NOW, provider_id="SM9")

    assert update.outcome is Advance.APPLIED and update.record.provider_id == "SM9"
    assert store.get(message_id).provider_id == "SM9"


def test_a_callback_never_replaces_the_sid_the_sender_recorded(store):
    message_id = claimed(store)
    store.record_sent(message_id, ProviderReceipt("SM1", "queued"), NOW)

    store.advance_status(message_id, "sent", None, NOW, provider_id="SM-other")

    assert store.get(message_id).provider_id == "SM1"


def test_the_records_of_many_messages_are_read_in_batches_of_100(store):
    for i in range(130):  # two BatchGetItem requests: 100 keys, then 30
        message = OutboundMessage(
            message_id=f"m{i:03d}", app_id="app", to="+819012345678", body="こんにちは", request_id="r",
            accepted_at="2026-12-01T09:00:00Z",
        )  # fmt: skip
        store.claim(message, NOW, 30)
    store.advance_status("m007", "delivered", None, NOW, provider_id="SM7")

    found = store.get_many([f"m{i:03d}" for i in range(130)] + ["m007", "unknown"])  # a repeat, one never sent

    assert len(found) == 130 and "unknown" not in found
    assert found["m007"].status == "delivered" and found["m008"].status == store.get("m008").status


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(callbacks=message_callbacks)
def test_callbacks_in_any_order_follow_the_ladder_in_dynamodb(store, callbacks):
    # The conditional update (status_rank < the new rank) is what makes the ladder hold under concurrent callbacks;
    # the same reference model as the in-memory property (tests/unit/test_status_transitions.py).
    message_id = f"m-{uuid.uuid4().hex}"
    store.claim(OutboundMessage(**{**MESSAGE, "message_id": message_id}), NOW, 30)
    store.record_sent(message_id, ProviderReceipt("SM1", "queued"), NOW)
    sink = InMemoryEventSink()
    model = expected(message_id, "queued", callbacks, TWILIO_STATUS)

    returned = [record_status(store, sink, VirtualClock(NOW), message_id, {"MessageStatus": s}) for s in callbacks]

    assert store.get(message_id).status == model.status
    assert returned == model.changed
    assert [e["event_id"] for e in sink.events] == model.emitted


# -- races: another callback lands between a callback's read and its conditional write -----------------------------


def racing(ddb: Any, *statuses: str) -> DynamoMessageStore:
    """A store whose UpdateItem calls are each preceded by the next of `statuses`, applied as another webhook
    invocation would (its own client, the same table): the race of two callbacks for one message, made certain."""
    rival = DynamoMessageStore("messages", boto3.client("dynamodb", region_name="us-east-1"))
    pending = list(statuses)

    def before_update(**_: Any) -> None:
        if pending:
            record_status(rival, InMemoryEventSink(), VirtualClock(NOW), "m1", {"MessageStatus": pending.pop(0)})

    client: Any = boto3.client("dynamodb", region_name="us-east-1")
    client.meta.events.register("before-call.dynamodb.UpdateItem", before_update)
    return DynamoMessageStore("messages", client)


def queued(store: DynamoMessageStore) -> None:
    store.claim(OutboundMessage(**MESSAGE), NOW, 30)
    store.record_sent("m1", ProviderReceipt("SM1", "queued"), NOW)


def test_a_delivery_receipt_racing_an_undelivered_one_still_corrects_it(ddb, store):
    queued(store)
    sink = InMemoryEventSink()

    # Read as sent... then undelivered lands first: the write conflicts, is decided again from undelivered.
    store.advance_status("m1", "sent", None, NOW)
    assert record_status(racing(ddb, "undelivered"), sink, VirtualClock(NOW), "m1", {"MessageStatus": "delivered"})

    record = store.get("m1")
    assert (record.status, record.corrected_status) == ("delivered", "undelivered")
    assert [e["event_type"] for e in sink.events] == ["_SMS.SUCCESS"]
    assert sink.events[0]["attributes"]["corrected_status"] == "undelivered"


def test_a_late_sent_racing_a_delivered_one_changes_nothing(ddb, store):
    queued(store)
    sink = InMemoryEventSink()

    assert not record_status(racing(ddb, "delivered"), sink, VirtualClock(NOW), "m1", {"MessageStatus": "sent"})

    assert store.get("m1").status == "delivered" and sink.events == []


def test_a_read_receipt_racing_the_delivery_receipt_emits_delivered_once(ddb, store):
    queued(store)
    sink = InMemoryEventSink()

    assert record_status(racing(ddb, "delivered"), sink, VirtualClock(NOW), "m1", {"MessageStatus": "read"})

    assert store.get("m1").status == "read"
    assert [e["event_type"] for e in sink.events] == ["_SMS.READ"]  # the rival emitted the delivered event


def test_a_record_that_keeps_moving_is_answered_with_a_retry_not_a_guess(ddb, store):
    queued(store)
    # A rival write before every attempt (a sender's claim and release, over and over, would do the same).
    rival_statuses = ["sent"] + ["queued", "sent"] * 10
    client: Any = boto3.client("dynamodb", region_name="us-east-1")
    flips = iter(rival_statuses)

    def before_update(**_: Any) -> None:
        ddb.update_item(
            TableName="messages", Key={"message_id": {"S": "m1"}}, UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": next(flips)}},
        )  # fmt: skip

    client.meta.events.register("before-call.dynamodb.UpdateItem", before_update)

    with pytest.raises(StatusNotApplied):
        record_status(DynamoMessageStore("messages", client), InMemoryEventSink(), VirtualClock(NOW), "m1",
                      {"MessageStatus": "delivered"})  # fmt: skip


def test_a_callback_for_a_message_without_a_record_is_not_answered_as_done(store):
    with pytest.raises(StatusNotApplied):
        record_status(store, InMemoryEventSink(), VirtualClock(NOW), "m1", {"MessageStatus": "delivered"})


# -- the reconciler's query ----------------------------------------------------------------------------------------


def _sent(store, message_id: str, at: datetime) -> None:
    store.claim(OutboundMessage(**{**MESSAGE, "message_id": message_id}), at, 30)
    store.record_sent(message_id, ProviderReceipt(f"SM-{message_id}", "queued"), at)


def _stale(store, now: datetime = NOW, limit: int = 500) -> set[str]:
    return {r.message_id for r in store.stale(WAITING, now - STALE_AFTER, limit)}


def test_an_open_record_written_before_the_index_changed_is_found(store, ddb):
    # Given a record as the previous release left it: sent an hour ago, last written by a "sent" callback 20 minutes
    # ago (that release wrote these attributes; the open index it queried was sorted by updated_at)
    opened, written = NOW - timedelta(hours=1), NOW - timedelta(minutes=20)
    ddb.put_item(
        TableName="messages",
        Item={
            "message_id": {"S": "old"}, "app_id": {"S": "app"}, "channel": {"S": "SMS"}, "status": {"S": "sent"},
            "status_rank": {"N": "5"}, "attempts": {"N": "1"}, "outcome_pending": {"BOOL": False},
            "lease_until": {"N": "1"}, "provider_id": {"S": "SMold"}, "segments": {"N": "1"},
            "first_attempt_at": {"S": opened.isoformat().replace("+00:00", "Z")},
            "updated_at": {"S": written.isoformat().replace("+00:00", "Z")},
            "open_shard": {"S": open_shard("old")}, "expires_at": {"N": "1900000000"},
        },
    )  # fmt: skip
    # When the reconciler asks for records silent for 10 minutes
    found = store.stale(WAITING, NOW - STALE_AFTER, 500)
    # Then the new index has it (DynamoDB backfills a new index from the items already in the table)
    assert [(r.message_id, r.provider_id, r.status) for r in found] == [("old", "SMold", "sent")]


def test_stale_finds_silent_open_records_and_nothing_closed_recent_or_still_sending(either_store):
    store = either_store
    long_ago = NOW - timedelta(hours=2)
    for message_id in ("silent", "delivered", "failed", "called-back-recently"):
        _sent(store, message_id, long_ago)
    store.advance_status("delivered", "delivered", None, long_ago)
    store.record_failed("failed", "30003", "unreachable", long_ago)
    store.advance_status("called-back-recently", "sent", None, NOW - timedelta(minutes=1))
    _sent(store, "recent", NOW - timedelta(minutes=2))
    store.claim(OutboundMessage(**{**MESSAGE, "message_id": "sending"}), long_ago, 30)  # never got to Twilio

    assert _stale(store) == {"silent"}
    # and a while later the one called back is silent too
    assert _stale(store, NOW + timedelta(minutes=15)) == {"silent", "called-back-recently", "recent"}


def test_closed_records_leave_the_open_index(store, ddb):
    # Given two records sent long ago, one of them delivered since
    long_ago = NOW - timedelta(hours=2)
    _sent(store, "open", long_ago)
    _sent(store, "closed", long_ago)
    store.advance_status("closed", "delivered", None, NOW)

    # Then the index holds only the open one, and only its keys: status callbacks have nothing to rewrite in it
    shard = {"open": open_shard("open"), "closed": open_shard("closed")}
    entries = [
        item
        for s in set(shard.values())
        for item in ddb.query(
            TableName="messages",
            IndexName=MESSAGES_OPEN_INDEX,
            KeyConditionExpression="open_shard = :s",
            ExpressionAttributeValues={":s": {"S": s}},
        )["Items"]
    ]
    assert [e["message_id"]["S"] for e in entries] == ["open"]
    assert set(entries[0]) == {"message_id", "open_shard", "first_attempt_at"}
    assert _stale(store) == {"open"}


def test_stale_stops_at_its_limit_across_pages_and_shards(either_store):
    # Given more stale records in one shard than one query page holds (100 keys), and some in other shards
    in_shard_0 = [m for m in (f"m{i:04d}" for i in range(4000)) if open_shard(m) == "open#0"][:230]
    elsewhere = [m for m in (f"x{i:03d}" for i in range(40)) if open_shard(m) != "open#0"]
    for message_id in in_shard_0 + elsewhere:
        _sent(either_store, message_id, NOW - timedelta(hours=1))
    # When the reconciler asks for fewer than there are, then for all of them
    some = either_store.stale(WAITING, NOW - STALE_AFTER, 150)
    every = either_store.stale(WAITING, NOW - STALE_AFTER, 500)
    # Then it gets as many as it asked for, each once, and every one of them when it asks for more
    assert len(some) == 150 and len({r.message_id for r in some}) == 150
    assert sorted(r.message_id for r in every) == sorted(in_shard_0 + elsewhere)
