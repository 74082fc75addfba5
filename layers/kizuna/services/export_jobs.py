"""Export jobs (CreateExportJob, GetExportJob(s), GetSegmentExportJobs): one piece per endpoint shard.

Each piece writes `<S3UrlPrefix>/<job id>/shard-NN.json`: newline-delimited JSON, one full EndpointResponse per
line (OptOut, EndpointStatus, Demographic, Attributes, User...), which is exactly what an import reads back.
A retried piece rewrites its own object, and is counted once (JobStore.record_piece).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import Clock, iso
from kizuna.domain.jobs import EXPORT, PROCESSING, ExportPiece, PieceOutcome, PieceRefused, S3Location, new_job_id
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore, JobQueue, JobStore, SegmentStore
from kizuna.services.import_jobs import JobDeps, check_role_arn, require_app
from kizuna.services.job_progress import count_piece
from kizuna.services.segments import resolve_shard

logger = Logger(child=True)

# S3 multipart parts are at least 5 MiB; a shard's file is uploaded in parts of this size as it is written.
LINES_PER_CHUNK = 2000


def create_export_job(
    apps: AppStore,
    jobs: JobStore,
    queue: JobQueue,
    segments: SegmentStore | None,
    clock: Clock,
    app_id: str,
    request: dict[str, Any] | None,
) -> dict[str, Any]:
    require_app(apps, app_id)
    request = dict(request or {})
    if S3Location.parse(request.get("S3UrlPrefix", "")) is None:
        raise BadRequest("ExportJobRequest.S3UrlPrefix must be an S3 URL: s3://bucket-name/folder-name/")
    check_role_arn(request.get("RoleArn"), "ExportJobRequest.RoleArn")
    segment_id = request.get("SegmentId")
    if segment_id:
        version = request.get("SegmentVersion")
        if segments is None or segments.get_segment(app_id, segment_id, version) is None:
            raise NotFound(f"Segment {segment_id}{f' version {version}' if version else ''} not found")
    elif request.get("SegmentVersion") is not None:
        raise BadRequest("ExportJobRequest.SegmentVersion needs a SegmentId")
    now = clock.now()
    job_id = new_job_id(now)
    job = {
        "Id": job_id,
        "ApplicationId": app_id,
        "Type": EXPORT,
        "CreationDate": iso(now),
        "Definition": {k: v for k, v in request.items() if v is not None},
        "JobStatus": "CREATED",
    }
    jobs.create_job(app_id, EXPORT, job)
    # Pieces are known up front (the shards): no planning step.
    jobs.start_job(app_id, EXPORT, job_id, ENDPOINT_SHARDS)
    queue.enqueue([ExportPiece(app_id=app_id, job_id=job_id, piece=shard) for shard in range(ENDPOINT_SHARDS)])
    logger.info("export job created", extra={"app_id": app_id, "job_id": job_id})
    return jobs.get_job(app_id, EXPORT, job_id) or job


def export_key(location: S3Location, job_id: str, shard: int) -> str:
    return location.join(f"{job_id}/shard-{shard:02d}.json")


def process_export_piece(deps: JobDeps, message: ExportPiece, final_attempt: bool = False) -> PieceOutcome | None:
    job = deps.jobs.get_job(message.app_id, EXPORT, message.job_id)
    if job is None or job["JobStatus"] != PROCESSING:
        return None
    definition = job["Definition"]
    location = S3Location.parse(definition["S3UrlPrefix"])
    assert location is not None
    outcome = PieceOutcome()
    try:
        storage = deps.objects(definition.get("RoleArn") or "", None)
        endpoints = _shard_endpoints(deps, message.app_id, definition, message.piece)
        storage.upload(
            location.bucket,
            export_key(location, message.job_id, message.piece),
            _json_lines(endpoints, outcome),
            "application/x-ndjson",
        )
    except PieceRefused as exc:
        outcome = PieceOutcome(failed=True, messages=[f"shard {message.piece}: {exc}"])
    except Exception as exc:
        if not final_attempt:
            raise
        logger.exception("export piece failed on its last attempt", extra={"job_id": message.job_id})
        outcome = PieceOutcome(failed=True, messages=[f"shard {message.piece}: {type(exc).__name__}"])
    count_piece(deps.jobs, deps.clock, EXPORT, message.app_id, message.job_id, message.piece, outcome)
    return outcome


def _shard_endpoints(deps: JobDeps, app_id: str, definition: dict[str, Any], shard: int) -> Iterable[dict[str, Any]]:
    segment_id = definition.get("SegmentId")
    if not segment_id:
        return deps.endpoints.scan_shard(app_id, shard)
    if deps.segments is None:
        raise NotFound(f"Segment {segment_id} not found")
    segment = deps.segments.get_segment(app_id, segment_id, definition.get("SegmentVersion"))
    if segment is None:
        raise PieceRefused(f"segment {segment_id} no longer exists")
    return resolve_shard(
        deps.endpoints, deps.segments, app_id, segment, shard, now=deps.clock.now(), include_inactive=True
    )


def _json_lines(endpoints: Iterable[dict[str, Any]], outcome: PieceOutcome) -> Iterator[bytes]:
    lines: list[str] = []
    for endpoint in endpoints:
        lines.append(json.dumps(endpoint, ensure_ascii=False, separators=(",", ":")))
        outcome.processed += 1
        if len(lines) >= LINES_PER_CHUNK:
            yield ("\n".join(lines) + "\n").encode()
            lines = []
    if lines:
        yield ("\n".join(lines) + "\n").encode()
