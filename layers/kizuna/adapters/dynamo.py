"""DynamoDB helpers that respect AWS's real limits (moto is more lenient): 25 items per BatchWriteItem, 100 keys
per BatchGetItem, and unprocessed items retried with backoff until done."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

WRITE_CHUNK = 25
GET_CHUNK = 100
MAX_ROUNDS = 8


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batch_write(client: Any, table: str, puts: Sequence[dict] = (), deletes: Sequence[dict] = ()) -> None:
    requests = [{"PutRequest": {"Item": i}} for i in puts] + [{"DeleteRequest": {"Key": k}} for k in deletes]
    for chunk in _chunks(requests, WRITE_CHUNK):
        pending: list[dict] = list(chunk)
        for round_ in range(MAX_ROUNDS):
            response = client.batch_write_item(RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                break
            time.sleep(min(1.0, 0.05 * 2**round_))
        else:
            raise RuntimeError(f"BatchWriteItem left {len(pending)} items unprocessed in {table}")


def batch_get(client: Any, table: str, keys: Sequence[dict]) -> list[dict]:
    items: list[dict] = []
    for chunk in _chunks(list(keys), GET_CHUNK):
        pending: dict = {table: {"Keys": list(chunk), "ConsistentRead": True}}
        for round_ in range(MAX_ROUNDS):
            response = client.batch_get_item(RequestItems=pending)
            items.extend(response.get("Responses", {}).get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            time.sleep(min(1.0, 0.05 * 2**round_))
        else:
            raise RuntimeError(f"BatchGetItem left keys unprocessed in {table}")
    return items


def query_all(
    client: Any, table: str, key: str, value: str, projection: str | None = None, start: dict | None = None
) -> Iterator[dict]:
    """Every item of one partition, paged; `start` is an ExclusiveStartKey to resume after."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#k = :v",
        "ExpressionAttributeNames": {"#k": key},
        "ExpressionAttributeValues": {":v": {"S": value}},
    }
    if start:
        kwargs["ExclusiveStartKey"] = start
    if projection:
        kwargs["ProjectionExpression"] = projection
    while True:
        page = client.query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
