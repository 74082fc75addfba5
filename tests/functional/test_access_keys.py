"""Access keys on DynamoDB + KMS (moto): issue, read back, encryption at rest, scoping, cached lookup."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.access_key_store import DynamoAccessKeyStore
from kizuna.auth.access_keys import (
    AccessKey,
    CachedSecretLookup,
    InMemoryAccessKeyStore,
    KeyStatus,
    authorize,
    create_access_key,
)
from kizuna.auth.sigv4 import SignedRequest, verify_request
from kizuna.catalog import TABLES
from kizuna.clock import VirtualClock
from kizuna.errors import BadRequest, Forbidden

REGION = "us-east-1"
TABLE = "kizuna-access-keys"


@dataclass
class Aws:
    ddb: Any
    kms: Any
    kms_key_id: str
    store: DynamoAccessKeyStore


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        kms = boto3.client("kms", region_name=REGION)
        spec = TABLES["access_keys"]
        keys = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
        attrs = [{"AttributeName": spec.partition_key, "AttributeType": "S"}]
        if spec.sort_key:
            keys.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
            attrs.append({"AttributeName": spec.sort_key, "AttributeType": "S"})
        ddb.create_table(TableName=TABLE, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST")
        key_id = kms.create_key(Description="kizuna access keys")["KeyMetadata"]["KeyId"]
        yield Aws(ddb, kms, key_id, DynamoAccessKeyStore(TABLE, key_id, ddb, kms))


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(datetime(2026, 11, 23, 10, 30, 0, 123456, tzinfo=UTC))


def raw_item(aws: Aws, access_key_id: str) -> dict:
    return aws.ddb.get_item(TableName=TABLE, Key={"access_key_id": {"S": access_key_id}})["Item"]


def test_create_and_read_back_admin_key(aws: Aws, clock: VirtualClock) -> None:
    key, secret = create_access_key(aws.store, None, "operator key — 管理者", clock)
    assert re.fullmatch(r"KZ[A-Z2-7]{18}", key.access_key_id)
    assert re.fullmatch(r"[A-Za-z0-9]{40}", secret)
    assert key.is_admin and key.status is KeyStatus.ACTIVE and key.created_at == clock.now()

    stored = aws.store.get(key.access_key_id)
    assert stored == (key, secret)

    item = raw_item(aws, key.access_key_id)
    assert "app_ids" not in item
    assert set(item) == {"access_key_id", "secret_ciphertext", "status", "created_at", "description"}
    ciphertext = item["secret_ciphertext"]["B"]
    assert secret.encode() not in ciphertext and secret not in str(item)


def test_scoped_key_round_trip_and_authorization(aws: Aws, clock: VirtualClock) -> None:
    key, _ = create_access_key(aws.store, ["app-b", "app-a"], "", clock)
    item = raw_item(aws, key.access_key_id)
    assert item["app_ids"] == {"L": [{"S": "app-a"}, {"S": "app-b"}]}
    loaded, _ = aws.store.get(key.access_key_id)
    assert loaded.app_ids == frozenset({"app-a", "app-b"})

    authorize(loaded, "app-a")
    authorize(loaded, "app-b")
    with pytest.raises(Forbidden, match="not authorized to access application app-c"):
        authorize(loaded, "app-c")
    admin, _ = create_access_key(aws.store, None, "", clock)
    authorize(aws.store.get(admin.access_key_id)[0], "anything")


def test_inactive_key_is_refused(aws: Aws, clock: VirtualClock) -> None:
    key, secret = create_access_key(aws.store, None, "", clock)
    aws.store.put(AccessKey(key.access_key_id, None, key.created_at, KeyStatus.INACTIVE, ""), secret)
    loaded, _ = aws.store.get(key.access_key_id)
    assert loaded.status is KeyStatus.INACTIVE
    with pytest.raises(Forbidden):
        authorize(loaded, "app")
    assert CachedSecretLookup(aws.store, clock).secret_for(key.access_key_id) is None


def test_ciphertext_is_bound_to_its_key_id(aws: Aws, clock: VirtualClock) -> None:
    victim, _ = create_access_key(aws.store, None, "", clock)
    attacker, _ = create_access_key(aws.store, ["app-x"], "", clock)
    # Copy the admin key's ciphertext onto the scoped key's item: KMS refuses (encryption context mismatch).
    aws.ddb.update_item(
        TableName=TABLE,
        Key={"access_key_id": {"S": attacker.access_key_id}},
        UpdateExpression="SET secret_ciphertext = :c",
        ExpressionAttributeValues={":c": raw_item(aws, victim.access_key_id)["secret_ciphertext"]},
    )
    with pytest.raises(aws.kms.exceptions.InvalidCiphertextException):
        aws.store.get(attacker.access_key_id)


def test_unknown_key_is_none(aws: Aws) -> None:
    assert aws.store.get("KZAAAAAAAAAAAAAAAAAA") is None


def test_create_validates_scope_and_description(clock: VirtualClock) -> None:
    store = InMemoryAccessKeyStore()
    with pytest.raises(BadRequest):
        create_access_key(store, [], "", clock)
    with pytest.raises(BadRequest):
        create_access_key(store, "app-a", "", clock)  # type: ignore[arg-type]
    with pytest.raises(BadRequest):
        create_access_key(store, None, "x" * 257, clock)
    ids = {create_access_key(store, None, "", clock)[0].access_key_id for _ in range(50)}
    assert len(ids) == 50


def test_cached_lookup_ttl(clock: VirtualClock) -> None:
    store = InMemoryAccessKeyStore()
    key, secret = create_access_key(store, ["a"], "", clock)
    lookup = CachedSecretLookup(store, clock, ttl_s=300)
    assert lookup(key.access_key_id) == secret
    assert lookup.secret_for(key.access_key_id) == secret
    assert lookup.key(key.access_key_id) == key
    assert store.gets == 1
    clock.advance(timedelta(seconds=301))
    assert lookup(key.access_key_id) == secret
    assert store.gets == 2
    # Misses are cached for a shorter time.
    assert lookup("KZNOPENOPENOPENOPENO") is None
    assert lookup("KZNOPENOPENOPENOPENO") is None
    assert store.gets == 3
    clock.advance(timedelta(seconds=31))
    assert lookup("KZNOPENOPENOPENOPENO") is None
    assert store.gets == 4


def test_cached_lookup_is_bounded(clock: VirtualClock) -> None:
    store = InMemoryAccessKeyStore()
    lookup = CachedSecretLookup(store, clock, max_entries=10)
    for i in range(100):
        lookup(f"KZ{i:018d}")
    assert len(lookup._entries) == 10


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def test_boto3_pinpoint_client_with_a_dynamo_stored_key(aws: Aws) -> None:
    """End to end: key issued into DynamoDB+KMS, stock pinpoint client signs, verify_request accepts."""
    clock = VirtualClock(datetime.now(UTC))
    key, secret = create_access_key(aws.store, ["アプリ 1"], "sdk", clock)
    client = boto3.client(
        "pinpoint",
        endpoint_url="http://127.0.0.1:3000/local",
        region_name=REGION,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=secret,
    )

    def before_send(request: Any, **_kwargs: Any) -> None:
        raise _Captured(request)

    # register_first: our handler runs before any other before-send handler (moto registers one too).
    client.meta.events.register_first("before-send.pinpoint.*", before_send)
    with pytest.raises(_Captured) as captured:
        client.get_endpoint(ApplicationId="アプリ 1", EndpointId="ep+1 2")
    sent = captured.value.request
    parts = urlsplit(sent.url)
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in sent.headers.items()}
    headers["Host"] = parts.netloc
    req = SignedRequest(
        sent.method, parts.path, parse_qs(parts.query, keep_blank_values=True), headers, sent.body or b""
    )
    lookup = CachedSecretLookup(aws.store, clock)
    caller = verify_request(req, lookup, clock.now())
    assert caller.access_key_id == key.access_key_id
    authorize(lookup.key(caller.access_key_id), "アプリ 1")
    with pytest.raises(Forbidden):
        authorize(lookup.key(caller.access_key_id), "other")
    wrong = SignedRequest(sent.method, parts.path.replace("ep%2B1", "ep%2B2"), {}, headers, b"")
    with pytest.raises(Forbidden):
        verify_request(wrong, lookup, clock.now())
