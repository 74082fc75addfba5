"""Consultations in their own table (catalog "consultations"). Every record change is a PutItem conditioned on the
version it was computed from; a settlement's revenue is added in the same transaction, so it counts once.

Layout (pk / sk):
- "APP#<app>" / "C#<id>"                      the consultation: doc (JSON), version, window_start/_end, and the
                                               sparse index keys: caller_key + pin_key while it is callable,
                                               call_key once a call has it, open_shard + check_at until settled
- "CALLS#<app>#<id>" / "<CallSid>#<status>"   one Twilio status callback's parameters (a replay is a no-op)
- "EVENT#<provider>#<event id>" / "-"         a provider event seen (Stripe evt_...), expiring after 30 days
- "REVENUE#<app>" / "<yyyy-mm-dd>#<currency>" the day's captured amount and count (the revenue KPI)
"""

from __future__ import annotations

import zlib
from datetime import date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from kizuna.adapters.page_tokens import decode_start_key, encode_start_key
from kizuna.clock import epoch_seconds
from kizuna.domain.consultations import Consultation
from kizuna.ports_consultations import RevenueDelta

OPEN_SHARDS = 4
EVENT_RETENTION = timedelta(days=30)


def _key(app_id: str, consultation_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"APP#{app_id}"}, "sk": {"S": f"C#{consultation_id}"}}


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _item(c: Consultation) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(c.app_id, c.consultation_id),
        "doc": {"S": c.to_doc()},
        "version": {"N": str(c.version)},
        "window_start": {"S": _iso(c.start_time)},
        "window_end": {"S": _iso(c.end_time)},
    }
    if c.callable:
        item["caller_key"] = {"S": f"{c.twilio_number}#{c.client_phone}"}
        item["pin_key"] = {"S": f"{c.twilio_number}#{c.pin}"}
    if c.call_sid:
        item["call_key"] = {"S": c.call_sid}
    check_at = c.check_at()
    if check_at is not None:
        shard = zlib.crc32(c.consultation_id.encode()) % OPEN_SHARDS
        item["open_shard"] = {"S": f"open#{shard}"}
        item["check_at"] = {"S": _iso(check_at)}
    return item


def _condition_failed(exc: ClientError) -> bool:
    code = exc.response["Error"]["Code"]
    if code == "TransactionCanceledException":
        reasons = exc.response.get("CancellationReasons") or []
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons) or not reasons
    return code == "ConditionalCheckFailedException"


class DynamoConsultationStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    def create(self, consultation: Consultation) -> bool:
        try:
            self._ddb.put_item(
                TableName=self._table, Item=_item(consultation), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def get(self, app_id: str, consultation_id: str) -> Consultation | None:
        item = self._ddb.get_item(TableName=self._table, Key=_key(app_id, consultation_id), ConsistentRead=True)
        return Consultation.from_doc(item["Item"]["doc"]["S"]) if "Item" in item else None

    def save(self, consultation: Consultation, revenue: RevenueDelta | None = None) -> bool:
        put = {
            "TableName": self._table,
            "Item": _item(consultation),
            "ConditionExpression": "version = :previous",
            "ExpressionAttributeValues": {":previous": {"N": str(consultation.version - 1)}},
        }
        try:
            if revenue is None:
                self._ddb.put_item(**put)
            else:
                self._ddb.transact_write_items(
                    TransactItems=[
                        {"Put": put},
                        {
                            "Update": {
                                "TableName": self._table,
                                "Key": {
                                    "pk": {"S": f"REVENUE#{consultation.app_id}"},
                                    "sk": {"S": f"{revenue.day.isoformat()}#{revenue.currency}"},
                                },
                                "UpdateExpression": "ADD amount :amount, settled :one",
                                "ExpressionAttributeValues": {
                                    ":amount": {"N": str(revenue.amount)},
                                    ":one": {"N": "1"},
                                },
                            }
                        },
                    ]
                )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def list(self, app_id: str, limit: int, token: str | None) -> tuple[list[Consultation], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :c)",
            "ExpressionAttributeValues": {":pk": {"S": f"APP#{app_id}"}, ":c": {"S": "C#"}},
            "Limit": limit,
        }
        if token:
            kwargs["ExclusiveStartKey"] = decode_start_key(token, f"APP#{app_id}")
        page = self._ddb.query(**kwargs)
        found = [Consultation.from_doc(i["doc"]["S"]) for i in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return found, encode_start_key(last)

    def _callable(self, index: str, attribute: str, value: str, now: datetime) -> list[Consultation]:
        page = self._ddb.query(
            TableName=self._table,
            IndexName=index,
            KeyConditionExpression="#k = :v AND window_start <= :now",
            ExpressionAttributeNames={"#k": attribute},
            ExpressionAttributeValues={":v": {"S": value}, ":now": {"S": _iso(now)}},
            ScanIndexForward=False,
            Limit=20,
        )
        found = [Consultation.from_doc(i["doc"]["S"]) for i in page.get("Items", [])]
        return [c for c in found if c.callable and c.in_window(now)]

    def find_by_caller(self, twilio_number: str, caller: str, now: datetime) -> Consultation | None:
        found = self._callable("by_caller", "caller_key", f"{twilio_number}#{caller}", now)
        return found[0] if found else None

    def find_by_pin(self, twilio_number: str, pin: str, now: datetime) -> Consultation | None:
        found = self._callable("by_pin", "pin_key", f"{twilio_number}#{pin}", now)
        return found[0] if found else None

    def find_by_call(self, call_sid: str) -> Consultation | None:
        page = self._ddb.query(
            TableName=self._table,
            IndexName="by_call",
            KeyConditionExpression="call_key = :sid",
            ExpressionAttributeValues={":sid": {"S": call_sid}},
        )
        items = page.get("Items", [])
        return Consultation.from_doc(items[0]["doc"]["S"]) if items else None

    def pin_in_use(self, twilio_number: str, pin: str, start: datetime, end: datetime) -> bool:
        page = self._ddb.query(
            TableName=self._table,
            IndexName="by_pin",
            KeyConditionExpression="pin_key = :v AND window_start <= :end",
            ExpressionAttributeValues={":v": {"S": f"{twilio_number}#{pin}"}, ":end": {"S": _iso(end)}},
        )
        return any(i["window_end"]["S"] >= _iso(start) for i in page.get("Items", []))

    def due(self, now: datetime, limit: int) -> list[Consultation]:
        found: list[Consultation] = []
        for shard in range(OPEN_SHARDS):
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": "open",
                "KeyConditionExpression": "open_shard = :s AND check_at <= :now",
                "ExpressionAttributeValues": {":s": {"S": f"open#{shard}"}, ":now": {"S": _iso(now)}},
            }
            while len(found) < limit:
                page = self._ddb.query(**kwargs)
                found.extend(Consultation.from_doc(i["doc"]["S"]) for i in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

    def record_call_event(self, app_id: str, consultation_id: str, params: dict[str, str], now: datetime) -> bool:
        item = {
            "pk": {"S": f"CALLS#{app_id}#{consultation_id}"},
            "sk": {"S": f"{params.get('CallSid', '')}#{params.get('CallStatus', '')}"},
            "params": {"M": {k: {"S": str(v)} for k, v in params.items()}},
            "received_at": {"S": _iso(now)},
        }
        try:
            self._ddb.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def call_log(self, app_id: str, consultation_id: str) -> list[dict[str, str]]:
        page = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"CALLS#{app_id}#{consultation_id}"}},
            ConsistentRead=True,
        )
        entries = [
            ({k: v["S"] for k, v in i["params"]["M"].items()}, i["received_at"]["S"]) for i in page.get("Items", [])
        ]
        return [params for params, _ in sorted(entries, key=lambda e: e[1])]

    def provider_event_seen(self, provider: str, event_id: str) -> bool:
        key = {"pk": {"S": f"EVENT#{provider}#{event_id}"}, "sk": {"S": "-"}}
        return "Item" in self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True)

    def claim_provider_event(self, provider: str, event_id: str, now: datetime) -> bool:
        item = {
            "pk": {"S": f"EVENT#{provider}#{event_id}"},
            "sk": {"S": "-"},
            "received_at": {"S": _iso(now)},
            "expires_at": {"N": str(epoch_seconds(now + EVENT_RETENTION))},
        }
        try:
            self._ddb.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    def revenue(self, app_id: str, start: date, end: date) -> list[dict[str, Any]]:
        page = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":pk": {"S": f"REVENUE#{app_id}"},
                ":a": {"S": start.isoformat()},
                ":b": {"S": f"{end.isoformat()}#~"},
            },
            ConsistentRead=True,
        )
        rows = []
        for item in page.get("Items", []):
            day, _, currency = item["sk"]["S"].partition("#")
            rows.append(
                {
                    "day": day,
                    "currency": currency,
                    "amount": int(item["amount"]["N"]),
                    "count": int(item["settled"]["N"]),
                }
            )
        return rows
