"""The delivery-record adapter against moto: a status callback keeps Twilio's sid on a record that has none (the
create request timed out, the soak with faults found such records settled without one) and never replaces the sid
a sender recorded."""

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
from kizuna.domain.messages import TWILIO_STATUS, OutboundMessage, ProviderReceipt
from kizuna.services.record_status import record_status
from tests.unit.status_ladder import expected, message_callbacks

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MESSAGE = {
    "message_id": "m1", "app_id": "app", "to": "+819012345678", "body": "こんにちは", "request_id": "r",
    "accepted_at": "2026-12-01T09:00:00Z",
}  # fmt: skip


@pytest.fixture
def store() -> Iterator[DynamoMessageStore]:
    with mock_aws():
        ddb: Any = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="messages",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "message_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "message_id", "KeyType": "HASH"}],
        )
        yield DynamoMessageStore("messages", ddb)


def claimed(store: DynamoMessageStore) -> str:
    message = OutboundMessage(
        message_id="m1", app_id="app", to="+819012345678", body="こんにちは", request_id="r",
        accepted_at="2026-12-01T09:00:00Z",
    )  # fmt: skip
    store.claim(message, NOW, 30)
    return message.message_id


def test_a_callback_keeps_the_sid_when_the_record_has_none(store):
    message_id = claimed(store)  # the create request timed out: nothing recorded but the claim

    record = store.advance_status(message_id, "delivered", None, NOW, provider_id="SM9")

    assert record is not None and record.provider_id == "SM9"
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
