"""Delivery records in the messages table. Every state change is a conditional write, so concurrent senders and
callbacks arriving in any order can only move a record forward."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from kizuna.adapters.dynamo import GET_CHUNK, batch_get
from kizuna.catalog import MESSAGE_RETENTION_DAYS, MESSAGES_OPEN_INDEX
from kizuna.clock import epoch_seconds, iso
from kizuna.domain.messages import (
    FAILURES,
    OPEN_SHARDS,
    TERMINAL,
    Advance,
    Claim,
    ClaimResult,
    DeliveryRecord,
    OutboundMessage,
    ProviderReceipt,
    StatusUpdate,
    advances,
    decide_claim,
    rank,
)
from kizuna.errors import StatusNotApplied

_NAMES = {"#s": "status"}  # "status" and "segments" are DynamoDB reserved words
_SENT_NAMES = {"#s": "status", "#seg": "segments"}
# Each failed attempt means another write moved the record first; the ladder has few steps, so more than this many
# is a record being fought over (a sender's re-claim loop), answered with a retry rather than a guess.
ADVANCE_ATTEMPTS = 8


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def open_shard(message_id: str) -> str:
    return f"open#{zlib.crc32(message_id.encode()) % OPEN_SHARDS}"


class DynamoMessageStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    def claim(self, message: OutboundMessage, now: datetime, lease_s: int) -> ClaimResult:
        now_iso = iso(now)
        lease_until = epoch_seconds(now) + lease_s
        item = {
            "message_id": {"S": message.message_id},
            "app_id": {"S": message.app_id},
            "channel": {"S": message.channel},
            "status": {"S": "sending"},
            "status_rank": {"N": str(rank("sending"))},
            "attempts": {"N": "1"},
            "outcome_pending": {"BOOL": True},
            "lease_until": {"N": str(lease_until)},
            "first_attempt_at": {"S": now_iso},
            "updated_at": {"S": now_iso},
            "open_shard": {"S": open_shard(message.message_id)},
            "expires_at": {"N": str(epoch_seconds(now + timedelta(days=MESSAGE_RETENTION_DAYS)))},
        }
        if message.endpoint_id:
            item["endpoint_id"] = {"S": message.endpoint_id}
        if message.message_type != "TRANSACTIONAL":
            item["message_type"] = {"S": message.message_type}
        if message.country:
            item["country"] = {"S": message.country}
        if message.attribution:
            item["attribution"] = {"M": {k: {"S": v} for k, v in message.attribution.items()}}
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(message_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return ClaimResult(Claim.CLAIMED, _record(item))
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            old = exc.response.get("Item") or self._get_item(message.message_id)
        existing = _record(old)
        old_lease = int(old["lease_until"]["N"]) if "lease_until" in old else None
        decision = decide_claim(existing, old_lease, epoch_seconds(now))
        if decision in (Claim.DONE, Claim.BUSY):
            return ClaimResult(decision, existing)
        # Re-claim: only if nobody else re-claimed since we read it (same status and lease).
        values = {
            ":sending": {"S": "sending"},
            ":r": {"N": str(rank("sending"))},
            ":lease": {"N": str(lease_until)},
            ":now": {"S": now_iso},
            ":true": {"BOOL": True},
            ":one": {"N": "1"},
            ":old_status": {"S": existing.status},
        }
        if old_lease is None:
            condition = "#s = :old_status AND attribute_not_exists(lease_until)"
        else:
            condition = "#s = :old_status AND lease_until = :old_lease"
            values[":old_lease"] = {"N": str(old_lease)}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"message_id": {"S": message.message_id}},
                UpdateExpression=(
                    "SET #s = :sending, status_rank = :r, lease_until = :lease, updated_at = :now, "
                    "outcome_pending = :true, attempts = attempts + :one"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return ClaimResult(Claim.BUSY, existing)
            raise
        return ClaimResult(decision, existing)

    def record_sent(self, message_id: str, receipt: ProviderReceipt, now: datetime) -> None:
        values = {
            ":pid": {"S": receipt.provider_id},
            ":seg": {"N": str(receipt.segments)},
            ":false": {"BOOL": False},
            ":now": {"S": iso(now)},
        }
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"message_id": {"S": message_id}},
                UpdateExpression=(
                    "SET provider_id = :pid, #seg = :seg, outcome_pending = :false, updated_at = :now, "
                    "#s = :queued, status_rank = :r"
                ),
                ConditionExpression="status_rank < :r",
                ExpressionAttributeNames=_SENT_NAMES,
                ExpressionAttributeValues={**values, ":queued": {"S": "queued"}, ":r": {"N": str(rank("queued"))}},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            # A callback already moved the status further: keep it, only attach the provider id.
            self._ddb.update_item(
                TableName=self._table,
                Key={"message_id": {"S": message_id}},
                UpdateExpression="SET provider_id = :pid, #seg = :seg, outcome_pending = :false, updated_at = :now",
                ExpressionAttributeNames={"#seg": "segments"},
                ExpressionAttributeValues=values,
            )

    def record_failed(self, message_id: str, code: str, reason: str, now: datetime, status: str = "failed") -> None:
        # The outcome is known, so a later delivery of the message must not look it up.
        self._advance(message_id, status, code, now, reason=reason, settled=True)

    def release(self, message_id: str, reason: str, now: datetime) -> None:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"message_id": {"S": message_id}},
                UpdateExpression=(
                    "SET #s = :accepted, status_rank = :r, outcome_pending = :false, updated_at = :now, "
                    "reason = :reason REMOVE lease_until"
                ),
                ConditionExpression="#s = :sending",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={
                    ":accepted": {"S": "accepted"},
                    ":sending": {"S": "sending"},
                    ":r": {"N": str(rank("accepted"))},
                    ":false": {"BOOL": False},
                    ":now": {"S": iso(now)},
                    ":reason": {"S": reason[:500]},
                },
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    def advance_status(
        self, message_id: str, status: str, error_code: str | None, now: datetime, provider_id: str | None = None
    ) -> StatusUpdate:
        # Read, decide with the ladder, write only if the status is still the one decided from: a concurrent
        # callback that moves the record first makes the write fail, and this one is decided again from there.
        for _ in range(ADVANCE_ATTEMPTS):
            item = self._get_item(message_id)
            if item is None:
                return StatusUpdate(Advance.UNKNOWN)
            before = _record(item)
            if not advances(before.status, status):
                return StatusUpdate(Advance.UNCHANGED, before)
            record = self._advance(message_id, status, error_code, now, provider_id=provider_id, before=before)
            if record is not None:
                return StatusUpdate(Advance.APPLIED, record, before)
        raise StatusNotApplied(f"the delivery record of {message_id} kept changing; {status} not applied yet")

    def _advance(
        self,
        message_id: str,
        status: str,
        error_code: str | None,
        now: datetime,
        reason: str | None = None,
        settled: bool = False,
        provider_id: str | None = None,
        before: DeliveryRecord | None = None,
    ) -> DeliveryRecord | None:
        """Set the status; None when the condition fails. With `before` (a callback), only if the record still has
        the status it was decided from; without (the sender's own outcome), only if it has no final outcome yet."""
        sets = "SET #s = :st, status_rank = :r, updated_at = :now"
        removes = ["open_shard", "lease_until"] if status in TERMINAL else []
        values: dict[str, Any] = {":st": {"S": status}, ":r": {"N": str(rank(status))}, ":now": {"S": iso(now)}}
        if error_code:
            sets += ", error_code = :code"
            values[":code"] = {"S": error_code}
        if reason:
            sets += ", reason = :reason"
            values[":reason"] = {"S": reason[:500]}
        if settled:
            sets += ", outcome_pending = :false"
            values[":false"] = {"BOOL": False}
        if provider_id:
            sets += ", provider_id = if_not_exists(provider_id, :pid)"
            values[":pid"] = {"S": provider_id}
        if before is not None and before.status in FAILURES:
            # Evidence of delivery corrects the failure: keep what it was, so its events can take it back.
            sets += ", corrected_status = :was"
            values[":was"] = {"S": before.status}
            if before.error_code:
                sets += ", corrected_error_code = :was_code"
                values[":was_code"] = {"S": before.error_code}
            if not error_code:
                removes.append("error_code")
        if before is not None:
            condition = "#s = :before"
            values[":before"] = {"S": before.status}
        else:
            condition = "attribute_exists(message_id) AND status_rank < :r"
        update = sets + (f" REMOVE {', '.join(removes)}" if removes else "")
        try:
            response = self._ddb.update_item(
                TableName=self._table,
                Key={"message_id": {"S": message_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return _record(response["Attributes"])

    def claim_inbound(self, provider_id: str, now: datetime) -> bool:
        """An inbound message's marker ("in#<MessageSid>"), kept two days: long past Twilio's webhook retries."""
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={
                    "message_id": {"S": f"in#{provider_id}"},
                    "app_id": {"S": "inbound"},
                    "status": {"S": "received"},
                    "expires_at": {"N": str(epoch_seconds(now + timedelta(days=2)))},
                },
                ConditionExpression="attribute_not_exists(message_id)",
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def release_inbound(self, provider_id: str) -> None:
        self._ddb.delete_item(TableName=self._table, Key={"message_id": {"S": f"in#{provider_id}"}})

    def get(self, message_id: str) -> DeliveryRecord | None:
        item = self._get_item(message_id)
        return _record(item) if item else None

    def get_many(self, message_ids: Sequence[str]) -> dict[str, DeliveryRecord]:
        keys = [{"message_id": {"S": m}} for m in dict.fromkeys(message_ids)]
        return {item["message_id"]["S"]: _record(item) for item in batch_get(self._ddb, self._table, keys)}

    def _get_item(self, message_id: str) -> dict[str, Any] | None:
        return self._ddb.get_item(
            TableName=self._table, Key={"message_id": {"S": message_id}}, ConsistentRead=True
        ).get("Item")

    def stale(self, states: Iterable[str], older_than: datetime, limit: int) -> list[DeliveryRecord]:
        """Open records in `states` not written since `older_than`. The open index holds keys only, sorted by when
        each record opened (callbacks never touch it), so it yields the records opened before the cutoff, a
        superset of the stale ones; their status and last write are read from the table, 100 keys at a time."""
        wanted = set(states)
        cutoff = iso(older_than)
        found: list[DeliveryRecord] = []
        for shard in range(OPEN_SHARDS):
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": MESSAGES_OPEN_INDEX,
                # A record is written when it opens, so one updated before the cutoff opened before it too.
                "KeyConditionExpression": "open_shard = :s AND first_attempt_at < :t",
                "ExpressionAttributeValues": {":s": {"S": f"open#{shard}"}, ":t": {"S": cutoff}},
                "Limit": GET_CHUNK,
            }
            while len(found) < limit:
                page = self._ddb.query(**kwargs)
                ids = [item["message_id"]["S"] for item in page.get("Items", [])]
                records = self.get_many(ids)
                found.extend(
                    r
                    for r in (records.get(m) for m in ids)
                    # The index is eventually consistent: a record may have closed or moved on since.
                    if r is not None and r.status in wanted and (r.updated_at or "") < cutoff
                )
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]


def _record(item: dict[str, Any]) -> DeliveryRecord:
    def s(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    return DeliveryRecord(
        message_id=item["message_id"]["S"],
        app_id=item["app_id"]["S"],
        status=item["status"]["S"],
        channel=s("channel") or "SMS",
        provider_id=s("provider_id"),
        attempts=int(item.get("attempts", {"N": "0"})["N"]),
        outcome_pending=item.get("outcome_pending", {"BOOL": False})["BOOL"],
        error_code=s("error_code"),
        reason=s("reason"),
        segments=int(item["segments"]["N"]) if "segments" in item else None,
        endpoint_id=s("endpoint_id"),
        first_attempt_at=s("first_attempt_at"),
        updated_at=s("updated_at"),
        message_type=s("message_type") or "TRANSACTIONAL",
        country=s("country"),
        attribution={k: v["S"] for k, v in item.get("attribution", {}).get("M", {}).items()},
        corrected_status=s("corrected_status"),
        corrected_error_code=s("corrected_error_code"),
    )
