"""The delivery-record adapter against moto: a status callback keeps Twilio's sid on a record that has none (the
create request timed out, the soak with faults found such records settled without one) and never replaces the sid
a sender recorded; callbacks follow the ladder in DynamoDB too; and a callback whose conditional write loses a race
to a concurrent one (injected between its read and its write, through real boto3) is decided again, never lost."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from moto import mock_aws

from kizuna.adapters.dynamo_messages import DynamoMessageStore
from kizuna.adapters.memory import InMemoryEventSink
from kizuna.clock import VirtualClock
from kizuna.domain.messages import TWILIO_STATUS, Advance, OutboundMessage, ProviderReceipt
from kizuna.errors import StatusNotApplied
from kizuna.services.record_status import record_status
from tests.unit.status_ladder import expected, message_callbacks

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MESSAGE = {
    "message_id": "m1", "app_id": "app", "to": "+819012345678", "body": "こんにちは", "request_id": "r",
    "accepted_at": "2026-12-01T09:00:00Z",
}  # fmt: skip


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client: Any = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="messages",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "message_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
        )
        yield client


@pytest.fixture
def store(ddb) -> DynamoMessageStore:
    return DynamoMessageStore("messages", ddb)


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
