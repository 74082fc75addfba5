"""In-memory fakes for import/export jobs: the job store, the jobs queue and S3 (as kizuna.services.import_jobs
uses it). Same contracts as the real adapters: a piece is counted once, finishing happens once."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from kizuna.clock import iso
from kizuna.domain.jobs import MAX_FAILURE_MESSAGES, PLANNABLE, PROCESSING, JobMessage, PieceOutcome, PieceRefused

COUNTERS = ("TotalPieces", "CompletedPieces", "FailedPieces", "TotalProcessed", "TotalFailures")


class InMemoryJobStore:
    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.pieces: set[tuple[str, str, str, int]] = set()

    def create_job(self, app_id: str, job_type: str, job: dict[str, Any]) -> None:
        self.jobs[(app_id, job_type, job["Id"])] = {
            **copy.deepcopy(job),
            **{c: 0 for c in COUNTERS},
            "Failures": [],
        }

    def get_job(self, app_id: str, job_type: str, job_id: str) -> dict[str, Any] | None:
        job = self.jobs.get((app_id, job_type, job_id))
        return copy.deepcopy(job) if job else None

    def list_jobs(
        self, app_id: str, job_type: str, limit: int, token: str | None, segment_id: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        ids = sorted((i for (a, t, i) in self.jobs if a == app_id and t == job_type), reverse=True)
        jobs = [self.jobs[(app_id, job_type, i)] for i in ids]
        if segment_id:
            jobs = [j for j in jobs if j["Definition"].get("SegmentId") == segment_id]
        start = int(token) if token else 0
        page = [copy.deepcopy(j) for j in jobs[start : start + limit]]
        return page, str(start + limit) if start + limit < len(jobs) else None

    def start_job(self, app_id: str, job_type: str, job_id: str, total_pieces: int) -> bool:
        job = self.jobs[(app_id, job_type, job_id)]
        if job["JobStatus"] not in PLANNABLE:
            return False
        job.update(JobStatus=PROCESSING, TotalPieces=total_pieces)
        return True

    def record_piece(self, app_id: str, job_type: str, job_id: str, piece: int, outcome: PieceOutcome) -> bool:
        if (app_id, job_type, job_id, piece) in self.pieces:
            return False
        self.pieces.add((app_id, job_type, job_id, piece))
        job = self.jobs[(app_id, job_type, job_id)]
        job["TotalPieces"] += outcome.spawned
        job["CompletedPieces" if not outcome.failed else "FailedPieces"] += 1
        job["TotalProcessed"] += outcome.processed
        job["TotalFailures"] += outcome.failures
        job["Failures"] = (job["Failures"] + outcome.messages)[:MAX_FAILURE_MESSAGES]
        for name, amount in outcome.tallies.items():
            job.setdefault("Tallies", {})[name] = job.get("Tallies", {}).get(name, 0) + amount
        return True

    def finish_job(self, app_id: str, job_type: str, job_id: str, status: str, now: datetime, reason: str = "") -> bool:
        job = self.jobs.get((app_id, job_type, job_id))
        if job is None:
            return False
        if reason:
            if job["JobStatus"] not in (*PLANNABLE, PROCESSING):
                return False
            job["Failures"] = (job["Failures"] + [reason])[:MAX_FAILURE_MESSAGES]
        elif job["JobStatus"] != PROCESSING or job["CompletedPieces"] + job["FailedPieces"] != job["TotalPieces"]:
            return False
        job.update(JobStatus=status, CompletionDate=iso(now))
        return True


class InMemoryJobQueue:
    def __init__(self) -> None:
        self.messages: list[JobMessage] = []
        self.delays: list[int] = []  # each message's delay, in enqueue order

    def enqueue(self, messages: Sequence[JobMessage], delay_s: int = 0) -> None:
        self.messages.extend(messages)
        self.delays.extend(delay_s for _ in messages)

    def take(self) -> list[JobMessage]:
        taken, self.messages, self.delays = self.messages, [], []
        return taken


class InMemoryObjects:
    """Buckets of bytes; `chunk` sets how GetObject streams (small chunks exercise the planner's seams)."""

    def __init__(self, chunk: int = 64 * 1024) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.roles: list[tuple[str, str | None]] = []
        self.chunk = chunk
        self.range_reads = 0

    def __call__(self, role_arn: str, external_id: str | None) -> InMemoryObjects:
        self.roles.append((role_arn, external_id))
        return self

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.objects[(bucket, key)] = data

    def etag(self, bucket: str, key: str) -> str:
        return hashlib.md5(self.objects[(bucket, key)]).hexdigest()  # noqa: S324 (S3's ETag is an MD5)

    def list_objects(self, bucket: str, prefix: str) -> list[tuple[str, int, str]]:
        if not any(b == bucket for b, _ in self.objects):
            raise PieceRefused(f"bucket {bucket} does not exist")
        return sorted(
            (k, len(v), self.etag(b, k)) for (b, k), v in self.objects.items() if b == bucket and k.startswith(prefix)
        )

    def _get(self, bucket: str, key: str, etag: str | None) -> bytes:
        data = self.objects.get((bucket, key))
        if data is None:
            raise PieceRefused(f"s3://{bucket}/{key} does not exist")
        if etag and etag != self.etag(bucket, key):
            raise PieceRefused(f"s3://{bucket}/{key} changed after the job was planned")
        return data

    def stream(self, bucket: str, key: str, etag: str | None = None) -> Iterator[bytes]:
        data = self._get(bucket, key, etag)
        for start in range(0, len(data), self.chunk):
            yield data[start : start + self.chunk]

    def read_range(self, bucket: str, key: str, start: int, end: int, etag: str | None = None) -> bytes:
        self.range_reads += 1
        return self._get(bucket, key, etag)[start : end + 1]

    def upload(self, bucket: str, key: str, chunks: Iterator[bytes], content_type: str) -> None:
        self.objects[(bucket, key)] = b"".join(chunks)
