"""The analytics table: day aggregates, endpoint activity, app event stream destinations and tracked links.

Layout (pk, sk):
- `<app>#<scope>`, `d:<day>`                          the scope's day totals: one Number attribute per measure
- `<app>#<scope>`, `g:<dim>:<day>`                    one dimension's breakdown: attributes "<measure>|<value>"
- `<app>#<scope>`, `u:<sketch>:<dim>:<day>:<value>`   a distinct-endpoint sketch (`b`, Binary) and its version `v`
- `<app>#ep:<endpoint>`, `activity`                  the endpoint's sessions/retention state (JSON) and version
- `<app>#app`, `eventstream`                         the PutEventStream document
- `link#<code>`, `link`                              a tracked link
Scopes: `app`, `c:<campaign>`, `j:<journey>`. Counter and sketch items expire (TTL) 91 days after their day; a
KPI query never asks for days outside the 90-day window, so TTL's deletion lag never shows.

- `chunk#<object>#<n>`, `chunk`                      the marker of a counted chunk of an S3 object (20 days)
- `<app>#objects:<day>`, `<key>` and `<app>#erased`, `<fingerprint>`: erasure's filters and tombstones
  (adapters/dynamo_erasure.py)
Counting writes one transaction per chunk of an S3 object (services/count_events.py): the chunk's marker, an ADD per
counter item, the changed activity states; all or nothing. All of them are in this table, so a transaction never
touches the (much larger) ledger.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from kizuna.adapters.dynamo import batch_get, batch_write
from kizuna.catalog_analytics import ANALYTICS_RETENTION_DAYS, LINK_RETENTION_DAYS
from kizuna.domain.endpoint_activity import EndpointActivity, day_of_number
from kizuna.domain.sketch import DistinctSketch
from kizuna.ports_analytics import ActivityItem, ChunkCommit, ChunkOutcome, CounterKey, SketchKey

TRANSACTION_ATTEMPTS = 8
_RESERVED = frozenset({"pk", "sk", "expires_at"})
_EPOCH = date(1970, 1, 1)


def counter_sk(dim: str | None, day: date) -> str:
    return f"d:{day.isoformat()}" if dim is None else f"g:{dim}:{day.isoformat()}"


def sketch_sk(sketch: str, dim: str | None, day: date, value: str) -> str:
    return f"u:{sketch}:{dim or '_'}:{day.isoformat()}:{value}"


def expires_at(day: date, days: int = ANALYTICS_RETENTION_DAYS + 1) -> int:
    return ((day - _EPOCH).days + days) * 86_400


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else format(Decimal(repr(value)), "f")


class DynamoAggregateStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client
        self._reads = 0
        self._lock = threading.Lock()

    # -- counting --------------------------------------------------------------------------------------------

    def _counter_key(self, key: CounterKey) -> dict[str, Any]:
        return {"pk": {"S": f"{key.app_id}#{key.scope}"}, "sk": {"S": counter_sk(key.dim, key.day)}}

    def commit_chunk(self, commit: ChunkCommit) -> ChunkOutcome:
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": {"S": f"chunk#{commit.marker}"},
                        "sk": {"S": "chunk"},
                        "expires_at": {"N": str(commit.marker_expires_at)},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        actions += [self._counter_action(key, deltas) for key, deltas in sorted(commit.counters.items())]
        activity = sorted(commit.activity.items())
        actions += [self._activity_action(app, client, item, expected) for (app, client), (item, expected) in activity]
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                self._ddb.transact_write_items(TransactItems=actions)
                return ChunkOutcome.APPLIED
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                codes = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if codes and codes[0] == "ConditionalCheckFailed":
                return ChunkOutcome.ALREADY_APPLIED
            if "ConditionalCheckFailed" in codes[1 + len(commit.counters) :]:
                return ChunkOutcome.ACTIVITY_MOVED
            if not {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"} & set(codes):
                raise RuntimeError(f"transaction cancelled: {codes}")
            time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))  # another object counts into the same items
        raise RuntimeError(f"chunk {commit.marker} kept conflicting with other transactions")

    def _counter_action(self, key: CounterKey, deltas: dict[str, float]) -> dict[str, Any]:
        names = {"#x": "expires_at"}
        values: dict[str, Any] = {":x": {"N": str(expires_at(key.day))}}
        adds = []
        for i, (name, amount) in enumerate(sorted(deltas.items())):
            names[f"#n{i}"], values[f":n{i}"] = name, {"N": _number(amount)}
            adds.append(f"#n{i} :n{i}")
        expression = f"ADD {', '.join(adds)} SET #x = :x" if adds else "SET #x = :x"
        return {
            "Update": {
                "TableName": self._table,
                "Key": self._counter_key(key),
                "UpdateExpression": expression,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _activity_action(self, app_id: str, client_id: str, item: ActivityItem, expected: int) -> dict[str, Any]:
        last = item.state.last_active_day
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                "pk": {"S": f"{app_id}#ep:{client_id}"},
                "sk": {"S": "activity"},
                "s": {"S": json.dumps(item.state.to_dict(), separators=(",", ":"))},
                "v": {"N": str(item.version)},
                "expires_at": {"N": str(expires_at(day_of_number(last)) if last is not None else 0)},
            },
        }
        if expected:
            put["ConditionExpression"] = "v = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected)}}
        else:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": put}

    def read_activity(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ActivityItem]:
        by_pk = {f"{app}#ep:{client}": (app, client) for app, client in keys}
        items = batch_get(self._ddb, self._table, [{"pk": {"S": pk}, "sk": {"S": "activity"}} for pk in by_pk])
        return {
            by_pk[item["pk"]["S"]]: ActivityItem(
                EndpointActivity.from_dict(json.loads(item["s"]["S"])), int(item["v"]["N"])
            )
            for item in items
        }

    def counters_between(
        self, app_id: str, scope: str, dim: str | None, first: date, last: date
    ) -> dict[date, dict[str, float]]:
        result: dict[date, dict[str, float]] = {}
        for item in self._query(f"{app_id}#{scope}", counter_sk(dim, first), counter_sk(dim, last)):
            day = date.fromisoformat(item["sk"]["S"].rsplit(":", 1)[1])
            result[day] = {
                name: float(value["N"]) for name, value in item.items() if name not in _RESERVED and "N" in value
            }
        return result

    # -- sketches --------------------------------------------------------------------------------------------

    def _sketch_key(self, key: SketchKey) -> dict[str, Any]:
        return {
            "pk": {"S": f"{key.app_id}#{key.scope}"},
            "sk": {"S": sketch_sk(key.sketch, key.dim, key.day, key.value)},
        }

    def read_sketches(self, keys: Sequence[SketchKey]) -> dict[SketchKey, tuple[DistinctSketch, int]]:
        by_key = {(f"{k.app_id}#{k.scope}", sketch_sk(k.sketch, k.dim, k.day, k.value)): k for k in keys}
        found = {}
        for item in batch_get(self._ddb, self._table, [self._sketch_key(k) for k in keys]):
            key = by_key[(item["pk"]["S"], item["sk"]["S"])]
            found[key] = (DistinctSketch.from_bytes(item["b"]["B"]), int(item["v"]["N"]))
        return found

    def put_sketch(self, key: SketchKey, sketch: DistinctSketch, expected_version: int) -> bool:
        item = {
            **self._sketch_key(key),
            "b": {"B": sketch.to_bytes()},
            "v": {"N": str(expected_version + 1)},
            "expires_at": {"N": str(expires_at(key.day))},
        }
        if expected_version:
            condition, values = "v = :v", {":v": {"N": str(expected_version)}}
        else:
            condition, values = "attribute_not_exists(pk)", None
        return self._conditional_put(item, condition, values)

    def sketches_between(
        self, app_id: str, scope: str, sketch: str, dim: str | None, first: date, last: date
    ) -> dict[tuple[date, str], DistinctSketch]:
        result = {}
        low, high = sketch_sk(sketch, dim, first, ""), sketch_sk(sketch, dim, last, "\U0010ffff")
        for item in self._query(f"{app_id}#{scope}", low, high):
            _, _, _, day, value = item["sk"]["S"].split(":", 4)
            result[(date.fromisoformat(day), value)] = DistinctSketch.from_bytes(item["b"]["B"])
        return result

    # -- event stream destinations ---------------------------------------------------------------------------

    def get_event_stream(self, app_id: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": f"{app_id}#app"}, "sk": {"S": "eventstream"}}, ConsistentRead=True
        ).get("Item")
        return json.loads(item["doc"]["S"]) if item else None

    def put_event_stream(self, app_id: str, stream: dict[str, Any]) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={"pk": {"S": f"{app_id}#app"}, "sk": {"S": "eventstream"}, "doc": {"S": json.dumps(stream)}},
        )

    def delete_event_stream(self, app_id: str) -> None:
        self._ddb.delete_item(TableName=self._table, Key={"pk": {"S": f"{app_id}#app"}, "sk": {"S": "eventstream"}})

    # -- tracked links ---------------------------------------------------------------------------------------

    def put_links(self, links: Sequence[dict[str, Any]]) -> None:
        puts = []
        for link in links:
            created = date.fromisoformat(link["created"][:10])
            puts.append(
                {
                    "pk": {"S": f"link#{link['code']}"},
                    "sk": {"S": "link"},
                    "doc": {"S": json.dumps(link, ensure_ascii=False)},
                    "expires_at": {"N": str(expires_at(created, LINK_RETENTION_DAYS))},
                }
            )
        batch_write(self._ddb, self._table, puts)

    def get_link(self, code: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(TableName=self._table, Key={"pk": {"S": f"link#{code}"}, "sk": {"S": "link"}}).get(
            "Item"
        )
        return json.loads(item["doc"]["S"]) if item else None

    # -- plumbing --------------------------------------------------------------------------------------------

    def reads(self) -> int:
        return self._reads

    def _query(self, pk: str, low: str, high: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":p": {"S": pk}, ":lo": {"S": low}, ":hi": {"S": high}},
        }
        items: list[dict[str, Any]] = []
        while True:
            page = self._ddb.query(**kwargs)
            with self._lock:
                self._reads += 1
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _conditional_put(self, item: dict[str, Any], condition: str, values: dict[str, Any] | None) -> bool:
        kwargs: dict[str, Any] = {"TableName": self._table, "Item": item, "ConditionExpression": condition}
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            self._ddb.put_item(**kwargs)
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True


__all__ = ["DynamoAggregateStore", "counter_sk", "expires_at", "sketch_sk"]
