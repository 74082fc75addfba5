"""Segments in the data table.

Layout (pk / sk), next to dynamo_data's:
- "APP#<app>" / "SEG#<segment>"                    the latest SegmentResponse (doc)
- "APP#<app>" / "SEGV#<segment>#<version:06d>"     every version (doc), in version order
- "SEGM#<app>#<segment>#<shard>" / "<endpoint id>" an imported segment's members, spread like the endpoints
                                                   (catalog.ENDPOINT_SHARDS partitions by crc32 of the id)

The SEG# items are the list of segments, so purge_app must run before the app partition is deleted
(AppStore.delete_app): it finds the member partitions through them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from typing import Any

from kizuna.adapters.dynamo import batch_write, query_all
from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.domain.sharding import endpoint_shard
from kizuna.errors import BadRequest

SEGMENT_PREFIX = "SEG#"
VERSION_PREFIX = "SEGV#"


def app_pk(app_id: str) -> str:
    return f"APP#{app_id}"


def segment_key(app_id: str, segment_id: str) -> dict[str, Any]:
    return {"pk": {"S": app_pk(app_id)}, "sk": {"S": f"{SEGMENT_PREFIX}{segment_id}"}}


def version_key(app_id: str, segment_id: str, version: int) -> dict[str, Any]:
    return {"pk": {"S": app_pk(app_id)}, "sk": {"S": f"{VERSION_PREFIX}{segment_id}#{int(version):06d}"}}


def members_pk(app_id: str, segment_id: str, shard: int) -> str:
    return f"SEGM#{app_id}#{segment_id}#{shard}"


def member_key(app_id: str, segment_id: str, endpoint_id: str) -> dict[str, Any]:
    return {"pk": {"S": members_pk(app_id, segment_id, endpoint_shard(endpoint_id))}, "sk": {"S": endpoint_id}}


class DynamoSegmentStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    def put_segment(self, app_id: str, segment: dict[str, Any]) -> None:
        doc = {"S": json.dumps(segment, ensure_ascii=False)}
        # The version item first, then the latest: the latest never names a version that does not exist, and two
        # plain puts cost half a transaction's writes. A retry after a crash between them rewrites both.
        version_item = {**version_key(app_id, segment["Id"], segment["Version"]), "doc": doc}
        self._ddb.put_item(TableName=self._table, Item=version_item)
        self._ddb.put_item(TableName=self._table, Item={**segment_key(app_id, segment["Id"]), "doc": doc})

    def get_segment(self, app_id: str, segment_id: str, version: int | None = None) -> dict[str, Any] | None:
        key = segment_key(app_id, segment_id) if version is None else version_key(app_id, segment_id, version)
        item = self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        return json.loads(item["doc"]["S"]) if item else None

    def list_segments(self, app_id: str, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": app_pk(app_id)}, ":prefix": {"S": SEGMENT_PREFIX}},
            "Limit": limit,
        }
        if token:
            kwargs["ExclusiveStartKey"] = segment_key(app_id, _decode_token(token))
        page = self._ddb.query(**kwargs)
        docs = [json.loads(i["doc"]["S"]) for i in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        # The token is the last segment id seen (opaque to callers), never a raw key from another app's partition.
        next_token = _encode_token(last["sk"]["S"][len(SEGMENT_PREFIX) :]) if last else None
        return docs, next_token

    def list_versions(self, app_id: str, segment_id: str) -> list[dict[str, Any]]:
        return [json.loads(i["doc"]["S"]) for i in self._query_prefix(app_pk(app_id), _versions_prefix(segment_id))]

    def delete_segment(self, app_id: str, segment_id: str) -> None:
        keys = [segment_key(app_id, segment_id)]
        keys += [_key(i) for i in self._query_prefix(app_pk(app_id), _versions_prefix(segment_id), keys_only=True)]
        batch_write(self._ddb, self._table, deletes=keys)
        self._delete_members(app_id, segment_id)

    def add_members(self, app_id: str, segment_id: str, endpoint_ids: Sequence[str]) -> None:
        puts = [member_key(app_id, segment_id, e) for e in dict.fromkeys(endpoint_ids)]
        batch_write(self._ddb, self._table, puts=puts)

    def remove_member_everywhere(self, app_id: str, endpoint_ids: Sequence[str]) -> None:
        ids = list(dict.fromkeys(endpoint_ids))
        if not ids:
            return
        deletes = [
            member_key(app_id, s["Id"], e)
            for s in self._segments(app_id)
            if s.get("SegmentType") == "IMPORT"
            for e in ids
        ]
        batch_write(self._ddb, self._table, deletes=deletes)

    def members(self, app_id: str, segment_id: str, shard: int) -> Iterator[str]:
        for item in query_all(self._ddb, self._table, "pk", members_pk(app_id, segment_id, shard), projection="sk"):
            yield item["sk"]["S"]

    def purge_app(self, app_id: str) -> None:
        segment_ids = [s["Id"] for s in self._segments(app_id)]
        for segment_id in segment_ids:
            self._delete_members(app_id, segment_id)
        # "SEG" prefixes both SEG# and SEGV# items (and nothing else in the app partition).
        keys = [_key(i) for i in self._query_prefix(app_pk(app_id), "SEG", keys_only=True)]
        batch_write(self._ddb, self._table, deletes=keys)

    # helpers
    def _segments(self, app_id: str) -> Iterator[dict[str, Any]]:
        for item in self._query_prefix(app_pk(app_id), SEGMENT_PREFIX):
            yield json.loads(item["doc"]["S"])

    def _delete_members(self, app_id: str, segment_id: str) -> None:
        for shard in range(ENDPOINT_SHARDS):
            partition = members_pk(app_id, segment_id, shard)
            keys = [_key(i) for i in query_all(self._ddb, self._table, "pk", partition, projection="pk, sk")]
            batch_write(self._ddb, self._table, deletes=keys)

    def _query_prefix(self, pk: str, prefix: str, keys_only: bool = False) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        if keys_only:
            kwargs["ProjectionExpression"] = "pk, sk"
        while True:
            page = self._ddb.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _versions_prefix(segment_id: str) -> str:
    return f"{VERSION_PREFIX}{segment_id}#"


def _key(item: dict[str, Any]) -> dict[str, Any]:
    return {"pk": item["pk"], "sk": item["sk"]}


def _encode_token(segment_id: str) -> str:
    return base64.urlsafe_b64encode(segment_id.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest(f"token is not valid: {token!r}") from None
