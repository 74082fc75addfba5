"""UpdateEndpoint reads, merges and writes: another write of the same endpoint landing between the read and the
write must not be lost (the load run's probe found two clients updating different attributes of one endpoint
losing one's acknowledged writes). The data table is moto's, so the conditional write is DynamoDB's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.dynamo_data import DynamoDataStore
from kizuna.clock import VirtualClock
from kizuna.errors import TooManyRequests
from kizuna.services.apps import create_app
from kizuna.services.endpoints import MAX_UPDATE_ATTEMPTS, update_endpoint


class InterleavedStore(DynamoDataStore):
    """Runs `between` right after each of the first `times` endpoint reads: another client's write that lands
    while this request merges."""

    def __init__(self, table: str, client: Any, between: Any, times: int) -> None:
        super().__init__(table, client)
        self.between, self.times, self.reads = between, times, 0

    def get_endpoint(self, app_id: str, endpoint_id: str) -> dict[str, Any] | None:
        endpoint = super().get_endpoint(app_id, endpoint_id)
        self.reads += 1
        if self.reads <= self.times:
            self.between(self.reads)
        return endpoint


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="data",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.fixture
def other(ddb: Any) -> DynamoDataStore:
    return DynamoDataStore("data", ddb)


@pytest.fixture
def app_id(other: DynamoDataStore) -> str:
    app = create_app(other, VirtualClock(), "arn:aws:mobiletargeting:us-east-1:123456789012", {"Name": "race"})
    update_endpoint(other, other, VirtualClock(), app.id, "ep-1", {"ChannelType": "SMS", "Address": "+819012345678"})
    return app.id


def test_a_write_landing_between_the_read_and_the_write_is_kept_and_so_is_ours(ddb, other, app_id):
    clock = VirtualClock()

    def other_client(n: int) -> None:
        update_endpoint(other, other, clock, app_id, "ep-1", {"Attributes": {"plan": [f"gold-{n}"]}})

    mine = InterleavedStore("data", ddb, other_client, times=1)
    update_endpoint(mine, mine, clock, app_id, "ep-1", {"Attributes": {"lang": ["ja"]}})

    stored = other.get_endpoint(app_id, "ep-1")
    assert stored["Attributes"] == {"plan": ["gold-1"], "lang": ["ja"]}
    assert stored["Address"] == "+819012345678"
    assert mine.reads == 2  # merged again over the other client's write


def test_an_endpoint_rewritten_on_every_attempt_is_answered_429_and_ours_is_not_written(ddb, other, app_id):
    clock = VirtualClock()

    def other_client(n: int) -> None:
        update_endpoint(other, other, clock, app_id, "ep-1", {"Attributes": {"plan": [f"gold-{n}"]}})

    mine = InterleavedStore("data", ddb, other_client, times=MAX_UPDATE_ATTEMPTS)
    with pytest.raises(TooManyRequests, match="ep-1"):
        update_endpoint(mine, mine, clock, app_id, "ep-1", {"Attributes": {"lang": ["ja"]}})

    assert other.get_endpoint(app_id, "ep-1")["Attributes"] == {"plan": [f"gold-{MAX_UPDATE_ATTEMPTS}"]}


def test_creating_an_endpoint_another_request_created_meanwhile_merges_over_it(ddb, other, app_id):
    clock = VirtualClock()

    def other_client(n: int) -> None:
        update_endpoint(other, other, clock, app_id, "ep-2", {"ChannelType": "SMS", "Address": "+819000000002"})

    mine = InterleavedStore("data", ddb, other_client, times=1)
    update_endpoint(mine, mine, clock, app_id, "ep-2", {"Attributes": {"lang": ["ja"]}})

    stored = other.get_endpoint(app_id, "ep-2")
    assert stored["Address"] == "+819000000002" and stored["Attributes"] == {"lang": ["ja"]}
