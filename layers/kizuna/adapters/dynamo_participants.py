"""Journey participants in the journeys table:
- "<app>#<journey>#<shard>" / "<endpoint id>"       the participant (doc, JSON); while WAITING also due_pk (the same
                                                    partition name) and due_at ("<ISO wake-up>#<endpoint id>"), the
                                                    sparse "due" index a wake-up queries up to now
- "<app>#<journey>#<shard>" / "#enrolled#<run>"     the shard's segment entry for that run is done
A wake-up reads only due participants (Query on the index) and the endpoints they stand for: its cost grows with
the participants that move, never with the journey's size."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kizuna.adapters.dynamo import batch_get, batch_write
from kizuna.clock import iso
from kizuna.domain.journey_steps import Participant

ENROLLED_PREFIX = "#enrolled#"


def _pk(app_id: str, journey_id: str, shard: int) -> str:
    return f"{app_id}#{journey_id}#{shard}"


def participant_doc(p: Participant) -> dict[str, Any]:
    return {
        "endpoint_id": p.endpoint_id,
        "activity": p.activity,
        "arrived_at": iso(p.arrived_at),
        "status": p.status,
        "wake_at": iso(p.wake_at) if p.wake_at else None,
        "messages": p.messages,
        "path": list(p.path),
    }


def participant_of(doc: dict[str, Any]) -> Participant:
    return Participant(
        endpoint_id=doc["endpoint_id"],
        activity=doc["activity"],
        arrived_at=datetime.fromisoformat(doc["arrived_at"]),
        status=doc["status"],
        wake_at=datetime.fromisoformat(doc["wake_at"]) if doc.get("wake_at") else None,
        messages=dict(doc.get("messages") or {}),
        path=tuple(doc.get("path") or ()),
    )


class DynamoParticipantStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    def get_many(self, app_id: str, journey_id: str, shard: int, endpoint_ids: Sequence[str]) -> dict[str, Participant]:
        pk = _pk(app_id, journey_id, shard)
        items = batch_get(self._ddb, self._table, [{"pk": {"S": pk}, "sk": {"S": e}} for e in endpoint_ids])
        return {i["sk"]["S"]: participant_of(json.loads(i["doc"]["S"])) for i in items}

    def put_many(self, app_id: str, journey_id: str, shard: int, participants: Sequence[Participant]) -> None:
        pk = _pk(app_id, journey_id, shard)
        items = []
        for p in participants:
            item = {"pk": {"S": pk}, "sk": {"S": p.endpoint_id}, "doc": {"S": json.dumps(participant_doc(p))}}
            if p.status == "WAITING" and p.wake_at is not None:
                item |= {"due_pk": {"S": pk}, "due_at": {"S": f"{iso(p.wake_at)}#{p.endpoint_id}"}}
            items.append(item)
        batch_write(self._ddb, self._table, puts=items)

    def due(self, app_id: str, journey_id: str, shard: int, now: datetime, limit: int) -> list[Participant]:
        page = self._ddb.query(
            TableName=self._table,
            IndexName="due",
            KeyConditionExpression="due_pk = :pk AND due_at <= :now",
            ExpressionAttributeValues={":pk": {"S": _pk(app_id, journey_id, shard)}, ":now": {"S": f"{iso(now)}#~"}},
            Limit=limit,
        )
        return [participant_of(json.loads(i["doc"]["S"])) for i in page.get("Items", [])]

    def next_wake(self, app_id: str, journey_id: str, shard: int) -> datetime | None:
        page = self._ddb.query(
            TableName=self._table,
            IndexName="due",
            KeyConditionExpression="due_pk = :pk",
            ExpressionAttributeValues={":pk": {"S": _pk(app_id, journey_id, shard)}},
            Limit=1,
        )
        items = page.get("Items", [])
        return datetime.fromisoformat(items[0]["due_at"]["S"].split("#", 1)[0]) if items else None

    def mark_enrolled(self, app_id: str, journey_id: str, run_id: str, shard: int) -> None:
        key = {"pk": {"S": _pk(app_id, journey_id, shard)}, "sk": {"S": f"{ENROLLED_PREFIX}{run_id}"}}
        self._ddb.put_item(TableName=self._table, Item=key)

    def enrolled(self, app_id: str, journey_id: str, run_id: str, shard: int) -> bool:
        key = {"pk": {"S": _pk(app_id, journey_id, shard)}, "sk": {"S": f"{ENROLLED_PREFIX}{run_id}"}}
        return "Item" in self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True)

    def all_participants(self, app_id: str, journey_id: str, shard: int) -> list[Participant]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": _pk(app_id, journey_id, shard)}},
        }
        found: list[Participant] = []
        while True:
            page = self._ddb.query(**kwargs)
            found += [participant_of(json.loads(i["doc"]["S"])) for i in page.get("Items", []) if "doc" in i]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
