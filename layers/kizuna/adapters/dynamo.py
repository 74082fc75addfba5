"""DynamoDB helpers that respect AWS's real limits (moto is more lenient): 25 items per BatchWriteItem, 100 keys
per BatchGetItem, and unprocessed items retried with backoff until done. `in_parallel` runs independent requests
side by side (a journey wake-up's writes wait on the network far longer than on the CPU)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

WRITE_CHUNK = 25
GET_CHUNK = 100
MAX_ROUNDS = 8


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


T = TypeVar("T")
R = TypeVar("R")


def in_parallel(work: Callable[[T], R], items: Iterable[T], at_once: int) -> list[R]:
    """`work` over `items`, at most `at_once` at a time (boto3 clients are thread-safe); results in item order, and
    the first failure raised once all are done. One item, or `at_once` 1: no thread."""
    items = list(items)
    if at_once <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(at_once, len(items))) as pool:
        futures = [pool.submit(work, item) for item in items]
    return [f.result() for f in futures]


def batch_write(
    client: Any, table: str, puts: Sequence[dict] = (), deletes: Sequence[dict] = (), at_once: int = 1
) -> None:
    """Put and delete items, 25 per request, `at_once` requests side by side (only for items no two of which are
    the same key: DynamoDB does not order requests running together)."""
    requests = [{"PutRequest": {"Item": i}} for i in puts] + [{"DeleteRequest": {"Key": k}} for k in deletes]

    def write(chunk: Sequence[dict]) -> None:
        pending: list[dict] = list(chunk)
        for round_ in range(MAX_ROUNDS):
            response = client.batch_write_item(RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                return
            time.sleep(min(1.0, 0.05 * 2**round_))
        raise RuntimeError(f"BatchWriteItem left {len(pending)} items unprocessed in {table}")

    in_parallel(write, _chunks(requests, WRITE_CHUNK), at_once)


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
