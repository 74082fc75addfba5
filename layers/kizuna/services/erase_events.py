"""Erasing a user's (or an endpoint's) events from the event stream in S3 and from the analytics ledger: a job on the
jobs queue, in pieces (docs/security.md, "Erasure").

DeleteUserEndpoints and DeleteEndpoint start it before they delete the endpoints, so a request that fails can be
retried and still finds them. The job holds fingerprints of the erased identifiers (endpoint ids, addresses, user id:
kizuna.domain.stream_erasure), never the identifiers. Its pieces:

- one per DAYS_PER_PIECE arrival days of the stream's whole retention (the stream partitions objects by app and
  arrival day). For each day it reads the identifier filters analytics_ingest wrote for the app's objects
  (adapters/dynamo_erasure.py) and lists the objects: an object whose filter says "not here" is skipped unread; the
  others are read, scrubbed and replaced in one conditional PutObject (adapters/s3_event_objects.py), older versions
  deleted if the bucket is versioned. An object nobody has indexed yet is still being ingested, or its ingest failed:
  a young one is looked at again later (a deferred piece, the queue's longest delay) so that its ingest counts it
  first; once older than every retry of its ingest, it is read.
- one ledger piece: the erased endpoints' ledger items keep their keys and lose their content.

Every piece first writes the erasure's tombstones. analytics_ingest checks each object it has counted against the
app's tombstones, so events that reach S3 after the erasure — Firehose's buffer, late status callbacks, replies,
a redriven object — are scrubbed at ingest for ERASURE_TOMBSTONE_DAYS, with no timed re-check to miss them.

A piece is idempotent (scrubbing is; the job counts each piece once) and bounded (PIECE_BYTES read, then it queues
its continuation), so a crash or a redelivery anywhere redoes work and never loses or duplicates a line.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.catalog import QUEUES, STREAMS, visibility_timeout_s
from kizuna.clock import Clock, iso
from kizuna.domain.event_object_keys import (
    STATIC_PREFIX,
    ObjectPlace,
    app_prefix,
    day_prefix,
    place_of,
    unpartitioned_day_prefix,
)
from kizuna.domain.identifier_filter import IdentifierFilter
from kizuna.domain.jobs import ERASE_EVENTS, PROCESSING, EraseEventsPiece, EraseLedgerPiece, PieceOutcome, new_job_id
from kizuna.domain.stream_erasure import erasure_identifiers, fingerprint, scrub_lines
from kizuna.ports import AppStore, EndpointStore, JobQueue, JobStore
from kizuna.ports_analytics import ErasureIndex, EventObjectStore, LedgerScrubber, ListedObject
from kizuna.services import import_jobs
from kizuna.services.job_progress import count_piece

logger = Logger(child=True)

DAYS_PER_PIECE = 31
PIECE_BYTES = 512 * 1024 * 1024  # read per piece before it hands on: ~2 minutes at S3's per-connection rate
DEFER_S = 900  # SQS's longest message delay
DEFERRED_KEYS_PER_PIECE = 500  # ~60 KB of keys: a deferred piece's message stays far below SQS's 256 KiB
REPLACE_ATTEMPTS = 4
# S3 user metadata on a rewritten object: analytics_ingest does not count an object again that it counted before.
SCRUBBED_METADATA = "kizuna-scrubbed"


def ingest_settle_s() -> int:
    """How long an object can wait for analytics_ingest: every delivery of its notification has timed out by then."""
    analytics = QUEUES["analytics"]
    return visibility_timeout_s(analytics) * analytics.max_receive_count


MAX_DEFERRALS = math.ceil(ingest_settle_s() / DEFER_S) + 1


@dataclass
class ErasureDeps:
    jobs: JobStore
    queue: JobQueue
    objects: EventObjectStore
    index: ErasureIndex
    ledger: LedgerScrubber
    clock: Clock
    bucket: str
    piece_bytes: int = PIECE_BYTES


# -- starting (the API function) ------------------------------------------------------------------------------


@dataclass
class EventErasure:
    """How DeleteUserEndpoints and DeleteEndpoint start an erasure job (the API function's side)."""

    jobs: JobStore
    queue: JobQueue
    clock: Clock
    endpoints: EndpointStore
    apps: AppStore

    def start(self, app_id: str, erased: Sequence[dict[str, Any]], user_id: str | None = None) -> str | None:
        """Before the endpoints are deleted. An address another endpoint of the app still has is not erased: the
        erased endpoints' own lines are scrubbed whole anyway, and a reply from that number may be the other's.
        The days to look at start with the app: it has no objects from before it existed."""
        ids = {e["Id"] for e in erased}
        addresses = {e["Address"] for e in erased if e.get("Address")}
        shared = {
            a for a in addresses if any(o["Id"] not in ids for o in self.endpoints.endpoints_by_address(app_id, a))
        }
        app = self.apps.get_app(app_id)
        since = datetime.fromisoformat(app.creation_date).date() if app and app.creation_date else None
        return start_event_erasure(self.jobs, self.queue, self.clock, app_id, erased, user_id, shared, since)


def start_event_erasure(
    jobs: JobStore,
    queue: JobQueue,
    clock: Clock,
    app_id: str,
    endpoints: Sequence[dict[str, Any]],
    user_id: str | None = None,
    keep: set[str] | frozenset[str] = frozenset(),
    since: date | None = None,
) -> str | None:
    """Queue the erasure of these endpoints (and the user's id) from the event stream and the ledger, except the
    identifiers in `keep`, over the arrival days from `since` (at most the stream's retention); the job id."""
    identifiers = erasure_identifiers(endpoints, user_id) - erasure_identifiers([], None, keep)
    if not identifiers:
        return None
    now = clock.now()
    job_id = new_job_id(now)
    last = now.date()
    first = last - timedelta(days=STREAMS["events"].expire_days)
    # A day's margin: the app's creation time and the stream's arrival day are both UTC, but clocks differ.
    first = max(first, since - timedelta(days=1)) if since else first
    ranges = list(_day_ranges(first, last))
    job = {
        "Id": job_id,
        "ApplicationId": app_id,
        "Type": ERASE_EVENTS,
        "CreationDate": iso(now),
        "Definition": {
            "Fingerprints": sorted({fingerprint(app_id, i) for i in identifiers}),
            "ErasedAt": iso(now),
            "Endpoints": len(endpoints),
        },
        "JobStatus": "CREATED",
    }
    jobs.create_job(app_id, ERASE_EVENTS, job)
    jobs.start_job(app_id, ERASE_EVENTS, job_id, len(ranges) + 1)
    pieces: list[Any] = [
        EraseEventsPiece(app_id=app_id, job_id=job_id, piece=i, first_day=a.isoformat(), last_day=b.isoformat())
        for i, (a, b) in enumerate(ranges)
    ]
    ids = tuple(sorted({e["Id"] for e in endpoints}))
    pieces.append(EraseLedgerPiece(app_id=app_id, job_id=job_id, piece=len(ranges), endpoint_ids=ids))
    queue.enqueue(pieces)
    logger.info("event erasure queued", extra={"app_id": app_id, "job_id": job_id, "pieces": len(pieces)})
    return job_id


# The job figures GetErasureJobs answers (PieceOutcome.tallies), besides the job store's counters.
ERASURE_TALLIES = (
    "ObjectsRead",
    "ObjectsSkipped",
    "ObjectsRewritten",
    "ObjectsDeferred",
    "EventsScrubbed",
    "LedgerItemsScrubbed",
)


def list_erasure_jobs(
    apps: AppStore, jobs: JobStore, app_id: str, page_size: str | None, token: str | None
) -> dict[str, Any]:
    """GetErasureJobs (extension): the app's erasure jobs, newest first, without their fingerprints."""
    page = import_jobs.list_jobs(apps, jobs, ERASE_EVENTS, app_id, page_size, token)
    return {**page, "Item": [_erasure_response(job) for job in page["Item"]]}


def _erasure_response(job: dict[str, Any]) -> dict[str, Any]:
    tallies = job.get("Tallies") or {}
    shown = ("Id", "ApplicationId", "CreationDate", "CompletionDate", "JobStatus", "TotalPieces", "CompletedPieces",
             "FailedPieces", "Failures")  # fmt: skip
    return {
        **{k: job[k] for k in shown if k in job},
        "Endpoints": int(job.get("Definition", {}).get("Endpoints", 0)),
        **{name: int(tallies.get(name, 0)) for name in ERASURE_TALLIES},
    }


def _day_ranges(first: date, last: date) -> Iterator[tuple[date, date]]:
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=DAYS_PER_PIECE - 1))
        yield start, end
        start = end + timedelta(days=1)


