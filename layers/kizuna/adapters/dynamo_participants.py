"""Journey participants in the journeys table:
- "<app>#<journey>#<shard>" / "<endpoint id>"       the participant (doc, JSON); while WAITING also due_pk (the same
                                                    partition name) and due_at ("<ISO wake-up>#<endpoint id>"), the
                                                    sparse "due" index a wake-up queries up to now
                                                    and `rev`, the number of writes moves made (conditions)
- "<app>#<journey>#<shard>" / "#enrolled#<run>"     the shard's segment entry for that run is done (`at`, and the
                                                    segment `version` it read: the refresh rules compare them), or
                                                    under way (`pending` key, `after` the last endpoint id taken);
                                                    `rev`, which each entry batch's write is conditional on
- "<app>#<journey>#<shard>" / "#tally#<run>"        the shard's execution counters for that run: one Number per
                                                    counter (kizuna.domain.journey_metrics) and `updated_at`
- "<app>#<journey>#<shard>" / "#counted#<run>#<key>" counts that no participant write carries (refused entries)
                                                    were added once for `key`; expires after COUNTED_DAYS
- "<app>#<journey>#loop" / "#loop#<run>"            the run's wake record (kizuna.services.journey_wakes): `doc`
                                                    and `ver`, which every swap is conditional on
A wake-up reads only due participants (Query on the index) and the endpoints they stand for: its cost grows with
the participants that move, never with the journey's size.

Moves are counted, not scanned: each chunk of moved participants is one transaction of their new states (each
conditional on the `rev` it replaces) and an ADD of their counts to the shard's tally item. A count therefore exists
exactly when the state that records its move does — a wake-up that crashes after its sends but before this write
replays and counts once, and a second mover of the same participants (a resumed run's other loop) is refused instead
of counting twice. Execution metrics read 16 tally items, whatever the number of participants. Tallies are per shard
so that the 16 shards' parallel wake-ups never contend for one item."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from kizuna.adapters.dynamo import batch_get, batch_write
from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import iso
from kizuna.domain.journey_steps import Participant
from kizuna.ports_journeys import ENTRY_BATCH, Enrolment, EntryStep, LoopState, Move, ParticipantsMoved, Tally

ENROLLED_PREFIX = "#enrolled#"
TALLY_PREFIX = "#tally#"
COUNTED_PREFIX = "#counted#"
LOOP_PREFIX = "#loop#"
COUNTED_DAYS = 30  # far longer than any retry of the PutEvents request or wake-up that counted
MOVES_PER_TRANSACTION = 99  # and the tally update: DynamoDB's 100 actions per transaction
TRANSACTION_ATTEMPTS = 8
_RETRYABLE = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
_NOT_COUNTERS = frozenset({"pk", "sk", "updated_at"})


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
        "entries": p.entries,
        "entered_at": iso(p.entered_at) if p.entered_at else None,
        "entered_by": list(p.entered_by),
        **({"starts_at": iso(p.starts_at)} if p.starts_at else {}),
    }


def _of_item(item: dict[str, Any]) -> Participant:
    return replace(participant_of(json.loads(item["doc"]["S"])), rev=int(item.get("rev", {}).get("N", "0")))


def _item(pk: str, p: Participant, rev: int | None = None) -> dict[str, Any]:
    item = {"pk": {"S": pk}, "sk": {"S": p.endpoint_id}, "doc": {"S": json.dumps(participant_doc(p))}}
    if p.status == "WAITING" and p.wake_at is not None:
        item |= {"due_pk": {"S": pk}, "due_at": {"S": f"{iso(p.wake_at)}#{p.endpoint_id}"}}
    if rev is not None:
        item["rev"] = {"N": str(rev)}
    return item


def _marker(pk: str, run_id: str, enrolment: Enrolment | None) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": f"{ENROLLED_PREFIX}{run_id}"}}
    if enrolment is None:
        return item
    if enrolment.at is not None:
        item["at"] = {"S": iso(enrolment.at)}
    if enrolment.segment_version is not None:
        item["version"] = {"N": str(enrolment.segment_version)}
    if enrolment.pending is not None:
        item["pending"] = {"S": enrolment.pending}
    if enrolment.after is not None:
        item["after"] = {"S": enrolment.after}
    if enrolment.rev:
        item["rev"] = {"N": str(enrolment.rev)}
    return item


def participant_of(doc: dict[str, Any]) -> Participant:
    return Participant(
        endpoint_id=doc["endpoint_id"],
        activity=doc["activity"],
        arrived_at=datetime.fromisoformat(doc["arrived_at"]),
        status=doc["status"],
        wake_at=datetime.fromisoformat(doc["wake_at"]) if doc.get("wake_at") else None,
        messages=dict(doc.get("messages") or {}),
        path=tuple(doc.get("path") or ()),
        entries=int(doc.get("entries") or 1),
        entered_at=datetime.fromisoformat(doc["entered_at"]) if doc.get("entered_at") else None,
        entered_by=tuple(doc.get("entered_by") or ()),
        starts_at=datetime.fromisoformat(doc["starts_at"]) if doc.get("starts_at") else None,
    )


class DynamoParticipantStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    def get_many(self, app_id: str, journey_id: str, shard: int, endpoint_ids: Sequence[str]) -> dict[str, Participant]:
        pk = _pk(app_id, journey_id, shard)
        items = batch_get(self._ddb, self._table, [{"pk": {"S": pk}, "sk": {"S": e}} for e in endpoint_ids])
        return {i["sk"]["S"]: _of_item(i) for i in items}

    def put_many(self, app_id: str, journey_id: str, shard: int, participants: Sequence[Participant]) -> None:
        pk = _pk(app_id, journey_id, shard)
        batch_write(self._ddb, self._table, puts=[_item(pk, p) for p in participants])

    def due(self, app_id: str, journey_id: str, shard: int, now: datetime, limit: int) -> list[Participant]:
        page = self._ddb.query(
            TableName=self._table,
            IndexName="due",
            KeyConditionExpression="due_pk = :pk AND due_at <= :now",
            ExpressionAttributeValues={":pk": {"S": _pk(app_id, journey_id, shard)}, ":now": {"S": f"{iso(now)}#~"}},
            Limit=limit,
        )
        return [_of_item(i) for i in page.get("Items", [])]

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

    def mark_enrolled(
        self, app_id: str, journey_id: str, run_id: str, shard: int, enrolment: Enrolment | None = None
    ) -> None:
        self._ddb.put_item(TableName=self._table, Item=_marker(_pk(app_id, journey_id, shard), run_id, enrolment))

    def enrolled(self, app_id: str, journey_id: str, run_id: str, shard: int) -> bool:
        return self.enrolment(app_id, journey_id, run_id, shard) is not None

    def enrolment(self, app_id: str, journey_id: str, run_id: str, shard: int) -> Enrolment | None:
        key = {"pk": {"S": _pk(app_id, journey_id, shard)}, "sk": {"S": f"{ENROLLED_PREFIX}{run_id}"}}
        item = self._ddb.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return Enrolment(
            at=datetime.fromisoformat(item["at"]["S"]) if "at" in item else None,
            segment_version=int(item["version"]["N"]) if "version" in item else None,
            pending=item["pending"]["S"] if "pending" in item else None,
            after=item["after"]["S"] if "after" in item else None,
            rev=int(item["rev"]["N"]) if "rev" in item else 0,
        )

    def all_participants(self, app_id: str, journey_id: str, shard: int) -> list[Participant]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": _pk(app_id, journey_id, shard)}},
        }
        found: list[Participant] = []
        while True:
            page = self._ddb.query(**kwargs)
            found += [_of_item(i) for i in page.get("Items", []) if "doc" in i]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- moves and their counts ---------------------------------------------------------------------------------

    def record_moves(
        self, app_id: str, journey_id: str, run_id: str, shard: int, moves: Sequence[Move], at: datetime
    ) -> None:
        pk = _pk(app_id, journey_id, shard)
        for begin in range(0, len(moves), MOVES_PER_TRANSACTION):
            self._commit(pk, run_id, moves[begin : begin + MOVES_PER_TRANSACTION], at)

    def record_entry(
        self,
        app_id: str,
        journey_id: str,
        run_id: str,
        shard: int,
        moves: Sequence[Move],
        entry: EntryStep,
        at: datetime,
    ) -> None:
        if len(moves) > ENTRY_BATCH:
            raise ValueError(f"an entry batch writes at most {ENTRY_BATCH} moves, not {len(moves)}")
        pk = _pk(app_id, journey_id, shard)
        rev = entry.expected.rev if entry.expected is not None else 0
        item = _marker(pk, run_id, replace(entry.new, rev=rev + 1))
        marker: dict[str, Any] = {"TableName": self._table, "Item": item}
        if rev:
            marker |= {"ConditionExpression": "rev = :rev", "ExpressionAttributeValues": {":rev": {"N": str(rev)}}}
        else:  # the first batch of the run's entries into this shard (or a marker from before batches had revisions)
            marker["ConditionExpression"] = "attribute_not_exists(rev)"
        self._commit(pk, run_id, moves, at, entry.counts, {"Put": marker})

    def _commit(
        self,
        pk: str,
        run_id: str,
        moves: Sequence[Move],
        at: datetime,
        more: Mapping[str, int] | None = None,
        marker: dict[str, Any] | None = None,
    ) -> None:
        """One transaction: the moves, the tally ADD of their counts (and `more`), and the entry `marker` if any."""
        actions: list[dict[str, Any]] = []
        counts: Counter[str] = Counter(more or {})
        for move in moves:
            p = move.participant
            put: dict[str, Any] = {"TableName": self._table, "Item": _item(pk, p, p.rev + 1)}
            if p.rev:
                put |= {"ConditionExpression": "rev = :rev", "ExpressionAttributeValues": {":rev": {"N": str(p.rev)}}}
            else:  # its first counted write (a new participant, or one written before revisions existed)
                put["ConditionExpression"] = "attribute_not_exists(rev)"
            actions.append({"Put": put})
            counts.update(move.counts)
        actions.append({"Update": self._tally_update(pk, run_id, counts, at)})
        if marker is not None:
            actions.append(marker)
        # The same actions get the same token, so botocore's own retry of a transaction whose answer was lost is
        # not applied twice; each attempt of ours gets its own.
        digest = hashlib.sha256(json.dumps(actions, sort_keys=True).encode()).hexdigest()[:32]
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                self._ddb.transact_write_items(TransactItems=actions, ClientRequestToken=f"{digest}{attempt:02d}")
                return
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                codes = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in codes:
                failed = zip(moves, codes[: len(moves)], strict=True)
                moved = [m.participant.endpoint_id for m, code in failed if code == "ConditionalCheckFailed"]
                if marker is not None and codes[-1] == "ConditionalCheckFailed":
                    raise ParticipantsMoved("the shard's entry moved on meanwhile; nothing of the batch written")
                raise ParticipantsMoved(f"participants {moved[:5]} were moved meanwhile; nothing of the chunk written")
            if not _RETRYABLE & set(codes):
                raise RuntimeError(f"journey moves transaction cancelled: {codes}")
            time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
        raise RuntimeError("journey moves kept conflicting with other transactions")

    def _tally_update(self, pk: str, run_id: str, counts: Counter[str], at: datetime) -> dict[str, Any]:
        names, values = {"#at": "updated_at"}, {":at": {"S": iso(at)}}
        adds = []
        for i, (name, amount) in enumerate(sorted((n, a) for n, a in counts.items() if a)):
            names[f"#c{i}"], values[f":c{i}"] = name, {"N": str(amount)}
            adds.append(f"#c{i} :c{i}")
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": pk}, "sk": {"S": f"{TALLY_PREFIX}{run_id}"}},
            "UpdateExpression": (f"ADD {', '.join(adds)} " if adds else "") + "SET #at = :at",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def count_once(
        self, app_id: str, journey_id: str, run_id: str, shard: int, key: str, counts: Mapping[str, int], at: datetime
    ) -> bool:
        pk = _pk(app_id, journey_id, shard)
        marker = {
            "pk": {"S": pk},
            "sk": {"S": f"{COUNTED_PREFIX}{run_id}#{key}"},
            "expires_at": {"N": str(int((at + timedelta(days=COUNTED_DAYS)).timestamp()))},
        }
        actions = [
            {"Put": {"TableName": self._table, "Item": marker, "ConditionExpression": "attribute_not_exists(sk)"}},
            {"Update": self._tally_update(pk, run_id, Counter(counts), at)},
        ]
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                self._ddb.transact_write_items(TransactItems=actions)
                return True
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                codes = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if codes[:1] == ["ConditionalCheckFailed"]:
                return False  # counted already (a replay, or botocore's retry of an attempt whose answer was lost)
            if not _RETRYABLE & set(codes):
                raise RuntimeError(f"journey count transaction cancelled: {codes}")
            # e.g. a wake-up's moves of the same shard, transacting on the same tally item
            time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
        raise RuntimeError("journey counts kept conflicting with other transactions")

    def loop_state(self, app_id: str, journey_id: str, run_id: str) -> LoopState:
        found = self._ddb.get_item(TableName=self._table, Key=self._loop_key(app_id, journey_id, run_id),
                                   ConsistentRead=True).get("Item")  # fmt: skip
        if found is None:
            return LoopState()
        doc = json.loads(found["doc"]["S"])
        return LoopState(
            wake_at=datetime.fromisoformat(doc["wake_at"]) if doc.get("wake_at") else None,
            by=doc.get("by"),
            want=datetime.fromisoformat(doc["want"]) if doc.get("want") else None,
            version=int(found["ver"]["N"]),
        )

    def swap_loop_state(self, app_id: str, journey_id: str, run_id: str, expected: LoopState, new: LoopState) -> bool:
        doc = {
            "wake_at": iso(new.wake_at) if new.wake_at else None,
            "by": new.by,
            "want": iso(new.want) if new.want else None,
        }
        item = {**self._loop_key(app_id, journey_id, run_id), "doc": {"S": json.dumps(doc)},
                "ver": {"N": str(expected.version + 1)}}  # fmt: skip
        condition: dict[str, Any] = (
            {"ConditionExpression": "ver = :ver", "ExpressionAttributeValues": {":ver": {"N": str(expected.version)}}}
            if expected.version
            else {"ConditionExpression": "attribute_not_exists(ver)"}
        )
        try:
            self._ddb.put_item(TableName=self._table, Item=item, **condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _loop_key(self, app_id: str, journey_id: str, run_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"{app_id}#{journey_id}#loop"}, "sk": {"S": f"{LOOP_PREFIX}{run_id}"}}

    def tally(self, app_id: str, journey_id: str, run_id: str) -> Tally:
        keys = [
            {"pk": {"S": _pk(app_id, journey_id, shard)}, "sk": {"S": f"{TALLY_PREFIX}{run_id}"}}
            for shard in range(ENDPOINT_SHARDS)
        ]
        counts: Counter[str] = Counter()
        updated: list[datetime] = []
        for item in batch_get(self._ddb, self._table, keys):
            counts.update({k: int(v["N"]) for k, v in item.items() if k not in _NOT_COUNTERS and "N" in v})
            if "updated_at" in item:
                updated.append(datetime.fromisoformat(item["updated_at"]["S"]))
        return Tally(dict(counts), max(updated, default=None))
