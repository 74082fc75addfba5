"""Erasure's items in the analytics table (kizuna.ports_analytics.ErasureIndex).

Layout (pk, sk):
- `<app>#objects:<day>`, `<object key>`   the identifier filter of one event object (`f`, Binary), written by
                                           analytics_ingest; expires with the object (the stream's expiry + 1 day)
- `<app>#erased`, `<fingerprint>`         a tombstone: an erased identifier's fingerprint and when (`at`, epoch ms);
                                           expires ERASURE_TOMBSTONE_DAYS after the erasure
One Query reads a day's filters (erasure reads them a day at a time) and one the app's tombstones (ingest reads them
once per object, strongly consistent, so an object that arrives after an erasure is always checked against it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from kizuna.adapters.dynamo import batch_write, query_all
from kizuna.adapters.dynamo_aggregates import expires_at
from kizuna.catalog import STREAMS
from kizuna.catalog_analytics import ERASURE_TOMBSTONE_DAYS


def filters_pk(app_id: str, day: date) -> str:
    return f"{app_id}#objects:{day.isoformat()}"


def tombstones_pk(app_id: str) -> str:
    return f"{app_id}#erased"


class DynamoErasureIndex:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    def put_object_filter(self, app_id: str, day: date, key: str, blob: bytes) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": filters_pk(app_id, day)},
                "sk": {"S": key},
                "f": {"B": blob},
                "expires_at": {"N": str(expires_at(day, STREAMS["events"].expire_days + 1))},
            },
        )

    def object_filters(self, app_id: str, day: date) -> dict[str, bytes]:
        return {
            item["sk"]["S"]: bytes(item["f"]["B"])
            for item in query_all(self._ddb, self._table, "pk", filters_pk(app_id, day))
        }

    def has_object_filter(self, app_id: str, day: date, key: str) -> bool:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": filters_pk(app_id, day)}, "sk": {"S": key}},
            ProjectionExpression="pk",
            ConsistentRead=True,
        ).get("Item")
        return item is not None

    def put_tombstones(self, app_id: str, fingerprints: Sequence[str], erased_at: datetime) -> None:
        expiry = int((erased_at + timedelta(days=ERASURE_TOMBSTONE_DAYS)).timestamp())
        at_ms = str(int(erased_at.timestamp() * 1000))
        items = [
            {
                "pk": {"S": tombstones_pk(app_id)},
                "sk": {"S": fp},
                "at": {"N": at_ms},
                "expires_at": {"N": str(expiry)},
            }
            for fp in sorted(set(fingerprints))
        ]
        batch_write(self._ddb, self._table, puts=items)

    def tombstones(self, app_id: str, now: datetime) -> set[str]:
        # TTL deletes lag by up to two days: an expired tombstone still in the table no longer counts.
        page: dict[str, Any] = {}
        found: set[str] = set()
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": tombstones_pk(app_id)}},
            "ProjectionExpression": "sk, expires_at",
            "ConsistentRead": True,
        }
        while True:
            page = self._ddb.query(**kwargs)
            found.update(i["sk"]["S"] for i in page.get("Items", []) if int(i["expires_at"]["N"]) > now.timestamp())
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
