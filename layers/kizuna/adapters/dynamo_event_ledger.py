"""The event ledger table: one item per distinct event, pk `<app>#<endpoint>`, sk `<event id>`, holding the compact
event (`e`, JSON) and the S3 object that claimed it (`src`), expiring 91 days after the event's day.

A claim is a conditional PutItem: written if the event is new, or if it already names this object (an earlier
attempt at the same object). Anything else is a duplicate of an event another object holds.

Erasure scrubs an erased endpoint's items in place: the compact event keeps its type, time and ids, and loses its
attributes, metrics and session (what an app put there). The key stays until the TTL so a replay still counts once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from kizuna.adapters.dynamo import query_all
from kizuna.adapters.dynamo_aggregates import expires_at
from kizuna.domain.analytics_events import AnalyticsEvent, is_app_event

CLAIM_THREADS = 16
# What a scrubbed ledger record keeps (AnalyticsEvent.to_record's keys): the event's identity, type and time.
SCRUBBED_RECORD_FIELDS = frozenset({"app", "id", "t", "ts", "c"})


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

    # -- erasure (kizuna.ports_analytics.LedgerScrubber) -------------------------------------------------------

    def scrub_endpoints(self, app_id: str, endpoint_ids: Sequence[str]) -> int:
        scrubbed = 0
        for endpoint_id in sorted(set(endpoint_ids)):
            items = query_all(self._ddb, self._table, "pk", f"{app_id}#{endpoint_id}", projection="pk, sk, e")
            scrubbed += sum(self._scrub_item(item) for item in items)
        return scrubbed

    def scrub_events(self, keys: Sequence[tuple[str, str, str]]) -> int:
        scrubbed = 0
        for app_id, endpoint_id, event_id in sorted(set(keys)):
            item = self._ddb.get_item(
                TableName=self._table,
                Key={"pk": {"S": f"{app_id}#{endpoint_id}"}, "sk": {"S": event_id}},
                ProjectionExpression="pk, sk, e",
                ConsistentRead=True,
            ).get("Item")
            if item and self._scrub_item(item):
                scrubbed += 1
        return scrubbed

    def _scrub_item(self, item: dict[str, Any]) -> bool:
        record = json.loads(item["e"]["S"])
        if not is_app_event(str(record.get("t", ""))):
            return False  # system events keep only ids, statuses and the country (AnalyticsEvent): nothing to scrub
        kept = {k: v for k, v in record.items() if k in SCRUBBED_RECORD_FIELDS}
        if kept == record:
            return False  # scrubbed before
        self._ddb.update_item(
            TableName=self._table,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET e = :e",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":e": {"S": json.dumps(kept, separators=(",", ":"), sort_keys=True)}},
        )
        return True
