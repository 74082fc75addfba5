"""Import and export jobs in the data table.

Layout (pk / sk):
- "APP#<app>" / "IMPORT#<job id>" | "EXPORT#<job id>"   the job: `doc` (Id, Type, CreationDate, Definition) as JSON;
      JobStatus, CompletionDate, the counters (numbers, updated with ADD), PiecesDone, Failures (list, capped),
      segment_id (for GetSegment*Jobs). Job ids start with their creation time, so the sort key orders by age.
- "JOBP#<job id>" / "<piece, 6 digits>"                   done-marker of one piece
A piece's marker and its counters are written in one TransactWriteItems: the marker's condition
(attribute_not_exists) makes a retried or duplicated piece a no-op, so nothing is ever counted twice.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from kizuna.adapters.dynamo_data import app_pk
from kizuna.clock import iso
from kizuna.domain.jobs import MAX_FAILURE_MESSAGES, PLANNABLE, PROCESSING, PieceOutcome

COUNTERS = ("TotalPieces", "CompletedPieces", "FailedPieces", "TotalProcessed", "TotalFailures")


def job_key(app_id: str, job_type: str, job_id: str) -> dict[str, Any]:
    return {"pk": {"S": app_pk(app_id)}, "sk": {"S": f"{job_type}#{job_id}"}}


def piece_key(job_id: str, piece: int) -> dict[str, Any]:
    return {"pk": {"S": f"JOBP#{job_id}"}, "sk": {"S": f"{piece:06d}"}}


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
            kwargs["ExclusiveStartKey"] = json.loads(base64.urlsafe_b64decode(token.encode()))
        page = self._ddb.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        next_token = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
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
        }
        update = (
            "ADD PiecesDone :done, CompletedPieces :completed, FailedPieces :failed, "
            "TotalProcessed :processed, TotalFailures :failures"
        )
        messages = outcome.messages[: self._failure_room(key)] if outcome.messages else []
        if messages:
            # Concurrent pieces may each see room and overshoot a little; readers cut the list at the cap.
            update += " SET Failures = list_append(if_not_exists(Failures, :empty), :messages)"
            values |= {":empty": {"L": []}, ":messages": {"L": [{"S": m} for m in messages]}}
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {**piece_key(job_id, piece), "outcome": {"S": "failed" if outcome.failed else "ok"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": key,
                            "UpdateExpression": update,
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
            return True
        except self._ddb.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False  # this piece was counted before
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                return False  # the job is gone (its app was deleted)
            raise

    def _failure_room(self, key: dict[str, Any]) -> int:
        item = self._ddb.get_item(TableName=self._table, Key=key, ProjectionExpression="Failures").get("Item", {})
        return max(0, MAX_FAILURE_MESSAGES - len(item.get("Failures", {}).get("L", [])))

    def finish_job(
        self, app_id: str, job_type: str, job_id: str, status: str, now: datetime, reason: str = ""
    ) -> bool:
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
    return job
