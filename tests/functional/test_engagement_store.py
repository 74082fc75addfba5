"""What journey participants did, in the data table (moto): the latest journey message per endpoint, replies kept once
per MessageSid and at most `keep` per message, the first click only, custom events read by type and time (newest
first), erasure per endpoint (another endpoint whose id shares the prefix keeps its own), DeleteApp's purge, and the
journeys' custom-event index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.dynamo_data import DynamoDataStore
from kizuna.adapters.dynamo_engagement import DynamoEngagementStore
from kizuna.adapters.dynamo_journeys import DynamoJourneyStore
from kizuna.ports_journeys import Asked, EndpointEvent, Reply

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=100)


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="ap-northeast-1")
        client.create_table(
            TableName="data",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.fixture
def store(ddb: Any) -> DynamoEngagementStore:
    return DynamoEngagementStore("data", ddb)


def test_the_latest_journey_message_per_endpoint_and_its_replies_once_per_sid(store):
    store.put_asked(
        "app", [Asked("a", "SMS", "m1", "j1", "ask", NOW), Asked("b#x", "WHATSAPP", "m2", "j1", "ask", NOW)], LATER
    )
    store.put_asked("app", [Asked("a", "SMS", "m3", "j2", "ask", NOW + timedelta(hours=1))], LATER)
    found = store.get_asked("app", ["a", "b#x", "nobody"])
    assert {e: (x.message_id, x.channel) for e, x in found.items()} == {"a": ("m3", "SMS"), "b#x": ("m2", "WHATSAPP")}
    assert found["a"].at == NOW + timedelta(hours=1) and found["a"].journey_id == "j2"

    assert store.add_reply("app", "a", "m3", Reply("SM1", "はい", NOW), LATER, keep=2)
    assert not store.add_reply("app", "a", "m3", Reply("SM1", "はい", NOW), LATER, keep=2)  # the same sid again
    assert store.add_reply("app", "a", "m3", Reply("SM2", "いいえ", NOW), LATER, keep=2)
    assert not store.add_reply("app", "a", "m3", Reply("SM3", "やっぱり", NOW), LATER, keep=2)  # enough kept
    store.add_click("app", "a", "m3", NOW + timedelta(minutes=5), LATER)
    store.add_click("app", "a", "m3", NOW + timedelta(minutes=9), LATER)  # only the first click is kept
    engaged = store.engagement("app", "a", "m3")
    assert [(r.sid, r.body) for r in engaged.replies] == [("SM1", "はい"), ("SM2", "いいえ")]
    assert engaged.clicked_at == NOW + timedelta(minutes=5)
    assert store.engagement("app", "a", "m1").replies == () and store.engagement("other", "a", "m3").replies == ()


def test_custom_events_are_read_by_type_since_a_moment_newest_first(store):
    def event(endpoint: str, event_id: str, kind: str, minutes: int) -> EndpointEvent:
        return EndpointEvent(endpoint, event_id, kind, NOW + timedelta(minutes=minutes), {"sku": "靴"}, {"price": 1.5})

    store.put_events(
        "app",
        [event("a", "e1", "purchase", -10), event("a", "e2", "purchase", 5), event("a", "e3", "purchase", 20),
         event("a", "e4", "purchase#x", 30), event("a#b", "e5", "purchase", 30)],
        LATER,
    )  # fmt: skip
    store.put_events("app", [event("a", "e2", "purchase", 5)], LATER)  # a replayed PutEvents: the same item
    found = store.events_since("app", "a", "purchase", NOW, 10)
    assert [e.event_id for e in found] == ["e3", "e2"]
    assert found[0].attributes == {"sku": "靴"} and found[0].metrics == {"price": 1.5}
    assert [e.event_id for e in store.events_since("app", "a", "purchase", NOW, 1)] == ["e3"]
    assert [e.event_id for e in store.events_since("app", "a", "purchase#x", NOW, 10)] == ["e4"]


def test_erasure_forgets_one_endpoint_and_deleting_the_app_purges_its_shards(ddb, store):
    for endpoint in ("a", "a#b"):
        store.put_asked("app", [Asked(endpoint, "SMS", f"m-{endpoint}", "j1", "ask", NOW)], LATER)
        store.add_reply("app", endpoint, f"m-{endpoint}", Reply("SM" + endpoint, "1", NOW), LATER, keep=10)
        store.put_events("app", [EndpointEvent(endpoint, "e", "purchase", NOW)], LATER)
    store.forget("app", ["a"])
    assert store.get_asked("app", ["a"]) == {} and store.engagement("app", "a", "m-a").replies == ()
    assert store.events_since("app", "a", "purchase", NOW, 10) == []
    assert store.get_asked("app", ["a#b"])  # an id that merely starts the same keeps its own
    assert store.engagement("app", "a#b", "m-a#b").replies
    DynamoDataStore("data", ddb).delete_app("app")
    assert ddb.scan(TableName="data")["Items"] == []


def test_the_custom_event_index_lists_live_journeys_and_goes_with_the_journey(ddb):
    journeys = DynamoJourneyStore("data", ddb)
    journeys.index_event_journey("app", "j1", {"Id": "j1", "EventTypes": ["purchase"], "KeepDays": 3})
    journeys.index_event_journey("app", "j2", {"Id": "j2", "EventTypes": ["購入"], "KeepDays": 8})
    journeys.index_event_journey("app", "j2", None)
    assert journeys.event_journeys("app") == [{"Id": "j1", "EventTypes": ["purchase"], "KeepDays": 3}]
    journeys.delete_journey("app", "j1")
    assert journeys.event_journeys("app") == [] and journeys.event_journeys("other") == []


def test_the_engagement_of_many_messages_is_read_at_once_and_every_pair_is_answered(store):
    store.add_reply("app", "a", "m1", Reply("SM1", "はい", NOW), LATER, keep=2)
    store.add_click("app", "b#x", "m2", NOW, LATER)

    found = store.engagement_many("app", [("a", "m1"), ("b#x", "m2"), ("a", "m9"), ("a", "m1")])

    assert found == {
        ("a", "m1"): store.engagement("app", "a", "m1"),
        ("b#x", "m2"): store.engagement("app", "b#x", "m2"),
        ("a", "m9"): store.engagement("app", "a", "m9"),  # nothing kept: an empty engagement
    }
    assert [r.body for r in found[("a", "m1")].replies] == ["はい"] and found[("b#x", "m2")].clicked_at == NOW
