"""The event ledger table: one item per distinct event, pk `<app>#<endpoint>`, sk `<event id>`, holding the compact
event (`e`, JSON) and the S3 object that claimed it (`src`), expiring 91 days after the event's day.

A claim is a conditional PutItem: written if the event is new, or if it already names this object (an earlier
attempt at the same object). Anything else is a duplicate of an event another object holds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from kizuna.adapters.dynamo_aggregates import expires_at
from kizuna.domain.analytics_events import AnalyticsEvent

CLAIM_THREADS = 16


def ledger_item(event: AnalyticsEvent, source: str) -> dict[str, Any]:
    return {
        "pk": {"S": f"{event.app_id}#{event.client_id}"},
        "sk": {"S": event.event_id},
        "src": {"S": source},
        "e": {"S": json.dumps(event.to_record(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)},
        "expires_at": {"N": str(expires_at(event.day))},
    }


class DynamoEventLedger:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    def claim(self, events: Sequence[AnalyticsEvent], source: str) -> list[AnalyticsEvent]:
        unique = list({(e.app_id, e.client_id, e.event_id): e for e in events}.values())
        if len(unique) <= 1:
            return [e for e in unique if self._claim(e, source)]
        with ThreadPoolExecutor(max_workers=min(CLAIM_THREADS, len(unique))) as pool:
            held = list(pool.map(lambda e: self._claim(e, source), unique))
        return [e for e, ok in zip(unique, held, strict=True) if ok]

    def _claim(self, event: AnalyticsEvent, source: str) -> bool:
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=ledger_item(event, source),
                ConditionExpression="attribute_not_exists(pk) OR src = :s",
                ExpressionAttributeValues={":s": {"S": source}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
