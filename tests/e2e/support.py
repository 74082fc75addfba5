"""Helpers several e2e modules share (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from kizuna import wiring
from kizuna.local.system import LocalKizuna


def items_of_app(kizuna: LocalKizuna, app_id: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The data table's items that mention the app, once the asynchronous DeleteApp purge has removed them (or
    what is left when `timeout` runs out)."""
    ddb = wiring.aws("dynamodb")
    deadline = time.monotonic() + timeout
    while True:
        pages = ddb.get_paginator("scan").paginate(TableName=kizuna.resources.tables["data"])
        items = [i for i in pages.build_full_result()["Items"] if app_id in i["pk"]["S"] or app_id in i["sk"]["S"]]
        if not items or time.monotonic() > deadline:
            return items
        time.sleep(0.5)


def record(kizuna: LocalKizuna, message_id: str) -> dict[str, Any] | None:
    """A delivery record as stored (DynamoDB item), or None."""
    return (
        wiring.aws("dynamodb")
        .get_item(
            TableName=kizuna.resources.tables["messages"], Key={"message_id": {"S": message_id}}, ConsistentRead=True
        )
        .get("Item")
    )


def wait_for_status(
    kizuna: LocalKizuna, message_ids: list[str], wanted: frozenset[str] | set[str], timeout: float = 60.0
) -> dict[str, str]:
    """Each message's status once all are in `wanted` (or whatever they are when `timeout` runs out)."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = {m: (record(kizuna, m) or {}).get("status", {}).get("S", "") for m in message_ids}
        if all(s in wanted for s in statuses.values()) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.25)


def events_in_stream(kizuna: LocalKizuna) -> list[dict[str, Any]]:
    """Every event emitted so far, as Firehose delivered it to the local events bucket (its buffer flushed first)."""
    kizuna.firehose_buffer.flush()
    s3 = wiring.aws("s3")
    objects = s3.list_objects_v2(Bucket=kizuna.resources.bucket).get("Contents", [])
    lines: list[dict[str, Any]] = []
    for obj in objects:
        body = s3.get_object(Bucket=kizuna.resources.bucket, Key=obj["Key"])["Body"].read().decode()
        lines += [json.loads(line) for line in body.splitlines() if line]
    return lines


def until(condition: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Wait for asynchronous work (callbacks, Stripe's delayed webhooks, a campaign run) to land; a bound on waiting,
    not a timing assertion. Returns the condition's last value."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)
