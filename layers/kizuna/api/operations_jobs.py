"""Pinpoint import and export jobs: create, get, list (per app and per segment); erasure jobs (extension)."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.domain.jobs import EXPORT, IMPORT
from kizuna.errors import BadRequest
from kizuna.ports import JobQueue, JobStore
from kizuna.services import erase_events, export_jobs, import_jobs


def _jobs(call: Call) -> tuple[JobStore, JobQueue]:
    if call.deps.jobs is None or call.deps.jobs_queue is None:
        raise BadRequest("Import and export jobs are not configured")
    return call.deps.jobs, call.deps.jobs_queue


@operation("CreateImportJob")
def create_import_job(call: Call) -> dict:
    jobs, queue = _jobs(call)
    d = call.deps
    return import_jobs.create_import_job(
        d.apps, jobs, queue, d.segments, d.clock, d.arn_prefix, call.app_id, call.params.get("ImportJobRequest")
    )


@operation("GetImportJob")
def get_import_job(call: Call) -> dict:
    return import_jobs.get_job(call.deps.apps, _jobs(call)[0], IMPORT, call.app_id, call.params["JobId"])


@operation("GetImportJobs")
def get_import_jobs(call: Call) -> dict:
    p = call.params
    return import_jobs.list_jobs(call.deps.apps, _jobs(call)[0], IMPORT, call.app_id, p.get("PageSize"), p.get("Token"))


@operation("GetSegmentImportJobs")
def get_segment_import_jobs(call: Call) -> dict:
    p = call.params
    return import_jobs.list_jobs(
        call.deps.apps, _jobs(call)[0], IMPORT, call.app_id, p.get("PageSize"), p.get("Token"), p["SegmentId"]
    )


@operation("CreateExportJob")
def create_export_job(call: Call) -> dict:
    jobs, queue = _jobs(call)
    d = call.deps
    return export_jobs.create_export_job(
        d.apps, jobs, queue, d.segments, d.clock, call.app_id, call.params.get("ExportJobRequest")
    )


@operation("GetExportJob")
def get_export_job(call: Call) -> dict:
    return import_jobs.get_job(call.deps.apps, _jobs(call)[0], EXPORT, call.app_id, call.params["JobId"])


@operation("GetExportJobs")
def get_export_jobs(call: Call) -> dict:
    p = call.params
    return import_jobs.list_jobs(call.deps.apps, _jobs(call)[0], EXPORT, call.app_id, p.get("PageSize"), p.get("Token"))


@operation("GetSegmentExportJobs")
def get_segment_export_jobs(call: Call) -> dict:
    p = call.params
    return import_jobs.list_jobs(
        call.deps.apps, _jobs(call)[0], EXPORT, call.app_id, p.get("PageSize"), p.get("Token"), p["SegmentId"]
    )


@operation("GetErasureJobs")
def get_erasure_jobs(call: Call) -> dict:
    p = call.params
    return erase_events.list_erasure_jobs(
        call.deps.apps, _jobs(call)[0], call.app_id, p.get("PageSize"), p.get("Token")
    )
