"""Import and export jobs in the data table.

Layout (pk / sk):
- "APP#<app>" / "IMPORT#<job id>" | "EXPORT#<job id>"   the job: `doc` (Id, Type, CreationDate, Definition) as JSON;
      JobStatus, CompletionDate, the counters (numbers, updated with ADD), PiecesDone, Failures (list, capped),
      segment_id (for GetSegment*Jobs), CountedPieces (number set). Job ids start with their creation time, so the
      sort key orders by age.
A piece is counted by ONE conditional UpdateItem that adds its number to CountedPieces and its figures to the
counters, on condition the set does not hold it yet: a retried or duplicated piece is a no-op, nothing is counted
twice, and no transaction is needed (half the write cost, and nothing outside the job item to clean up). The set
stays small: a 10M-row import is 2,000 pieces, about 10 KB of the item's 400 KB.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kizuna.adapters.dynamo_data import app_pk
from kizuna.adapters.page_tokens import decode_start_key, encode_start_key
from kizuna.clock import iso
from kizuna.domain.jobs import MAX_FAILURE_MESSAGES, PLANNABLE, PROCESSING, PieceOutcome

COUNTERS = ("TotalPieces", "CompletedPieces", "FailedPieces", "TotalProcessed", "TotalFailures")
TALLY_PREFIX = "tally_"  # PieceOutcome.tallies, one Number attribute each


def job_key(app_id: str, job_type: str, job_id: str) -> dict[str, Any]:
    return {"pk": {"S": app_pk(app_id)}, "sk": {"S": f"{job_type}#{job_id}"}}


class DynamoJobStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._ddb = client

    def create_job(self, app_id: str, job_type: str, job: dict[str, Any]) -> None:
        static = {k: v for k, v in job.items() if k not in (*COUNTERS, "JobStatus", "Failures", "CompletionDate")}
        item = {
            **job_key(app_id, job_type, job["Id"]),
            "doc": {"S": json.dumps(static, ensure_ascii=False)},
            "JobStatus": {"S": job.get("JobStatus", "CREATED")},
            "PiecesDone": {"N": "0"},
            **{c: {"N": "0"} for c in COUNTERS},
        }
        segment_id = job.get("Definition", {}).get("SegmentId")
        if segment_id:
            item["segment_id"] = {"S": segment_id}
        self._ddb.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def get_job(self, app_id: str, job_type: str, job_id: str) -> dict[str, Any] | None:
        item = self._ddb.get_item(
            TableName=self._table, Key=job_key(app_id, job_type, job_id), ConsistentRead=True
        ).get("Item")
        return _job(item) if item else None

    def list_jobs(
        self, app_id: str, job_type: str, limit: int, token: str | None, segment_id: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": app_pk(app_id)}, ":prefix": {"S": f"{job_type}#"}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if segment_id:
            kwargs["FilterExpression"] = "segment_id = :segment"
            kwargs["ExpressionAttributeValues"][":segment"] = {"S": segment_id}
        if token:
            kwargs["ExclusiveStartKey"] = decode_start_key(token, app_pk(app_id))
        page = self._ddb.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        next_token = encode_start_key(last)
        return [_job(i) for i in page.get("Items", [])], next_token

    def start_job(self, app_id: str, job_type: str, job_id: str, total_pieces: int) -> bool:
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=job_key(app_id, job_type, job_id),
                UpdateExpression="SET JobStatus = :processing, TotalPieces = :total",
                ConditionExpression="JobStatus IN (" + ", ".join(f":s{i}" for i in range(len(PLANNABLE))) + ")",
                ExpressionAttributeValues={
                    ":processing": {"S": PROCESSING},
                    ":total": {"N": str(total_pieces)},
                    **{f":s{i}": {"S": s} for i, s in enumerate(PLANNABLE)},
                },
            )
            return True
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False

    def record_piece(self, app_id: str, job_type: str, job_id: str, piece: int, outcome: PieceOutcome) -> bool:
        key = job_key(app_id, job_type, job_id)
        values: dict[str, Any] = {
            ":done": {"N": "1"},
            ":completed": {"N": "0" if outcome.failed else "1"},
            ":failed": {"N": "1" if outcome.failed else "0"},
            ":processed": {"N": str(outcome.processed)},
            ":failures": {"N": str(outcome.failures)},
            ":pieces": {"NS": [str(piece)]},
            ":piece": {"N": str(piece)},
            ":spawned": {"N": str(outcome.spawned)},
        }
        update = (
            "ADD CountedPieces :pieces, PiecesDone :done, CompletedPieces :completed, FailedPieces :failed, "
            "TotalProcessed :processed, TotalFailures :failures, TotalPieces :spawned"
        )
        names: dict[str, str] = {}
        for i, (name, amount) in enumerate(sorted(outcome.tallies.items())):
            names[f"#t{i}"] = f"{TALLY_PREFIX}{name}"
            values[f":t{i}"] = {"N": str(amount)}
            update += f", #t{i} :t{i}"
        messages = outcome.messages[: self._failure_room(key)] if outcome.messages else []
        if messages:
            # Concurrent pieces may each see room and overshoot a little; readers cut the list at the cap.
            update += " SET Failures = list_append(if_not_exists(Failures, :empty), :messages)"
            values |= {":empty": {"L": []}, ":messages": {"L": [{"S": m} for m in messages]}}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=update,
                # attribute_exists: a job deleted with its app is not resurrected by a late piece.
                ConditionExpression="attribute_exists(pk) AND NOT contains(CountedPieces, :piece)",
                ExpressionAttributeValues=values,
                **({"ExpressionAttributeNames": names} if names else {}),
            )
            return True
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False  # counted before, or the job is gone

    def _failure_room(self, key: dict[str, Any]) -> int:
        item = self._ddb.get_item(TableName=self._table, Key=key, ProjectionExpression="Failures").get("Item", {})
        return max(0, MAX_FAILURE_MESSAGES - len(item.get("Failures", {}).get("L", [])))

    def finish_job(self, app_id: str, job_type: str, job_id: str, status: str, now: datetime, reason: str = "") -> bool:
        values: dict[str, Any] = {":status": {"S": status}, ":date": {"S": iso(now)}}
        update = "SET JobStatus = :status, CompletionDate = :date"
        if reason:
            active = (*PLANNABLE, PROCESSING)
            condition = "JobStatus IN (" + ", ".join(f":a{i}" for i in range(len(active))) + ")"
            values |= {f":a{i}": {"S": s} for i, s in enumerate(active)}
            update += ", Failures = list_append(if_not_exists(Failures, :empty), :reason)"
            values |= {":empty": {"L": []}, ":reason": {"L": [{"S": reason}]}}
        else:
            # Exactly once: only the caller that sees every piece counted, while still PROCESSING, succeeds.
            condition = "JobStatus = :processing AND PiecesDone = TotalPieces"
            values[":processing"] = {"S": PROCESSING}
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=job_key(app_id, job_type, job_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
            return True
        except self._ddb.exceptions.ConditionalCheckFailedException:
            return False


def _job(item: dict[str, Any]) -> dict[str, Any]:
    job = json.loads(item["doc"]["S"])
    job["JobStatus"] = item["JobStatus"]["S"]
    for counter in COUNTERS:
        job[counter] = int(item.get(counter, {}).get("N", "0"))
    job["Failures"] = [f["S"] for f in item.get("Failures", {}).get("L", [])][:MAX_FAILURE_MESSAGES]
    if "CompletionDate" in item:
        job["CompletionDate"] = item["CompletionDate"]["S"]
    tallies = {k.removeprefix(TALLY_PREFIX): int(v["N"]) for k, v in item.items() if k.startswith(TALLY_PREFIX)}
    if tallies:
        job["Tallies"] = tallies
    return job