# -- pieces (the jobs function) ---------------------------------------------------------------------------------


def process_erasure_piece(
    deps: ErasureDeps, message: EraseEventsPiece | EraseLedgerPiece, final_attempt: bool = False
) -> PieceOutcome | None:
    job = deps.jobs.get_job(message.app_id, ERASE_EVENTS, message.job_id)
    if job is None or job["JobStatus"] != PROCESSING:
        return None
    definition = job["Definition"]
    erased = frozenset(definition["Fingerprints"])
    outcome = PieceOutcome()
    try:
        # Before anything is listed: an object this piece does not see is ingested after this, and scrubbed there.
        deps.index.put_tombstones(message.app_id, sorted(erased), datetime.fromisoformat(definition["ErasedAt"]))
        if isinstance(message, EraseLedgerPiece):
            outcome.tallies["LedgerItemsScrubbed"] = deps.ledger.scrub_endpoints(message.app_id, message.endpoint_ids)
        else:
            _erase_objects(deps, message, erased, outcome)
    except Exception as exc:
        if not final_attempt:
            raise
        logger.exception("erasure piece failed on its last attempt", extra={"job_id": message.job_id})
        outcome = PieceOutcome(failed=True, messages=[f"piece {message.piece}: {type(exc).__name__}"])
    count_piece(deps.jobs, deps.clock, ERASE_EVENTS, message.app_id, message.job_id, message.piece, outcome)
    return outcome


