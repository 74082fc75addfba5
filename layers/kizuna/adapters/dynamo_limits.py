"""Shared counters in the limits table: rate buckets (one GCRA number per sender) and daily spend per app.

Both are contended by every concurrent sender, so each is one small item changed by a conditional write:
- "rate#<bucket>"                 tat (epoch seconds, the bucket's theoretical arrival time). A batch that fits is
                                  booked by one conditional update (an atomic add after a busy TAT); otherwise the
                                  refused write returns the TAT, and a part is booked optimistically (the write
                                  succeeds only if tat is still what was found, otherwise book after the new one)
- "spend#<app>#<channel>#<day>"   usd; ADD succeeds only while the sum stays within the cap
- "wa#<sender>"                   hours: {"YYYYMMDDHH": conversations opened}, v: a version for optimistic writes;
                                  the last 24 hours' sum is the WhatsApp tier's rolling count
Items expire (TTL) once they can no longer matter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from kizuna.domain.throttle import SAFETY, book, wait_estimate

MAX_CONFLICTS = 8
RATE_ITEM_TTL_S = 3600
SPEND_ITEM_TTL_S = 3 * 86400


class DynamoLimits:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client
        self._last_tat: dict[str, float] = {}  # per bucket: a hint of whether it is busy, never trusted for a booking

    def reserve(
        self, key: str, rate_per_s: float, costs: Sequence[float], horizon_s: float, now: datetime
    ) -> tuple[list[float | None], float]:
        pk = {"pk": {"S": f"rate#{key}"}}
        at = now.timestamp()
        booked = self._book_whole_batch(pk, key, rate_per_s, costs, horizon_s, at)
        if isinstance(booked, tuple):
            return booked
        old = booked  # the bucket as the refused write found it: no read needed to book a part of the batch
        for _ in range(MAX_CONFLICTS):
            tat, offsets = book(float(old) if old else 0.0, at, rate_per_s, costs, horizon_s)
            if all(o is None for o in offsets):
                return offsets, wait_estimate(tat, at)
            try:
                self._ddb.put_item(
                    TableName=self._table,
                    Item={**pk, "tat": {"N": repr(round(tat, 6))}, "expires_at": {"N": str(int(at) + RATE_ITEM_TTL_S)}},
                    ConditionExpression="attribute_not_exists(pk)" if old is None else "tat = :old",
                    **({} if old is None else {"ExpressionAttributeValues": {":old": {"N": old}}}),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                old = _refused_tat(exc)  # another sender booked in between: book after it
                continue
            self._last_tat[key] = tat
            return offsets, wait_estimate(tat, at)
        # Heavy contention: book nothing now; the caller waits a little and tries again.
        return [None] * len(costs), 1.0

    def _book_whole_batch(
        self, pk: dict[str, Any], key: str, rate_per_s: float, costs: Sequence[float], horizon_s: float, at: float
    ) -> tuple[list[float | None], float] | str | None:
        """The usual case in one conditional write and no read: the whole batch fits within the horizon, booked
        after a busy bucket's TAT (an atomic add: concurrent senders cannot conflict) or from now on an idle one.
        Which of the two is guessed from the last TAT this process saw. Returns the booking, or the TAT the refused
        write found (None: no bucket yet) for the general path."""
        effective = rate_per_s * SAFETY
        span = sum(costs) / effective
        last_start = (sum(costs) - costs[-1]) / effective  # the last slot's start after the first's
        if last_start > horizon_s:
            return self._read_tat(pk)
        expires = {":exp": {"N": str(int(at) + RATE_ITEM_TTL_S)}}
        busy = self._last_tat.get(key, 0.0) > at
        try:
            if busy:
                answer = self._ddb.update_item(
                    TableName=self._table,
                    Key=pk,
                    UpdateExpression="SET tat = tat + :span, expires_at = :exp",
                    ConditionExpression="tat BETWEEN :at AND :latest",
                    ExpressionAttributeValues={
                        ":span": {"N": repr(round(span, 6))},
                        ":at": {"N": repr(round(at, 6))},
                        ":latest": {"N": repr(round(at + horizon_s - last_start, 6))},
                        **expires,
                    },
                    ReturnValues="UPDATED_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                tat = float(answer["Attributes"]["tat"]["N"])
                start = tat - round(span, 6)
            else:
                start = at
                tat = round(at + span, 6)
                self._ddb.update_item(
                    TableName=self._table,
                    Key=pk,
                    UpdateExpression="SET tat = :tat, expires_at = :exp",
                    ConditionExpression="attribute_not_exists(tat) OR tat < :at",
                    ExpressionAttributeValues={":tat": {"N": repr(tat)}, ":at": {"N": repr(round(at, 6))}, **expires},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            return _refused_tat(exc)
        self._last_tat[key] = tat
        _, offsets = book(start, at, rate_per_s, costs, math.inf)
        return offsets, wait_estimate(tat, at)

    def _read_tat(self, pk: dict[str, Any]) -> str | None:
        item = self._ddb.get_item(TableName=self._table, Key=pk, ConsistentRead=True).get("Item")
        return item["tat"]["N"] if item else None

    def try_spend(self, app_id: str, channel: str, day: str, amount_usd: float, cap_usd: float) -> bool:
        amount = Decimal(str(round(amount_usd, 6)))
        limit = Decimal(str(round(cap_usd, 6))) - amount
        if limit < 0:
            return False
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"spend#{app_id}#{channel}#{day}"}},
                UpdateExpression="ADD usd :a SET expires_at = if_not_exists(expires_at, :exp)",
                ConditionExpression="attribute_not_exists(usd) OR usd <= :limit",
                ExpressionAttributeValues={
                    ":a": {"N": str(amount)},
                    ":limit": {"N": str(limit)},
                    ":exp": {"N": str(int(datetime.fromisoformat(day).timestamp()) + SPEND_ITEM_TTL_S)},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def refund(self, app_id: str, channel: str, day: str, amount_usd: float) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"spend#{app_id}#{channel}#{day}"}},
            UpdateExpression="ADD usd :a",
            ExpressionAttributeValues={":a": {"N": str(-Decimal(str(round(amount_usd, 6))))}},
        )

    def open_conversation(self, sender: str, now: datetime, cap: int) -> bool:
        key = {"pk": {"S": f"wa#{sender}"}}
        hour = now.strftime("%Y%m%d%H")
        oldest = (now - timedelta(hours=23)).strftime("%Y%m%d%H")
        for _ in range(MAX_CONFLICTS):
            item = self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item") or {}
            hours = {h: int(v["N"]) for h, v in item.get("hours", {}).get("M", {}).items()}
            if sum(n for h, n in hours.items() if h >= oldest) >= cap:
                return False
            kept = {h: {"N": str(n)} for h, n in hours.items() if h >= oldest}
            kept[hour] = {"N": str(hours.get(hour, 0) + 1)}
            version = int(item.get("v", {"N": "0"})["N"])
            try:
                self._ddb.put_item(
                    TableName=self._table,
                    Item={
                        **key,
                        "hours": {"M": kept},
                        "v": {"N": str(version + 1)},
                        "expires_at": {"N": str(int(now.timestamp()) + 2 * 86400)},
                    },  # fmt: skip
                    ConditionExpression="attribute_not_exists(pk) OR v = :v",
                    ExpressionAttributeValues={":v": {"N": str(version)}},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                continue
            return True
        return False


def _refused_tat(exc: ClientError) -> str | None:
    """The bucket's TAT as a refused conditional write found it (ReturnValuesOnConditionCheckFailure=ALL_OLD)."""
    if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
        raise exc
    item = exc.response.get("Item") or {}
    return item["tat"]["N"] if "tat" in item else None
