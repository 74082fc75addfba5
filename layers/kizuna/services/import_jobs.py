"""Import jobs (CreateImportJob, GetImportJob(s), GetSegmentImportJobs) and the work behind them.

CreateImportJob records the job and queues a plan message. Planning lists the objects under S3Url, cuts each into
line-aligned pieces (kizuna.services.import_rows) and queues one message per piece. A piece reads its byte range,
validates every row with the endpoint rules (a bad row fails alone, as "row N: reason"), upserts the good ones,
adds them to the job's segment, and is counted into the job exactly once (JobStore.record_piece); whoever counts
the last piece completes the job. Every step may run twice (SQS delivers at least once) without changing the result.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from kizuna.clock import Clock, iso
from kizuna.domain.jobs import (
    FORMATS,
    IMPORT,
    PIECE_BYTES,
    PIECE_ROWS,
    PLANNABLE,
    PROCESSING,
    ImportPiece,
    PieceOutcome,
    PieceRefused,
    PlanImport,
    S3Location,
    final_status,
    new_job_id,
)
from kizuna.errors import BadRequest, KizunaError, NotFound
from kizuna.ports import AppStore, EndpointStore, JobQueue, JobStore, SegmentStore
from kizuna.services import endpoints as endpoint_rules
from kizuna.services.import_rows import HeaderError, Row, csv_columns, parse_rows, plan_spans
from kizuna.services.job_progress import count_piece
from kizuna.services.segments import create_imported_segment

logger = Logger(child=True)

# Pinpoint's ChannelType enum and Kizuna's WHATSAPP extension.
CHANNEL_TYPES = frozenset(
    [
        "PUSH",
        "GCM",
        "APNS",
        "APNS_SANDBOX",
        "APNS_VOIP",
        "APNS_VOIP_SANDBOX",
        "ADM",
        "SMS",
        "VOICE",
        "EMAIL",
        "BAIDU",
        "CUSTOM",
        "IN_APP",
        "WHATSAPP",
    ]
)
# Objects a prefix import reads, by Format (Pinpoint imports only the files of the requested format).
SUFFIXES = {"CSV": (".csv",), "JSON": (".json", ".jsonl", ".ndjson")}
_ROLE_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_ID_NAMESPACE = uuid.UUID("6f1d4c8e-1b7a-4d57-9a51-4b1d1f0c2a77")
MAX_PAGE_SIZE = 100


class ObjectStorage(Protocol):
    """S3 as jobs use it (kizuna.adapters.s3_objects); refusals that retrying cannot fix raise PieceRefused."""

    def list_objects(self, bucket: str, prefix: str) -> list[tuple[str, int, str]]:
        """(key, size, etag) of every object under the prefix."""
        ...

    def stream(self, bucket: str, key: str, etag: str | None = None) -> Iterator[bytes]: ...
    def read_range(self, bucket: str, key: str, start: int, end: int, etag: str | None = None) -> bytes: ...
    def upload(self, bucket: str, key: str, chunks: Iterator[bytes], content_type: str) -> None: ...


# (RoleArn, ExternalId) -> storage acting as that role; the function's own credentials when RoleArn is empty.
ObjectsFor = Callable[[str, str | None], ObjectStorage]


@dataclass
class JobDeps:
    apps: AppStore
    endpoints: EndpointStore
    jobs: JobStore
    queue: JobQueue
    objects: ObjectsFor
    clock: Clock
    segments: SegmentStore | None = None
    piece_bytes: int = PIECE_BYTES
    piece_rows: int = PIECE_ROWS
    campaigns: Any = None  # kizuna.services.campaign_runs.CampaignDeps: campaign runs share the jobs queue


# -- API -----------------------------------------------------------------------------------------------------------


def create_import_job(
    apps: AppStore,
    jobs: JobStore,
    queue: JobQueue,
    segments: SegmentStore | None,
    clock: Clock,
    arn_prefix: str,
    app_id: str,
    request: dict[str, Any] | None,
) -> dict[str, Any]:
    require_app(apps, app_id)
    request = dict(request or {})
    fmt = request.get("Format")
    if fmt not in FORMATS:
        raise BadRequest(f"Invalid value {fmt!r} for ImportJobRequest.Format; valid values: {', '.join(FORMATS)}")
    if S3Location.parse(request.get("S3Url", "")) is None:
        raise BadRequest("ImportJobRequest.S3Url must be an S3 URL: s3://bucket-name/folder-name/file-name")
    check_role_arn(request.get("RoleArn"), "ImportJobRequest.RoleArn")
    now = clock.now()
    job_id = new_job_id(now)
    definition = {k: v for k, v in request.items() if v is not None}
    if request.get("SegmentId"):
        if segments is None or segments.get_segment(app_id, request["SegmentId"]) is None:
            raise NotFound(f"Segment {request['SegmentId']} not found")
    elif request.get("DefineSegment"):
        if segments is None:
            raise BadRequest("ImportJobRequest.DefineSegment: segments are not available")
        name = request.get("SegmentName") or f"Import {job_id}"
        import_definition = {k: definition[k] for k in ("ExternalId", "Format", "RoleArn", "S3Url") if k in definition}
        segment = create_imported_segment(segments, clock, arn_prefix, app_id, name, import_definition)
        definition |= {"SegmentId": segment["Id"], "SegmentName": segment.get("Name", name)}
    job = {
        "Id": job_id,
        "ApplicationId": app_id,
        "Type": IMPORT,
        "CreationDate": iso(now),
        "Definition": definition,
        "JobStatus": "CREATED",
    }
    jobs.create_job(app_id, IMPORT, job)
    queue.enqueue([PlanImport(app_id=app_id, job_id=job_id)])
    logger.info("import job created", extra={"app_id": app_id, "job_id": job_id, "format": fmt})
    return jobs.get_job(app_id, IMPORT, job_id) or job


def get_job(apps: AppStore, jobs: JobStore, job_type: str, app_id: str, job_id: str) -> dict[str, Any]:
    require_app(apps, app_id)
    job = jobs.get_job(app_id, job_type, job_id)
    if job is None:
        raise NotFound(f"Job {job_id} not found")
    return job


def list_jobs(
    apps: AppStore,
    jobs: JobStore,
    job_type: str,
    app_id: str,
    page_size: str | None,
    token: str | None,
    segment_id: str | None = None,
) -> dict[str, Any]:
    require_app(apps, app_id)
    try:
        limit = int(page_size) if page_size else MAX_PAGE_SIZE
    except ValueError:
        raise BadRequest(f"page-size must be a number; got {page_size!r}") from None
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"page-size must be 1 to {MAX_PAGE_SIZE}")
    items, next_token = jobs.list_jobs(app_id, job_type, limit, token, segment_id)
    return {"Item": items, **({"NextToken": next_token} if next_token else {})}


def check_role_arn(role_arn: Any, field: str) -> None:
    # An empty RoleArn is accepted: the jobs function then reads with its own credentials (same-account buckets).
    if role_arn and not (isinstance(role_arn, str) and _ROLE_ARN.match(role_arn)):
        raise BadRequest(f"{field} must be an IAM role ARN (arn:aws:iam::123456789012:role/name)")


def require_app(apps: AppStore, app_id: str) -> None:
    if apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")


# -- planning ------------------------------------------------------------------------------------------------------


def plan_import(deps: JobDeps, message: PlanImport) -> None:
    job = deps.jobs.get_job(message.app_id, IMPORT, message.job_id)
    if job is None or job["JobStatus"] not in (*PLANNABLE, PROCESSING):
        return  # deleted with its app, or already finished: a late redelivery
    definition = job["Definition"]
    location = S3Location.parse(definition["S3Url"])
    assert location is not None  # checked by create_import_job
    fmt = definition["Format"]
    csv_format = fmt == "CSV"
    storage = deps.objects(definition.get("RoleArn") or "", definition.get("ExternalId"))
    pieces: list[ImportPiece] = []
    try:
        objects = _objects_to_read(storage, location, fmt)
        if not objects:
            _fail(deps, job, f"No {fmt} files found at {definition['S3Url']}")
            return
        for key, _size, etag in objects:
            label = key if len(objects) > 1 else ""
            plan = plan_spans(storage.stream(location.bucket, key, etag), csv_format, deps.piece_bytes, deps.piece_rows)
            if csv_format and plan.spans:
                csv_columns(plan.header or "")  # an unusable header fails the job now, not once per piece
            pieces += [
                ImportPiece(
                    app_id=message.app_id,
                    job_id=message.job_id,
                    piece=len(pieces) + i,
                    bucket=location.bucket,
                    key=key,
                    etag=etag,
                    start=span.start,
                    end=span.end,
                    first_row=span.first_row,
                    header=plan.header,
                    label=label,
                )
                for i, span in enumerate(plan.spans)
            ]
    except (PieceRefused, HeaderError) as exc:
        _fail(deps, job, f"{definition['S3Url']}: {exc}")
        return
    # TotalPieces is stored before any piece is queued, so the last piece always knows it is the last.
    deps.jobs.start_job(message.app_id, IMPORT, message.job_id, len(pieces))
    deps.queue.enqueue(pieces)
    if not pieces:
        deps.jobs.finish_job(message.app_id, IMPORT, message.job_id, final_status({}), deps.clock.now())
    logger.info("import job planned", extra={"job_id": message.job_id, "pieces": len(pieces)})


def _objects_to_read(storage: ObjectStorage, location: S3Location, fmt: str) -> list[tuple[str, int, str]]:
    listed = storage.list_objects(location.bucket, location.key)
    exact = [o for o in listed if o[0] == location.key]
    if exact:
        return exact
    suffixes = SUFFIXES[fmt]
    return sorted(o for o in listed if o[0].lower().endswith(suffixes) and o[1] > 0)


def _fail(deps: JobDeps, job: dict[str, Any], reason: str) -> None:
    logger.warning("import job failed", extra={"job_id": job["Id"], "reason": reason})
    deps.jobs.finish_job(job["ApplicationId"], IMPORT, job["Id"], "FAILED", deps.clock.now(), reason=reason)


# -- pieces --------------------------------------------------------------------------------------------------------


def process_import_piece(deps: JobDeps, message: ImportPiece, final_attempt: bool = False) -> PieceOutcome | None:
    """Import one piece and count it; None when the job is gone or already finished."""
    job = deps.jobs.get_job(message.app_id, IMPORT, message.job_id)
    if job is None or job["JobStatus"] != PROCESSING:
        return None
    definition = job["Definition"]
    where = f"{message.label} " if message.label else ""
    try:
        storage = deps.objects(definition.get("RoleArn") or "", definition.get("ExternalId"))
        data = storage.read_range(message.bucket, message.key, message.start, message.end, message.etag)
        outcome = import_rows(deps, message.app_id, definition, data, message, where)
    except (PieceRefused, HeaderError) as exc:
        outcome = PieceOutcome(failed=True, messages=[f"{where}piece {message.piece}: {exc}"])
    except Exception as exc:
        if not final_attempt:
            raise  # transient (throttling, timeouts): SQS delivers the piece again
        logger.exception("import piece failed on its last attempt", extra={"job_id": message.job_id})
        outcome = PieceOutcome(failed=True, messages=[f"{where}piece {message.piece}: {type(exc).__name__}"])
    count_piece(deps.jobs, deps.clock, IMPORT, message.app_id, message.job_id, message.piece, outcome)
    return outcome


def import_rows(
    deps: JobDeps, app_id: str, definition: dict[str, Any], data: bytes, piece: ImportPiece, where: str = ""
) -> PieceOutcome:
    """Validate, upsert and (for a segment import) enrol the rows of one piece."""
    outcome = PieceOutcome()
    rows = list(parse_rows(data, piece.header is not None, piece.header, piece.first_row))
    requests: list[tuple[Row, str, dict[str, Any]]] = []
    for row in rows:
        if row.request is None:
            outcome.reject(f"{where}row {row.number}: {row.error}")
            continue
        try:
            endpoint_id, request = _endpoint_request(row.request)
        except KizunaError as exc:
            outcome.reject(f"{where}row {row.number}: {exc.message}")
            continue
        requests.append((row, endpoint_id, request))

    existing = deps.endpoints.get_endpoints(app_id, [e for _, e, _ in requests]) if requests else {}
    current: dict[str, dict[str, Any]] = dict(existing)
    now = deps.clock.now()
    registry = deps.apps.get_attribute_registry(app_id)
    known = {kind: set(names) for kind, names in registry.items()}
    new_names: dict[str, set[str]] = {}
    written: dict[str, dict[str, Any]] = {}
    for row, endpoint_id, request in requests:
        try:
            endpoint = endpoint_rules.prepare_endpoint(
                current.get(endpoint_id), request, endpoint_id, app_id, now, "EndpointRequest"
            )
            _fit_attribute_names(endpoint, known, new_names)
        except KizunaError as exc:
            outcome.reject(f"{where}row {row.number}: {exc.message}")
            continue
        current[endpoint_id] = written[endpoint_id] = endpoint
    if new_names:
        deps.apps.register_attributes(app_id, new_names)
    if written:
        deps.endpoints.put_endpoints(app_id, list(written.values()))
        segment_id = definition.get("SegmentId")
        if segment_id and deps.segments is not None:
            deps.segments.add_members(app_id, segment_id, list(written))
    outcome.processed = len(rows)  # as Pinpoint's TotalProcessed: every row read, refused ones included
    return outcome


def _endpoint_request(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(endpoint id, EndpointRequest). Without an Id, the id derives from channel and address, so importing the
    same file again updates the same endpoints."""
    request = {k: v for k, v in row.items() if k != "Id"}
    channel = request.get("ChannelType")
    if channel is not None and channel not in CHANNEL_TYPES:
        raise BadRequest(f"Invalid value {channel!r} for ChannelType")
    endpoint_id = row.get("Id")
    if endpoint_id is None:
        address = request.get("Address")
        if not channel or not address:
            raise BadRequest("a row without Id needs ChannelType and Address")
        if channel in endpoint_rules.PHONE_CHANNELS:
            address = endpoint_rules.normalise_phone(address, "Address")
        elif channel == "EMAIL":
            address = address.lower()
        endpoint_id = uuid.uuid5(_ID_NAMESPACE, f"{channel}:{address}").hex
    if not 1 <= len(endpoint_id) <= endpoint_rules.MAX_ENDPOINT_ID_CHARS:
        raise BadRequest(f"Id must be 1 to {endpoint_rules.MAX_ENDPOINT_ID_CHARS} characters")
    return endpoint_id, request


def _fit_attribute_names(endpoint: dict[str, Any], known: dict[str, set[str]], new: dict[str, set[str]]) -> None:
    """Admit the endpoint's attribute names into the app's registry (within its limit), or refuse the row."""
    found = endpoint_rules.attribute_names(endpoint)
    adding = {kind: names - known.get(kind, set()) for kind, names in found.items()}
    count = sum(len(n) for n in adding.values())
    if not count:
        return
    total = sum(len(n) for n in known.values()) + count
    if total > endpoint_rules.MAX_APP_ATTRIBUTES:
        raise BadRequest(
            f"the application would have {total} attribute names; the limit is {endpoint_rules.MAX_APP_ATTRIBUTES}"
        )
    for kind, names in adding.items():
        if names:
            known.setdefault(kind, set()).update(names)
            new.setdefault(kind, set()).update(names)
