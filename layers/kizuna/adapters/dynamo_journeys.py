"""Journeys in the data table, next to segments: "APP#<app>" / "JRN#<journey>" holds the JourneyResponse (doc) and
its write version (ver), which every put checks."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from botocore.exceptions import ClientError

from kizuna.errors import BadRequest

JOURNEY_PREFIX = "JRN#"


def journey_key(app_id: str, journey_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"APP#{app_id}"}, "sk": {"S": f"{JOURNEY_PREFIX}{journey_id}"}}


class DynamoJourneyStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    def get_journey(self, app_id: str, journey_id: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(TableName=self._table, Key=journey_key(app_id, journey_id), ConsistentRead=True)
        return json.loads(item["Item"]["doc"]["S"]) if "Item" in item else None

    def put_journey(self, app_id: str, journey: dict[str, Any], expected_version: int | None) -> bool:
        item = {
            **journey_key(app_id, journey["Id"]),
            "doc": {"S": json.dumps(journey, ensure_ascii=False)},
            "ver": {"N": str(journey["Version"])},
        }
        if expected_version is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "ver = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        try:
            self._ddb.put_item(TableName=self._table, Item=item, **condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def list_journeys(self, app_id: str, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": f"APP#{app_id}"}, ":prefix": {"S": JOURNEY_PREFIX}},
            "Limit": limit,
        }
        if token:
            kwargs["ExclusiveStartKey"] = journey_key(app_id, _decode_token(token))
        page = self._ddb.query(**kwargs)
        docs = [json.loads(i["doc"]["S"]) for i in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        # The token is the last journey id seen, never a raw key (which could name another app's partition).
        token = base64.urlsafe_b64encode(last["sk"]["S"][len(JOURNEY_PREFIX) :].encode()).decode() if last else None
        return docs, token

    def delete_journey(self, app_id: str, journey_id: str) -> None:
        self._ddb.delete_item(TableName=self._table, Key=journey_key(app_id, journey_id))


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest(f"token is not valid: {token!r}") from None