@dataclass
class _Progress:
    outcome: PieceOutcome
    deferred: list[str] = field(default_factory=list)
    spent: int = 0

    def add(self, name: str, amount: int = 1) -> None:
        self.outcome.tallies[name] = self.outcome.tallies.get(name, 0) + amount


def _erase_objects(deps: ErasureDeps, message: EraseEventsPiece, erased: frozenset[str], outcome: PieceOutcome) -> None:
    progress = _Progress(outcome)
    now = deps.clock.now()
    filters: dict[tuple[str, date], dict[str, bytes]] = {}

    def filter_of(place: ObjectPlace, key: str) -> bytes | None:
        if (place.scope, place.day) not in filters:
            filters.clear()  # objects come a day at a time: hold one day's filters, not the range's
            filters[place.scope, place.day] = deps.index.object_filters(place.scope, place.day)
        return filters[place.scope, place.day].get(key)

    for place, obj in _candidates(deps, message):
        blob = filter_of(place, obj.key)
        if blob is not None and not _might_hold(blob, erased):
            progress.add("ObjectsSkipped")
            continue
        young = (now - obj.last_modified).total_seconds() < ingest_settle_s()
        if blob is None and young and message.deferrals < MAX_DEFERRALS:
            progress.deferred.append(obj.key)
            continue
        result = scrub_object(deps.objects, deps.bucket, obj.key, erased)
        progress.spent += obj.size
        progress.add("ObjectsRead")
        outcome.processed += 1
        if result.scrubbed:
            progress.add("ObjectsRewritten")
            progress.add("EventsScrubbed", result.scrubbed)
        if progress.spent >= deps.piece_bytes:
            _hand_on(deps, message, obj.key, outcome)
            break
    # Objects nobody has counted yet: their ingest comes first (it reads them as Firehose wrote them).
    for start in range(0, len(progress.deferred), DEFERRED_KEYS_PER_PIECE):
        keys = tuple(progress.deferred[start : start + DEFERRED_KEYS_PER_PIECE])
        update = {"piece": _child_piece(message.piece, "deferred", keys[0]), "keys": keys,
                  "deferrals": message.deferrals + 1, "after": None}  # fmt: skip
        deps.queue.enqueue([message.model_copy(update=update)], delay_s=DEFER_S)
        outcome.spawned += 1
    if progress.deferred:
        progress.add("ObjectsDeferred", len(progress.deferred))


