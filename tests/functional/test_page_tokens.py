"""Pagination tokens come back from the caller: one that is not base64 JSON, or names another partition, is a 400
naming `token` (found by the schemathesis fuzzer: `GetSegmentExportJobs?token=...` crashed the API with a 502,
tests/e2e/test_fuzz_openapi.py), and the tokens the stores hand out still page through."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.dynamo_consultations import DynamoConsultationStore
from kizuna.adapters.dynamo_data import DynamoDataStore
from kizuna.adapters.dynamo_jobs import DynamoJobStore
from kizuna.adapters.page_tokens import decode_start_key, encode_start_key
from kizuna.domain.apps import App
from kizuna.domain.jobs import IMPORT
from kizuna.errors import BadRequest

TABLE = "kizuna-data"


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


FOREIGN = b64({"pk": {"S": "APP#someone-else"}, "sk": {"S": "IMPORT#0001"}})
BAD_TOKENS = [
    "not base64!",
    "YQ",  # "a" without its padding
    b64("a string"),
    b64({"pk": {"S": "APPS"}}),
    b64({"pk": {"N": "1"}, "sk": {"S": "x"}}),
    b64({"pk": {"S": "APPS"}, "sk": {"S": "x"}, "extra": {"S": "y"}}),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
]


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            BillingMode="PAY_PER_REQUEST",
        )
        yield ddb


@pytest.mark.parametrize("token", [*BAD_TOKENS, FOREIGN])
def test_a_token_not_of_this_partition_is_a_bad_request(token: str) -> None:
    with pytest.raises(BadRequest, match="^token is not valid"):
        decode_start_key(token, "APP#mine")


def test_a_token_round_trips() -> None:
    key = {"pk": {"S": "APP#mine"}, "sk": {"S": "IMPORT#0001"}}
    assert decode_start_key(encode_start_key(key), "APP#mine") == key
    assert encode_start_key(None) is None


@pytest.mark.parametrize("token", [*BAD_TOKENS, FOREIGN])
def test_every_store_refuses_a_bad_token(client: Any, token: str) -> None:
    listings = [
        lambda: DynamoDataStore(TABLE, client).list_apps(10, token),
        lambda: DynamoJobStore(TABLE, client).list_jobs("app", IMPORT, 10, token),
        lambda: DynamoJobStore(TABLE, client).list_jobs("app", IMPORT, 10, token, "segment"),
        lambda: DynamoConsultationStore(TABLE, client).list("app", 10, token),
    ]
    for listing in listings:
        with pytest.raises(BadRequest, match="^token is not valid"):
            listing()


def test_apps_page_through_with_the_tokens_handed_out(client: Any) -> None:
    store = DynamoDataStore(TABLE, client)
    for n in range(5):
        store.put_app(App(f"app{n}", f"app {n}", f"arn:app{n}", "2026-12-01T00:00:00Z"))
    seen, token = [], None
    while True:
        page, token = store.list_apps(2, token)
        seen += [app.id for app in page]
        if token is None:
            break
    assert sorted(seen) == [f"app{n}" for n in range(5)]
