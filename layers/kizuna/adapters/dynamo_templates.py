"""Message templates in the data table (account-wide, as Pinpoint's were).

Layout (pk / sk):
- "TEMPLATES" / "<name>#<TYPE>"          the head: `doc` (TemplateName, TemplateType, Arn, CreationDate, tags,
                                         ActiveVersion) and LatestVersion (a number, the condition of every update)
- "TPL#<TYPE>#<name>" / "<version:06d>"  one document per version
"""

from __future__ import annotations

import json
from typing import Any

from kizuna.adapters.dynamo import batch_write, query_all

HEADS_PK = "TEMPLATES"


def head_key(template_type: str, name: str) -> dict[str, Any]:
    return {"pk": {"S": HEADS_PK}, "sk": {"S": f"{name}#{template_type}"}}


def versions_pk(template_type: str, name: str) -> str:
    return f"TPL#{template_type}#{name}"


def version_key(template_type: str, name: str, version: int) -> dict[str, Any]:
    return {"pk": {"S": versions_pk(template_type, name)}, "sk": {"S": f"{version:06d}"}}


class DynamoTemplateStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    def get_head(self, template_type: str, name: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(TableName=self._table, Key=head_key(template_type, name), ConsistentRead=True).get(
            "Item"
        )
        return json.loads(item["doc"]["S"]) if item else None

    def put_head(self, head: dict[str, Any], expected_latest: int | None) -> bool:
        item = {
            **head_key(head["TemplateType"], head["TemplateName"]),
            "doc": {"S": json.dumps(head, ensure_ascii=False)},
            "LatestVersion": {"N": str(head["LatestVersion"])},
        }
        kwargs: dict[str, Any] = {"TableName": self._table, "Item": item}
        if expected_latest is None:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            kwargs["ConditionExpression"] = "LatestVersion = :expected"
            kwargs["ExpressionAttributeValues"] = {":expected": {"N": str(expected_latest)}}
        try:
            self._ddb.put_item(**kwargs)
            return True
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False

    def get_version(self, template_type: str, name: str, version: int) -> dict[str, Any] | None:
        item = self._ddb.get_item(
            TableName=self._table, Key=version_key(template_type, name, version), ConsistentRead=True
        ).get("Item")
        return json.loads(item["doc"]["S"]) if item else None

    def put_version(self, template_type: str, name: str, version: int, doc: dict[str, Any]) -> None:
        item = {**version_key(template_type, name, version), "doc": {"S": json.dumps(doc, ensure_ascii=False)}}
        self._ddb.put_item(TableName=self._table, Item=item)

    def list_versions(self, template_type: str, name: str) -> list[dict[str, Any]]:
        items = query_all(self._ddb, self._table, "pk", versions_pk(template_type, name), projection="doc")
        return [json.loads(i["doc"]["S"]) for i in items]

    def delete_version(self, template_type: str, name: str, version: int) -> None:
        self._ddb.delete_item(TableName=self._table, Key=version_key(template_type, name, version))

    def delete_template(self, template_type: str, name: str) -> None:
        # Versions first: a head without versions would answer GetTemplate with a dangling active version.
        partition = versions_pk(template_type, name)
        keys = [
            {"pk": i["pk"], "sk": i["sk"]}
            for i in query_all(self._ddb, self._table, "pk", partition, projection="pk, sk")
        ]
        batch_write(self._ddb, self._table, deletes=keys)
        self._ddb.delete_item(TableName=self._table, Key=head_key(template_type, name))

    def list_heads(self) -> list[dict[str, Any]]:
        return [json.loads(i["doc"]["S"]) for i in query_all(self._ddb, self._table, "pk", HEADS_PK, projection="doc")]
