"""Apps and endpoints in the data table. pk "APPS"/sk "APP#<id>" lists apps; pk "APP#<id>" holds the app's items."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from kizuna.adapters.dynamo import batch_get, batch_write, query_all
from kizuna.domain.apps import App

APPS_PK = "APPS"


def _app_pk(app_id: str) -> str:
    return f"APP#{app_id}"


def _ep_sk(endpoint_id: str) -> str:
    return f"EP#{endpoint_id}"


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
            kwargs["ExclusiveStartKey"] = json.loads(base64.urlsafe_b64decode(token.encode()))
        page = self._ddb.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        next_token = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
        return [_app(i) for i in page.get("Items", [])], next_token

    def delete_app(self, app_id: str) -> None:
        keys = [
            {"pk": i["pk"], "sk": i["sk"]}
            for i in query_all(self._ddb, self._table, "pk", _app_pk(app_id), projection="pk, sk")
        ]
        batch_write(self._ddb, self._table, deletes=keys)
        self._ddb.delete_item(TableName=self._table, Key={"pk": {"S": APPS_PK}, "sk": {"S": f"APP#{app_id}"}})

    # endpoints
    def get_endpoint(self, app_id: str, endpoint_id: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(
            TableName=self._table,
            Key={"pk": {"S": _app_pk(app_id)}, "sk": {"S": _ep_sk(endpoint_id)}},
            ConsistentRead=True,
        ).get("Item")
        return json.loads(item["doc"]["S"]) if item else None

    def get_endpoints(self, app_id: str, endpoint_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        keys = [{"pk": {"S": _app_pk(app_id)}, "sk": {"S": _ep_sk(e)}} for e in dict.fromkeys(endpoint_ids)]
        docs = (json.loads(item["doc"]["S"]) for item in batch_get(self._ddb, self._table, keys))
        return {doc["Id"]: doc for doc in docs}

    def put_endpoint(self, app_id: str, endpoint: dict[str, Any]) -> None:
        item: dict[str, Any] = {
            "pk": {"S": _app_pk(app_id)},
            "sk": {"S": _ep_sk(endpoint["Id"])},
            "doc": {"S": json.dumps(endpoint, ensure_ascii=False)},
        }
        user_id = endpoint.get("User", {}).get("UserId")
        if user_id:
            item["user_pk"] = {"S": f"{_app_pk(app_id)}#USER#{user_id}"}
        self._ddb.put_item(TableName=self._table, Item=item)

    def delete_endpoint(self, app_id: str, endpoint_id: str) -> None:
        self._ddb.delete_item(
            TableName=self._table, Key={"pk": {"S": _app_pk(app_id)}, "sk": {"S": _ep_sk(endpoint_id)}}
        )


def _app(item: dict[str, Any]) -> App:
    doc = json.loads(item["doc"]["S"])
    return App(doc["Id"], doc["Name"], doc["Arn"], doc["CreationDate"], doc.get("tags") or {})
