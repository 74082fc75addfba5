"""Campaign adapters against moto: the campaign store (conditional versions, every version kept, the EVENT index,
paging without leaking keys), the per-endpoint caps under concurrent writers, and the EventBridge Scheduler run
schedules (created, replaced, deleted, aimed at the jobs queue with a dead-letter queue)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.dynamo_campaigns import DynamoCampaignStore
from kizuna.adapters.dynamo_endpoint_caps import DynamoEndpointCaps
from kizuna.adapters.scheduler_runs import EventBridgeRunScheduler, schedule_name
from kizuna.local.moto_dynamodb_lock import serialise_dynamodb_writes

REGION = "ap-northeast-1"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="data",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_table(
            TableName="limits",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_campaign_versions_are_conditional_and_all_kept(ddb):
    store = DynamoCampaignStore("data", ddb)
    doc = {"Id": "c1", "Version": 1, "Name": "秋"}
    assert store.put_campaign("app", doc, None) is True
    assert store.put_campaign("app", doc, None) is False  # exists
    assert store.put_campaign("app", {**doc, "Version": 2, "Name": "冬"}, 1) is True
    assert store.put_campaign("app", {**doc, "Version": 3}, 1) is False  # stale writer
    assert store.get_campaign("app", "c1")["Name"] == "冬"
    assert store.get_campaign("app", "c1", 1)["Name"] == "秋"
    assert [v["Version"] for v in store.list_versions("app", "c1")] == [1, 2]
    store.index_event_campaign("app", "c1", {"Id": "c1", "Version": 2, "EventFilter": {}})
    assert [e["Id"] for e in store.event_campaigns("app")] == ["c1"]
    store.delete_campaign("app", "c1")
    assert store.get_campaign("app", "c1") is None and store.list_versions("app", "c1") == []
    assert store.event_campaigns("app") == []


def test_campaign_pages_carry_an_opaque_token(ddb):
    store = DynamoCampaignStore("data", ddb)
    for i in range(5):
        store.put_campaign("app", {"Id": f"c{i}", "Version": 1}, None)
    store.put_campaign("other", {"Id": "x", "Version": 1}, None)
    first, token = store.list_campaigns("app", 3, None)
    rest, end = store.list_campaigns("app", 3, token)
    assert [c["Id"] for c in first + rest] == [f"c{i}" for i in range(5)] and end is None
    assert "APP#" not in token


def test_caps_hold_under_concurrent_targeting_and_a_repeated_message_counts_once(ddb):
    # moto evaluates a write's condition and writes without a lock (DynamoDB does it atomically): give it local
    # mode's write isolation, so that this tests the caps' conditions and not moto's thread safety (it failed once
    # under load, two admissions passing the same version check).
    serialise_dynamodb_writes()
    caps = DynamoEndpointCaps("limits", ddb)
    limits = {"c#c1#t": 3}
    results: list[bool] = []

    def target(i: int) -> None:
        results.append(caps.admit("app", "ep", f"m{i}", limits, NOW))

    threads = [threading.Thread(target=target, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 3
    admitted = [f"m{i}" for i in range(8) if caps.admit("app", "ep", f"m{i}", limits, NOW)]
    assert len(admitted) == 3  # the three counted are admitted again (a resumed run); no one else is
    assert caps.admit("app", "ep", "later", {"c#c1#d#2026-12-04": 1}, NOW + timedelta(days=1)) is True


@pytest.fixture
def scheduler() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("scheduler", region_name=REGION)
        client.create_schedule_group(Name="kizuna-campaigns")
        yield client


def test_a_run_schedule_is_created_replaced_and_deleted(scheduler):
    runs = EventBridgeRunScheduler(
        scheduler, "kizuna-campaigns", "arn:aws:sqs:ap-northeast-1:123456789012:jobs",
        "arn:aws:iam::123456789012:role/scheduler", "arn:aws:sqs:ap-northeast-1:123456789012:jobs-dlq",
    )  # fmt: skip
    runs.schedule_run("app", "c1", NOW, {"message": {"kind": "campaign_run", "run_key": "a"}})
    runs.schedule_run("app", "c1", NOW + timedelta(days=1), {"message": {"kind": "campaign_run", "run_key": "b"}})
    name = schedule_name("app", "c1")
    assert len(name) <= 64
    schedule = scheduler.get_schedule(Name=name, GroupName="kizuna-campaigns")
    assert schedule["ScheduleExpression"] == "at(2026-12-04T09:00:00)"
    assert schedule["Target"]["Arn"].endswith(":jobs")
    assert schedule["Target"]["DeadLetterConfig"]["Arn"].endswith(":jobs-dlq")
    assert json.loads(schedule["Target"]["Input"])["message"]["run_key"] == "b"
    assert len(scheduler.list_schedules(GroupName="kizuna-campaigns")["Schedules"]) == 1
    runs.cancel_run("app", "c1")
    runs.cancel_run("app", "c1")  # already gone: nothing to do
    assert scheduler.list_schedules(GroupName="kizuna-campaigns")["Schedules"] == []
