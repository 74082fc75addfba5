"""Versioned documents in an app's partition of the data table (journeys, campaigns): "APP#<app>" / "<prefix><id>"
holds the document (doc, JSON) and its write version (ver), which every put checks; with a `version_prefix`, every
version is also kept as "APP#<app>" / "<version_prefix><id>#<version:06d>" (GetCampaignVersions). Living in the app
partition, they go with DeleteApp's purge of that partition."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from botocore.exceptions import ClientError

from kizuna.adapters.dynamo import batch_write
from kizuna.errors import BadRequest


class DynamoAppDocuments:
    def __init__(self, table: str, client: Any, prefix: str, version_prefix: str | None = None) -> None:
        self._table = table
        self._ddb = client
        self._prefix = prefix
        self._version_prefix = version_prefix

    def key(self, app_id: str, doc_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"APP#{app_id}"}, "sk": {"S": f"{self._prefix}{doc_id}"}}

    def _version_key(self, app_id: str, doc_id: str, version: int) -> dict[str, Any]:
        return {"pk": {"S": f"APP#{app_id}"}, "sk": {"S": f"{self._version_prefix}{doc_id}#{int(version):06d}"}}

    def get(self, app_id: str, doc_id: str, version: int | None = None) -> dict[str, Any] | None:
        key = self.key(app_id, doc_id) if version is None else self._version_key(app_id, doc_id, version)
        item = self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        return json.loads(item["Item"]["doc"]["S"]) if "Item" in item else None

    def put(self, app_id: str, doc: dict[str, Any], expected_version: int | None) -> bool:
        """Store `doc` (with "Id" and "Version") if the stored version is `expected_version` (None: only if absent)."""
        body = {"S": json.dumps(doc, ensure_ascii=False)}
        item = {**self.key(app_id, doc["Id"]), "doc": body, "ver": {"N": str(doc["Version"])}}
        if expected_version is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "ver = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        try:
            if self._version_prefix is None:
                self._ddb.put_item(TableName=self._table, Item=item, **condition)
            else:
                # The head and its version item together: a losing writer leaves no version behind, and the head
                # never names a version that does not exist (writes are rare; a transaction's double cost is fine).
                version_item = {**self._version_key(app_id, doc["Id"], doc["Version"]), "doc": body}
                self._ddb.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": self._table, "Item": item, **condition}},
                        {"Put": {"TableName": self._table, "Item": version_item}},
                    ]
                )
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if code == "ConditionalCheckFailedException" or "ConditionalCheckFailed" in reasons:
                return False
            raise
        return True

    def list(self, app_id: str, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": f"APP#{app_id}"}, ":prefix": {"S": self._prefix}},
            "Limit": limit,
        }
        if token:
            kwargs["ExclusiveStartKey"] = self.key(app_id, _decode_token(token))
        page = self._ddb.query(**kwargs)
        docs = [json.loads(i["doc"]["S"]) for i in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        # The token is the last id seen, never a raw key (which could name another app's partition).
        token = base64.urlsafe_b64encode(last["sk"]["S"][len(self._prefix) :].encode()).decode() if last else None
        return docs, token

    def versions(self, app_id: str, doc_id: str) -> list[dict[str, Any]]:
        return docs_under(self._ddb, self._table, app_id, f"{self._version_prefix}{doc_id}#")

    def delete(self, app_id: str, doc_id: str) -> None:
        keys = [self.key(app_id, doc_id)]
        if self._version_prefix is not None:
            keys += [self._version_key(app_id, doc_id, v["Version"]) for v in self.versions(app_id, doc_id)]
        batch_write(self._ddb, self._table, deletes=keys)


def docs_under(client: Any, table: str, app_id: str, prefix: str) -> list[dict[str, Any]]:
    """Every `doc` in the app's partition whose sort key starts with `prefix`, all pages."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": {"S": f"APP#{app_id}"}, ":prefix": {"S": prefix}},
    }
    docs: list[dict[str, Any]] = []
    while True:
        page = client.query(**kwargs)
        docs += [json.loads(i["doc"]["S"]) for i in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return docs
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest(f"token is not valid: {token!r}") from None
