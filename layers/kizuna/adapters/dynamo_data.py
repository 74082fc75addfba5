"""Apps and endpoints in the data table.

Layout (pk / sk):
- "APPS" / "APP#<app>"                       the app (one small partition lists every app)
- "APP#<app>" / "<kind>#..."                 app-scoped singletons and small collections (settings, segments, jobs):
    "SETTINGS"                                 ApplicationSettingsResource (doc)
    "ATTRIBUTES"                               attribute registry: string sets custom / metric / user (names only)
    "ERASURE_SALT"                             random salt for hashing user ids in erasure records
    "ERASURE#<time>#<hash prefix>#<random>"    one DeleteUserEndpoints: hash, counts, what was scrubbed; no PII
- "EP#<app>#<shard>" / "<endpoint id>"       endpoints, spread over catalog.ENDPOINT_SHARDS partitions by crc32(id);
                                             user_pk = "<app>#<user id>" feeds the by_user index,
                                             address_pk = "<app>#<address>" the by_address index
- "JE#<app>#<shard>" / "<endpoint id>#..."   what journey participants did (kizuna.adapters.dynamo_engagement),
                                             purged with the shard's endpoints
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from kizuna.adapters.dynamo import batch_get, batch_write, query_all
from kizuna.adapters.dynamo_engagement import engagement_pk
from kizuna.adapters.page_tokens import decode_start_key, encode_start_key
from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.domain.apps import App
from kizuna.domain.sharding import endpoint_shard

# Kinds of the attribute registry (RemoveAttributes' attribute-type maps onto these in services.endpoints).
ATTRIBUTE_KINDS = ("custom", "metric", "user")

APPS_PK = "APPS"
ADDRESS_INDEXED = frozenset({"SMS", "VOICE", "WHATSAPP"})
SETTINGS_SK = "SETTINGS"
ATTRIBUTES_SK = "ATTRIBUTES"
ERASURE_SALT_SK = "ERASURE_SALT"
ERASURE_PREFIX = "ERASURE#"


def app_pk(app_id: str) -> str:
    return f"APP#{app_id}"


def endpoint_pk(app_id: str, shard: int) -> str:
    return f"EP#{app_id}#{shard}"


def endpoint_key(app_id: str, endpoint_id: str) -> dict[str, Any]:
    return {"pk": {"S": endpoint_pk(app_id, endpoint_shard(endpoint_id))}, "sk": {"S": endpoint_id}}


def user_pk(app_id: str, user_id: str) -> str:
    return f"{app_id}#{user_id}"


def endpoint_item(app_id: str, endpoint: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {
        **endpoint_key(app_id, endpoint["Id"]),
        "doc": {"S": json.dumps(endpoint, ensure_ascii=False)},
    }
    user_id = endpoint.get("User", {}).get("UserId")
    if user_id:
        item["user_pk"] = {"S": user_pk(app_id, user_id)}
    if endpoint.get("Address") and endpoint.get("ChannelType") in ADDRESS_INDEXED:
        # Phone channels only: their addresses are E.164 (short), and only they take STOP keywords. Other
        # addresses can be far longer than an index key may be (2,048 bytes).
        item["address_pk"] = {"S": address_pk(app_id, endpoint["Address"])}
    return item


def address_pk(app_id: str, address: str) -> str:
    return f"{app_id}#{address}"


class DynamoDataStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    # apps
    def put_app(self, app: App) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": APPS_PK},
                "sk": {"S": f"APP#{app.id}"},
                "doc": {"S": json.dumps(app.to_pinpoint(), ensure_ascii=False)},
            },
        )

    def get_app(self, app_id: str) -> App | None:
        item = self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": APPS_PK}, "sk": {"S": f"APP#{app_id}"}}, ConsistentRead=True
        ).get("Item")
        return _app(item) if item else None

    def list_apps(self, limit: int, token: str | None) -> tuple[list[App], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": APPS_PK}},
            "Limit": limit,
        }
        if token:
            kwargs["ExclusiveStartKey"] = decode_start_key(token, APPS_PK)
        page = self._ddb.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        next_token = encode_start_key(last)
        return [_app(i) for i in page.get("Items", [])], next_token

    def delete_app(self, app_id: str) -> None:
        for shard in range(ENDPOINT_SHARDS):
            self.purge_app_data(app_id, shard)
        self.purge_app_data(app_id, None)

    def retire_app(self, app_id: str) -> None:
        self._ddb.delete_item(TableName=self._table, Key={"pk": {"S": APPS_PK}, "sk": {"S": f"APP#{app_id}"}})

    def purge_app_data(self, app_id: str, shard: int | None) -> None:
        # The app partition holds settings, the attribute registry, the erasure salt and erasure records: the
        # tenant is gone, so its erasure evidence goes with it (there is no one left to show it to).
        partitions = [app_pk(app_id)] if shard is None else [endpoint_pk(app_id, shard), engagement_pk(app_id, shard)]
        keys = [
            {"pk": i["pk"], "sk": i["sk"]}
            for partition in partitions
            for i in query_all(self._ddb, self._table, "pk", partition, projection="pk, sk")
        ]
        batch_write(self._ddb, self._table, deletes=keys)
        if shard is None:
            self.retire_app(app_id)

    # app singletons
    def _get_app_item(self, app_id: str, sk: str) -> dict[str, Any] | None:
        return self._ddb.get_item(
            TableName=self._table, Key={"pk": {"S": app_pk(app_id)}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")

    def get_settings(self, app_id: str) -> dict[str, Any] | None:
        item = self._get_app_item(app_id, SETTINGS_SK)
        return json.loads(item["doc"]["S"]) if item else None

    def put_settings(self, app_id: str, settings: dict[str, Any]) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": app_pk(app_id)},
                "sk": {"S": SETTINGS_SK},
                "doc": {"S": json.dumps(settings, ensure_ascii=False)},
            },
        )

    def get_attribute_registry(self, app_id: str) -> dict[str, set[str]]:
        item = self._get_app_item(app_id, ATTRIBUTES_SK) or {}
        return {kind: set(item[kind]["SS"]) for kind in ATTRIBUTE_KINDS if kind in item}

    def register_attributes(self, app_id: str, names: dict[str, set[str]]) -> None:
        # ADD on string sets is atomic: concurrent endpoint writes never drop each other's names.
        present = {kind: sorted(n) for kind, n in names.items() if n}
        if not present:
            return
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": app_pk(app_id)}, "sk": {"S": ATTRIBUTES_SK}},
            UpdateExpression="ADD " + ", ".join(f"#{kind} :{kind}" for kind in present),
            ExpressionAttributeNames={f"#{kind}": kind for kind in present},
            ExpressionAttributeValues={f":{kind}": {"SS": values} for kind, values in present.items()},
        )

    def unregister_attributes(self, app_id: str, kind: str, names: set[str]) -> None:
        if not names:
            return
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": app_pk(app_id)}, "sk": {"S": ATTRIBUTES_SK}},
            UpdateExpression="DELETE #kind :names",
            ExpressionAttributeNames={"#kind": kind},
            ExpressionAttributeValues={":names": {"SS": sorted(names)}},
        )

    def erasure_salt(self, app_id: str, candidate: str) -> str:
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={"pk": {"S": app_pk(app_id)}, "sk": {"S": ERASURE_SALT_SK}, "salt": {"S": candidate}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return candidate
        except self._ddb.exceptions.ConditionalCheckFailedException:
            item = self._get_app_item(app_id, ERASURE_SALT_SK)
            assert item is not None
            return item["salt"]["S"]

    def put_erasure_record(self, app_id: str, record: dict[str, Any]) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": app_pk(app_id)},
                # A random tail: two erasures of one user in the same millisecond are two records, not one.
                "sk": {"S": f"{ERASURE_PREFIX}{record['at']}#{record['user_hash'][:16]}#{secrets.token_hex(4)}"},
                "doc": {"S": json.dumps(record)},
            },
        )

    def erasure_records(self, app_id: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": app_pk(app_id)}, ":prefix": {"S": ERASURE_PREFIX}},
        }
        records: list[dict[str, Any]] = []
        while True:
            page = self._ddb.query(**kwargs)
            records += [json.loads(item["doc"]["S"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return records
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # endpoints
    def get_endpoint(self, app_id: str, endpoint_id: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(
            TableName=self._table, Key=endpoint_key(app_id, endpoint_id), ConsistentRead=True
        ).get("Item")
        return json.loads(item["doc"]["S"]) if item else None

    def get_endpoints(self, app_id: str, endpoint_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        keys = [endpoint_key(app_id, e) for e in dict.fromkeys(endpoint_ids)]
        docs = (json.loads(item["doc"]["S"]) for item in batch_get(self._ddb, self._table, keys))
        return {doc["Id"]: doc for doc in docs}

    def put_endpoint(self, app_id: str, endpoint: dict[str, Any]) -> None:
        self._ddb.put_item(TableName=self._table, Item=endpoint_item(app_id, endpoint))

    def replace_endpoint(self, app_id: str, endpoint: dict[str, Any], previous: dict[str, Any] | None) -> bool:
        # The stored document is compared as written: endpoint_item serialises the same way every time, so the
        # document read back and dumped again is the stored string exactly.
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        if previous is not None:
            condition = {
                "ConditionExpression": "#doc = :previous",
                "ExpressionAttributeNames": {"#doc": "doc"},
                "ExpressionAttributeValues": {":previous": endpoint_item(app_id, previous)["doc"]},
            }
        try:
            self._ddb.put_item(TableName=self._table, Item=endpoint_item(app_id, endpoint), **condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put_endpoints(self, app_id: str, endpoints: Sequence[dict[str, Any]]) -> None:
        batch_write(self._ddb, self._table, puts=[endpoint_item(app_id, e) for e in endpoints])

    def delete_endpoint(self, app_id: str, endpoint_id: str) -> None:
        self._ddb.delete_item(TableName=self._table, Key=endpoint_key(app_id, endpoint_id))

    def delete_endpoints(self, app_id: str, endpoint_ids: Sequence[str]) -> None:
        batch_write(self._ddb, self._table, deletes=[endpoint_key(app_id, e) for e in dict.fromkeys(endpoint_ids)])

    def scan_shard(self, app_id: str, shard: int, start_after: str | None = None) -> Iterator[dict[str, Any]]:
        """Every endpoint of one shard in id order, paged; segment resolution and exports run one of these per shard.
        `start_after` resumes after that endpoint id (a campaign piece continuing where it stopped)."""
        pk = endpoint_pk(app_id, shard)
        start = {"pk": {"S": pk}, "sk": {"S": start_after}} if start_after else None
        for item in query_all(self._ddb, self._table, "pk", pk, projection="doc", start=start):
            yield json.loads(item["doc"]["S"])

    def user_endpoints(self, app_id: str, user_id: str) -> list[dict[str, Any]]:
        return self._query_index("by_user", "user_pk", user_pk(app_id, user_id))

    def endpoints_by_address(self, app_id: str, address: str) -> list[dict[str, Any]]:
        return self._query_index("by_address", "address_pk", address_pk(app_id, address))

    def _query_index(self, index: str, key: str, value: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": key},
            "ExpressionAttributeValues": {":v": {"S": value}},
        }
        items: list[dict[str, Any]] = []
        while True:
            page = self._ddb.query(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [json.loads(i["doc"]["S"]) for i in items]


def _app(item: dict[str, Any]) -> App:
    doc = json.loads(item["doc"]["S"])
    return App(doc["Id"], doc["Name"], doc["Arn"], doc["CreationDate"], doc.get("tags") or {})