def _candidates(deps: ErasureDeps, message: EraseEventsPiece) -> Iterator[tuple[ObjectPlace, ListedObject]]:
    if message.keys:
        for key in message.keys:
            place = place_of(key)
            listed = next((o for o in deps.objects.list_objects(deps.bucket, key) if o.key == key), None)
            if place is not None and listed is not None:  # an object gone meanwhile has nothing left to erase
                yield place, listed
        return
    # One listing per layout from the first day on (LIST pages of 1,000 keys), not one per day: keys sort by day,
    # so the range is contiguous and empty days cost nothing. The app's own partition first, then the objects of
    # a Firehose that does not partition (every app's events together; the filters rule most of them out).
    # A continuation resumes after the key its predecessor stopped at, in whichever layout that was.
    first = date.fromisoformat(message.first_day)
    last = date.fromisoformat(message.last_day)
    partitioned = app_prefix(message.app_id)
    resume_second = message.after is not None and not message.after.startswith(partitioned)
    if not resume_second:
        start = message.after or day_prefix(message.app_id, first).rstrip("/")
        yield from _listed(deps, partitioned, start, last, message.app_id)
    start = message.after if resume_second else unpartitioned_day_prefix(first).rstrip("/")
    yield from _listed(deps, STATIC_PREFIX, start or "", last, None)


def _listed(
    deps: ErasureDeps, prefix: str, start: str, last: date, app_id: str | None
) -> Iterator[tuple[ObjectPlace, ListedObject]]:
    for obj in deps.objects.list_objects(deps.bucket, prefix, start):
        place = place_of(obj.key)
        if place is None:
            continue  # not an event object (nothing Firehose writes)
        if place.app_id != app_id or place.day > last:
            return  # past the range, or past the layout (unpartitioned keys sort before "events/app=...")
        yield place, obj


def _hand_on(deps: ErasureDeps, message: EraseEventsPiece, done: str, outcome: PieceOutcome) -> None:
    """The piece's budget is spent: what is left after object `done` goes to a continuation piece."""
    update: dict[str, Any] = {"piece": _child_piece(message.piece, "next", done)}
    if message.keys:
        update["keys"] = message.keys[message.keys.index(done) + 1 :]
        if not update["keys"]:
            return
    else:
        update["after"] = done
    deps.queue.enqueue([message.model_copy(update=update)])
    outcome.spawned += 1


def _child_piece(parent: int, kind: str, anchor: str) -> int:
    # Deterministic, so a redelivered parent queues the same child and the job counts it once.
    digest = hashlib.sha256(f"{parent}|{kind}|{anchor}".encode()).digest()
    return 1_000_000 + int.from_bytes(digest[:6], "big")


def _might_hold(blob: bytes, erased: Iterable[str]) -> bool:
    try:
        return IdentifierFilter.from_bytes(blob).might_hold_any(erased)
    except ValueError:
        return True  # a filter that cannot be read cannot rule the object out


# -- one object ----------------------------------------------------------------------------------------------


@dataclass
class ObjectScrub:
    read: bool = False
    scrubbed: int = 0
    events: list[tuple[str, str, str]] = field(default_factory=list)
    versions_deleted: int = 0


class ObjectKeptChanging(RuntimeError):
    """Another writer replaced the object on every attempt; the piece is retried."""


def scrub_object(objects: EventObjectStore, bucket: str, key: str, erased: frozenset[str] | set[str]) -> ObjectScrub:
    """Read the object, scrub the lines that name an erased fingerprint, and replace it if anything changed — only
    if nobody replaced it meanwhile (If-Match), else read again. Also the older versions' cleanup of a versioned
    bucket, which a crash right after the replacement would otherwise skip (the retry finds nothing to scrub)."""
    for _ in range(REPLACE_ATTEMPTS):
        stored = objects.read(bucket, key)
        if stored is None:
            return ObjectScrub()
        result = scrub_lines(stored.body, erased)
        if not result.scrubbed:
            deleted = objects.delete_noncurrent_versions(bucket, key) if SCRUBBED_METADATA in stored.metadata else 0
            return ObjectScrub(read=True, versions_deleted=deleted)
        metadata = {**stored.metadata, SCRUBBED_METADATA: "1"}
        if objects.replace(bucket, key, result.body, stored.etag, metadata, stored.content_type):
            deleted = objects.delete_noncurrent_versions(bucket, key)
            return ObjectScrub(True, result.scrubbed, result.events, deleted)
    raise ObjectKeptChanging(f"s3://{bucket}/{key} changed on each of {REPLACE_ATTEMPTS} attempts")
