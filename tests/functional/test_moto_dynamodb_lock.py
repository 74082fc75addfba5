"""Local mode's TransactWriteItems for moto (kizuna.local.moto_dynamodb_lock): a cancelled transaction leaves every
item it named as it was (puts over existing items, updates, items it would have created, on tables with and without
a sort key), a successful one writes them all, and no table is deep-copied whatever its size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table

from kizuna.local.moto_dynamodb_lock import serialise_dynamodb_writes

REGION = "ap-northeast-1"


@pytest.fixture
def ddb() -> Iterator[Any]:
    serialise_dynamodb_writes()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="ranged",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_table(
            TableName="flat",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="ranged", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})
        client.put_item(TableName="flat", Item={"pk": {"S": "f"}, "n": {"N": "10"}, "tags": {"SS": ["x"]}})
        yield client


def _everything(ddb: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        name: sorted(ddb.scan(TableName=name)["Items"], key=lambda i: (i["pk"]["S"], i.get("sk", {}).get("S", "")))
        for name in ("ranged", "flat")
    }


def _writes_then(fails: dict[str, Any]) -> list[dict[str, Any]]:
    """Four writes that would succeed, then `fails` (last, so moto has applied the others when it cancels)."""
    return [
        {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "2"}}}},
        {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
        {
            "Update": {
                "TableName": "flat",
                "Key": {"pk": {"S": "f"}},
                "UpdateExpression": "ADD n :one, tags :y",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":y": {"SS": ["y"]}},
            }
        },
        {
            "Update": {
                "TableName": "flat",
                "Key": {"pk": {"S": "created-by-update"}},
                "UpdateExpression": "SET v = :v",
                "ExpressionAttributeValues": {":v": {"S": "v"}},
            }
        },
        fails,
    ]


def test_a_cancelled_transaction_leaves_every_item_it_named_as_it_was(ddb):
    before = _everything(ddb)
    condition_fails = {
        "ConditionCheck": {
            "TableName": "ranged",
            "Key": {"pk": {"S": "a"}, "sk": {"S": "2"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(TransactItems=_writes_then(condition_fails))
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _everything(ddb) == before


def test_a_transaction_moto_refuses_midway_is_undone_too(ddb):
    before = _everything(ddb)
    same_key_twice = {"Delete": {"TableName": "flat", "Key": {"pk": {"S": "created-by-update"}}}}
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(TransactItems=_writes_then(same_key_twice))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _everything(ddb) == before


def test_a_successful_transaction_writes_every_item(ddb):
    creates = {"Put": {"TableName": "flat", "Item": {"pk": {"S": "g"}}}}
    ddb.transact_write_items(TransactItems=_writes_then(creates))
    after = _everything(ddb)
    assert [i["pk"]["S"] for i in after["ranged"]] == ["a", "new"]
    assert after["ranged"][0]["n"] == {"N": "2"}
    assert {i["pk"]["S"] for i in after["flat"]} == {"f", "g", "created-by-update"}
    flat = next(i for i in after["flat"] if i["pk"]["S"] == "f")
    assert flat["n"] == {"N": "11"} and sorted(flat["tags"]["SS"]) == ["x", "y"]


def test_no_table_is_copied_however_large(ddb, monkeypatch):
    for start in range(0, 500, 25):
        ddb.batch_write_item(
            RequestItems={
                "ranged": [
                    {"PutRequest": {"Item": {"pk": {"S": "bulk"}, "sk": {"S": f"{i:04d}"}}}}
                    for i in range(start, start + 25)
                ]
            }
        )

    def refuse(self: Table, memo: Any) -> Table:
        raise AssertionError(f"table {self.name} deep-copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    fails = {
        "ConditionCheck": {
            "TableName": "flat",
            "Key": {"pk": {"S": "absent"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(TransactItems=_writes_then(fails))
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    ddb.transact_write_items(TransactItems=_writes_then({"Put": {"TableName": "flat", "Item": {"pk": {"S": "g"}}}}))
    assert ddb.scan(TableName="ranged", Select="COUNT")["Count"] == 502
