"""Import and export jobs: the Pinpoint job documents, the queue messages that drive them, and piece outcomes.

A job is split into pieces (an import: one line-aligned byte range of one S3 object; an export: one endpoint shard).
Every piece is one SQS message handled by the jobs function; its outcome is counted into the job exactly once.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

IMPORT = "IMPORT"
EXPORT = "EXPORT"
JOB_TYPES = (IMPORT, EXPORT)
# Erasure of a user's or endpoint's events from the event stream and the ledger (kizuna.services.erase_events).
ERASE_EVENTS = "ERASE_EVENTS"

# Pinpoint JobStatus values (botocore model, shape JobStatus).
CREATED = "CREATED"
PROCESSING = "PROCESSING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
# Statuses in which planning may (re)start: a redelivered plan message after PROCESSING only re-enqueues pieces.
PLANNABLE = (CREATED, "PREPARING_FOR_INITIALIZATION", "INITIALIZING")

FORMATS = ("CSV", "JSON")
# Failures listed on a job; TotalFailures still counts every one.
MAX_FAILURE_MESSAGES = 100
# A piece is cut at a line boundary once it holds this many bytes or rows, whichever comes first.
PIECE_BYTES = 1024 * 1024
PIECE_ROWS = 5000

_S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<key>.*))?$")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str  # an object key or a prefix ("" for the whole bucket)

    @classmethod
    def parse(cls, url: str) -> S3Location | None:
        match = _S3_URL.match(url or "")
        return cls(match["bucket"], match["key"] or "") if match else None

    def join(self, name: str) -> str:
        return f"{self.key.rstrip('/')}/{name}" if self.key.strip("/") else name


def new_job_id(now: datetime) -> str:
    """32 hex digits like Pinpoint's, led by the creation time in milliseconds so ids sort by age."""
    return f"{int(now.timestamp() * 1000):012x}{uuid.uuid4().hex[:20]}"


class PieceRefused(Exception):
    """A piece (or a plan) cannot be done for a reason that retrying cannot fix: no such bucket or key, access
    denied, the object changed since planning, the segment is gone. Adapters raise it; the job records it."""


# -- queue messages ------------------------------------------------------------------------------------------------


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    app_id: str
    job_id: str


class PlanImport(_Message):
    kind: Literal["plan_import"] = "plan_import"


class ImportPiece(_Message):
    """One line-aligned byte range of one object; `header` is the CSV header line (the piece may not start at 0)."""

    kind: Literal["import_piece"] = "import_piece"
    piece: int
    bucket: str
    key: str
    etag: str | None = None  # the object as planned: a changed object fails the piece instead of misaligning it
    start: int  # first byte
    end: int  # last byte, inclusive (an HTTP Range)
    first_row: int  # 1-based number of the piece's first data row within its object (CSV header not counted)
    header: str | None = None
    label: str = ""  # the object key when the job reads several objects, so failures say which one


class ExportPiece(_Message):
    kind: Literal["export_piece"] = "export_piece"
    piece: int  # the endpoint shard


class PurgeApp(_Message):
    """One step of removing a deleted app's data: "segments" first (their list lives in the app partition), which
    queues one step per endpoint shard and "app" (the app partition and its listing) last."""

    kind: Literal["purge_app"] = "purge_app"
    part: Literal["segments", "app"] | int


class CampaignRun(_Message):
    """A campaign's scheduled run (sent by its one-time schedule, or at once for IMMEDIATE): `job_id` is the
    campaign's id, `run_key` the run's nominal wall-clock time, `version` the campaign version it was scheduled
    for (a run scheduled before an update is dropped: the update scheduled its own)."""

    kind: Literal["campaign_run"] = "campaign_run"
    run_key: str
    version: int


class CampaignPiece(_Message):
    """One endpoint shard of a campaign run. With `zones` (IsLocalTime) only endpoints in those time zones, not
    before `not_before` (the wall-clock time of the run in those zones); `piece` numbers it within the run."""

    kind: Literal["campaign_piece"] = "campaign_piece"
    run_key: str
    version: int
    shard: int
    piece: int
    zones: tuple[str, ...] | None = None
    not_before: str | None = None
    # A large shard is sent in parts that each fit a function's timeout: part k resumes after endpoint `after`, and
    # `sent` is how many the earlier parts sent (MessagesPerSecond pacing carries on from there).
    part: int = 0
    after: str | None = None
    sent: int = 0


class EraseEventsPiece(_Message):
    """One stretch of an erasure job: the app's event objects of the (arrival) days `first_day`..`last_day`,
    resuming after object `after` when an earlier part ran out of budget; or, with `keys`, only those objects
    (deferred: not ingested yet when first seen; `deferrals` counts the waits)."""

    kind: Literal["erase_events_piece"] = "erase_events_piece"
    piece: int
    first_day: str
    last_day: str
    after: str | None = None
    keys: tuple[str, ...] = ()
    deferrals: int = 0


class EraseLedgerPiece(_Message):
    """The erasure job's ledger step. The endpoint ids travel in this message only (the queue is KMS-encrypted and
    deletes it once done); the job item holds fingerprints."""

    kind: Literal["erase_ledger_piece"] = "erase_ledger_piece"
    piece: int
    endpoint_ids: tuple[str, ...]


JobMessage = Annotated[
    PlanImport
    | ImportPiece
    | ExportPiece
    | PurgeApp
    | CampaignRun
    | CampaignPiece
    | EraseEventsPiece
    | EraseLedgerPiece,
    Field(discriminator="kind"),
]


class JobEnvelope(BaseModel):
    """The SQS body: one job message (a wrapper so one model parses every kind)."""

    model_config = ConfigDict(frozen=True)

    message: JobMessage


# -- outcomes ------------------------------------------------------------------------------------------------------


@dataclass
class PieceOutcome:
    """What one piece did: rows written, rows refused (with reasons), or the whole piece failed."""

    processed: int = 0
    failures: int = 0
    messages: list[str] = field(default_factory=list)
    failed: bool = False  # the piece as a whole could not be processed (counted in FailedPieces)
    spawned: int = 0  # further pieces this piece queued, added to TotalPieces atomically with its own count
    # Named figures of a job type's own (an erasure's objects read and rewritten...), added up like the counters.
    tallies: dict[str, int] = field(default_factory=dict)

    def reject(self, message: str) -> None:
        self.failures += 1
        if len(self.messages) < MAX_FAILURE_MESSAGES:
            self.messages.append(message)


def final_status(job: dict[str, Any]) -> str:
    """The status a job ends in once every piece is counted: FAILED only when no piece succeeded."""
    total = job.get("TotalPieces", 0)
    return FAILED if total and job.get("FailedPieces", 0) >= total else COMPLETED
