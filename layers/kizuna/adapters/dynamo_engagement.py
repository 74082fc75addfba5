"""What journey participants did, in the data table, in the endpoint shard's engagement partition (DeleteApp's purge
of a shard removes it with the shard's endpoints):
- "JE#<app>#<shard>" / "<endpoint>#ask"                          the latest journey message sent to the endpoint on
                                                                 SMS or WhatsApp (message, journey, activity, when)
- "JE#<app>#<shard>" / "<endpoint>#m#<message id>"              replies to that message (a list, with the set of
                                                                 their MessageSids) and its first click
- "JE#<app>#<shard>" / "<endpoint>#e#<type>#<ms:013d>#<event>"  a custom event of a type an active journey's
                                                                 condition names (doc: attributes, metrics)
Endpoint ids, event types and event ids are percent-encoded in sort keys, so no "#" of theirs can make one
endpoint's prefix another's. Every item carries expires_at (the table's TTL attribute).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from kizuna.adapters.dynamo import batch_get, batch_write
from kizuna.clock import epoch_seconds, iso
from kizuna.domain.sharding import endpoint_shard
from kizuna.ports_journeys import Asked, EndpointEvent, Engagement, Reply

ASKED_AT_ONCE = 4  # BatchWriteItem requests of 25 side by side


def engagement_pk(app_id: str, shard: int) -> str:
    return f"JE#{app_id}#{shard}"


def _pk(app_id: str, endpoint_id: str) -> dict[str, str]:
    return {"S": engagement_pk(app_id, endpoint_shard(endpoint_id))}


def _q(value: str) -> str:
    return quote(value, safe="")  # "#" becomes %23


def _event_prefix(endpoint_id: str, event_type: str) -> str:
    return f"{_q(endpoint_id)}#e#{_q(event_type)}#"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class DynamoEngagementStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    def put_asked(self, app_id: str, asked: Sequence[Asked], expires: datetime) -> None:
        items = [
            {
                "pk": _pk(app_id, a.endpoint_id),
                "sk": {"S": f"{_q(a.endpoint_id)}#ask"},
                "endpoint_id": {"S": a.endpoint_id},
                "channel": {"S": a.channel},
                "message_id": {"S": a.message_id},
                "journey_id": {"S": a.journey_id},
                "activity_id": {"S": a.activity_id},
                "at": {"S": iso(a.at)},
                "expires_at": {"N": str(epoch_seconds(expires))},
            }
            for a in {a.endpoint_id: a for a in asked}.values()  # one put per key in a batch
        ]
        # One key per endpoint, so the requests may run side by side: a wake-up's 100 messages are one round trip.
        batch_write(self._ddb, self._table, puts=items, at_once=ASKED_AT_ONCE)

    def get_asked(self, app_id: str, endpoint_ids: Sequence[str]) -> dict[str, Asked]:
        keys = [{"pk": _pk(app_id, e), "sk": {"S": f"{_q(e)}#ask"}} for e in dict.fromkeys(endpoint_ids)]
        found = {}
        for item in batch_get(self._ddb, self._table, keys):
            asked = Asked(
                endpoint_id=item["endpoint_id"]["S"],
                channel=item["channel"]["S"],
                message_id=item["message_id"]["S"],
                journey_id=item["journey_id"]["S"],
                activity_id=item["activity_id"]["S"],
                at=datetime.fromisoformat(item["at"]["S"].replace("Z", "+00:00")),
            )
            found[asked.endpoint_id] = asked
        return found

    def add_reply(
        self, app_id: str, endpoint_id: str, message_id: str, reply: Reply, expires: datetime, keep: int
    ) -> bool:
        entry = {"M": {"sid": {"S": reply.sid}, "body": {"S": reply.body}, "at": {"S": iso(reply.at)}}}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=self._message_key(app_id, endpoint_id, message_id),
                UpdateExpression=(
                    "SET replies = list_append(if_not_exists(replies, :none), :one), expires_at = :exp "
                    "ADD reply_sids :sids"
                ),
                ConditionExpression=(
                    "(attribute_not_exists(reply_sids) OR NOT contains(reply_sids, :sid)) "
                    "AND (attribute_not_exists(replies) OR size(replies) < :keep)"
                ),
                ExpressionAttributeValues={
                    ":none": {"L": []},
                    ":one": {"L": [entry]},
                    ":exp": {"N": str(epoch_seconds(expires))},
                    ":sids": {"SS": [reply.sid]},
                    ":sid": {"S": reply.sid},
                    ":keep": {"N": str(keep)},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def add_click(self, app_id: str, endpoint_id: str, message_id: str, at: datetime, expires: datetime) -> None:
        self._ddb.update_item(
            TableName=self._table,
            Key=self._message_key(app_id, endpoint_id, message_id),
            UpdateExpression="SET clicked_at = if_not_exists(clicked_at, :at), expires_at = :exp",
            ExpressionAttributeValues={":at": {"S": iso(at)}, ":exp": {"N": str(epoch_seconds(expires))}},
        )

    def engagement(self, app_id: str, endpoint_id: str, message_id: str) -> Engagement:
        item = self._ddb.get_item(
            TableName=self._table, Key=self._message_key(app_id, endpoint_id, message_id), ConsistentRead=True
        ).get("Item")
        return _engagement(item) if item else Engagement()

    def engagement_many(self, app_id: str, messages: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Engagement]:
        keys = {(e, m): self._message_key(app_id, e, m) for e, m in dict.fromkeys(messages)}
        by_sk = {key["sk"]["S"]: pair for pair, key in keys.items()}
        found = {by_sk[i["sk"]["S"]]: _engagement(i) for i in batch_get(self._ddb, self._table, list(keys.values()))}
        return {pair: found.get(pair, Engagement()) for pair in keys}

    def put_events(self, app_id: str, events: Sequence[EndpointEvent], expires: datetime) -> None:
        items = {}
        for e in events:
            sk = f"{_event_prefix(e.endpoint_id, e.event_type)}{_ms(e.at):013d}#{_q(e.event_id)}"
            doc = {"event_id": e.event_id, "at": iso(e.at), "attributes": e.attributes, "metrics": e.metrics}
            items[sk] = {
                "pk": _pk(app_id, e.endpoint_id),
                "sk": {"S": sk},
                "doc": {"S": json.dumps(doc, ensure_ascii=False)},
                "expires_at": {"N": str(epoch_seconds(expires))},
            }
        batch_write(self._ddb, self._table, puts=list(items.values()))

    def events_since(
        self, app_id: str, endpoint_id: str, event_type: str, since: datetime, limit: int
    ) -> list[EndpointEvent]:
        prefix = _event_prefix(endpoint_id, event_type)
        page = self._ddb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :from AND :to",
            ExpressionAttributeValues={
                ":pk": _pk(app_id, endpoint_id),
                ":from": {"S": f"{prefix}{max(_ms(since), 0):013d}"},
                ":to": {"S": f"{prefix}:"},  # ":" sorts after every digit: the end of this type's events
            },
            ScanIndexForward=False,
            Limit=limit,
        )
        found = []
        for item in page.get("Items", []):
            doc = json.loads(item["doc"]["S"])
            found.append(
                EndpointEvent(
                    endpoint_id, doc["event_id"], event_type, _instant(doc["at"]), doc["attributes"], doc["metrics"]
                )
            )
        return found

    def forget(self, app_id: str, endpoint_ids: Sequence[str]) -> None:
        keys: list[dict[str, Any]] = []
        for endpoint_id in dict.fromkeys(endpoint_ids):
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": {":pk": _pk(app_id, endpoint_id), ":prefix": {"S": f"{_q(endpoint_id)}#"}},
                "ProjectionExpression": "pk, sk",
            }
            while True:
                page = self._ddb.query(**kwargs)
                keys += page.get("Items", [])
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        batch_write(self._ddb, self._table, deletes=keys)

    def _message_key(self, app_id: str, endpoint_id: str, message_id: str) -> dict[str, Any]:
        return {"pk": _pk(app_id, endpoint_id), "sk": {"S": f"{_q(endpoint_id)}#m#{message_id}"}}


def _engagement(item: dict[str, Any]) -> Engagement:
    replies = tuple(
        Reply(r["M"]["sid"]["S"], r["M"]["body"]["S"], _instant(r["M"]["at"]["S"]))
        for r in item.get("replies", {}).get("L", [])
    )
    clicked = item.get("clicked_at", {}).get("S")
    return Engagement(replies, _instant(clicked) if clicked else None)


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
