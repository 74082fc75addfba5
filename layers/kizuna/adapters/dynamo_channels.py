"""Channels, the messaging policy and address-level consent in the data table (the app's own partition).

Layout (pk "APP#<app>"):
- "CHANNEL#<type>"        the channel document (Pinpoint's channel response shape; WHATSAPP is Kizuna's)
- "CHANNEL#~POLICY"       the messaging policy; shares the prefix so one Query reads every rule a send needs
- "CONSENT#OPTOUT#<channel>#<hash>"   a keyword opt-out (STOP), kept after erasure so the STOP still holds
- "CONSENT#WINDOW#<channel>#<hash>"   last inbound message time (WhatsApp's 24-hour window); TTL after 2 days
- "OTP#<key>"             a one-time password's HMAC, attempts left, expiry (TTL); key = HMAC(destination, reference)
<hash> is HMAC-SHA256 of the address under the app's salt (the erasure salt): the table never holds the address.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from kizuna.adapters.dynamo import batch_get, batch_write
from kizuna.adapters.dynamo_data import ERASURE_SALT_SK, app_pk
from kizuna.clock import epoch_seconds, iso

CHANNEL_PREFIX = "CHANNEL#"
POLICY_SK = "CHANNEL#~POLICY"
WINDOW_TTL = timedelta(days=2)
ERASABLE_CHANNELS = ("SMS", "VOICE", "WHATSAPP")


class DynamoChannelStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client
        self._salts: dict[str, bytes] = {}

    # channels and policy ----------------------------------------------------------------------------------------
    def get_rules(self, app_id: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        page = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": app_pk(app_id)}, ":prefix": {"S": CHANNEL_PREFIX}},
            ConsistentRead=True,
        )
        channels: dict[str, dict[str, Any]] = {}
        policy: dict[str, Any] = {}
        for item in page.get("Items", []):
            doc = json.loads(item["doc"]["S"])
            if item["sk"]["S"] == POLICY_SK:
                policy = doc
            else:
                channels[item["sk"]["S"].removeprefix(CHANNEL_PREFIX)] = doc
        return channels, policy

    def put_channel(self, app_id: str, channel: str, doc: dict[str, Any]) -> None:
        self._put(app_id, CHANNEL_PREFIX + channel, doc)

    def delete_channel(self, app_id: str, channel: str) -> None:
        self._ddb.delete_item(
            TableName=self._table, Key={"pk": {"S": app_pk(app_id)}, "sk": {"S": CHANNEL_PREFIX + channel}}
        )

    def put_policy(self, app_id: str, policy: dict[str, Any]) -> None:
        self._put(app_id, POLICY_SK, policy)

    def _put(self, app_id: str, sk: str, doc: dict[str, Any]) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={"pk": {"S": app_pk(app_id)}, "sk": {"S": sk}, "doc": {"S": json.dumps(doc, ensure_ascii=False)}},
        )

    # consent ----------------------------------------------------------------------------------------------------
    def opted_out(self, app_id: str, channel: str, addresses: Sequence[str]) -> set[str]:
        by_key = {self._sk(app_id, "OPTOUT", channel, a): a for a in addresses}
        items = batch_get(self._ddb, self._table, [self._key(app_id, sk) for sk in by_key])
        return {by_key[i["sk"]["S"]] for i in items}

    def set_opt_out(self, app_id: str, channels: Sequence[str], address: str, opted_out: bool, now: datetime) -> None:
        keys = [self._key(app_id, self._sk(app_id, "OPTOUT", channel, address)) for channel in channels]
        if opted_out:
            batch_write(self._ddb, self._table, puts=[{**k, "at": {"S": iso(now)}} for k in keys])
        else:
            batch_write(self._ddb, self._table, deletes=keys)

    def last_inbound(self, app_id: str, channel: str, addresses: Sequence[str]) -> dict[str, datetime]:
        by_key = {self._sk(app_id, "WINDOW", channel, a): a for a in addresses}
        items = batch_get(self._ddb, self._table, [self._key(app_id, sk) for sk in by_key])
        return {by_key[i["sk"]["S"]]: datetime.fromisoformat(i["at"]["S"].replace("Z", "+00:00")) for i in items}

    def record_inbound(self, app_id: str, channel: str, address: str, now: datetime) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                **self._key(app_id, self._sk(app_id, "WINDOW", channel, address)),
                "at": {"S": iso(now)},
                "expires_at": {"N": str(epoch_seconds(now + WINDOW_TTL))},
            },
        )

    def forget_windows(self, app_id: str, addresses: Sequence[str]) -> None:
        keys = [
            self._key(app_id, self._sk(app_id, "WINDOW", channel, address))
            for address in addresses
            for channel in ERASABLE_CHANNELS
        ]
        batch_write(self._ddb, self._table, deletes=keys)

    def _key(self, app_id: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": app_pk(app_id)}, "sk": {"S": sk}}

    def _sk(self, app_id: str, kind: str, channel: str, address: str) -> str:
        digest = hmac.new(self.app_salt(app_id), address.encode(), hashlib.sha256).hexdigest()[:32]
        return f"CONSENT#{kind}#{channel}#{digest}"

    def app_salt(self, app_id: str) -> bytes:
        salt = self._salts.get(app_id)
        if salt is None:
            salt = self._salts[app_id] = read_or_create_salt(self._ddb, self._table, app_id)
        return salt

    # one-time passwords (services.otp): "OTP#<key>" with the code's HMAC, attempts left and a TTL -------------
    def put_otp(self, app_id: str, key: str, record: dict[str, Any], expires_at: datetime) -> None:
        self._ddb.put_item(
            TableName=self._table,
            Item={
                **self._key(app_id, f"OTP#{key}"),
                "doc": {"S": json.dumps(record)},
                "attempts": {"N": str(record["attempts"])},
                "expires_at": {"N": str(epoch_seconds(expires_at))},
            },
        )

    def get_otp(self, app_id: str, key: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(TableName=self._table, Key=self._key(app_id, f"OTP#{key}"), ConsistentRead=True).get(
            "Item"
        )
        return json.loads(item["doc"]["S"]) if item else None

    def spend_attempt(self, app_id: str, key: str) -> bool:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._key(app_id, f"OTP#{key}"),
                UpdateExpression="SET attempts = attempts - :one",
                ConditionExpression="attempts > :zero",
                ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}},
            )
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def delete_otp(self, app_id: str, key: str) -> None:
        self._ddb.delete_item(TableName=self._table, Key=self._key(app_id, f"OTP#{key}"))


def read_or_create_salt(ddb: Any, table: str, app_id: str) -> bytes:
    """The app's random salt (the erasure salt), created on first use by a conditional write: first writer wins."""
    key = {"pk": {"S": app_pk(app_id)}, "sk": {"S": ERASURE_SALT_SK}}
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    if item is None:
        try:
            ddb.put_item(
                TableName=table,
                Item={**key, "salt": {"S": secrets.token_hex(32)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:  # by code, not class: concurrent first uses (16 campaign pieces) race here
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    return item["salt"]["S"].encode()
