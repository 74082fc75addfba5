"""Pinpoint's campaign operations: create, update, get (with versions), list, delete, and the activities of runs.

A campaign document is Pinpoint's CampaignResponse; its `Version` is Pinpoint's campaign version, which every
update increments and which every write is conditional on (two concurrent updates cannot both win). Each version is
kept (GetCampaignVersion(s)). After every write the campaign's next run is (re)scheduled, or, for an EVENT
campaign, its filter indexed for PutEvents (kizuna.services.campaign_runs). `State` is computed when read: PAUSED,
EXECUTING while a run is in progress, SCHEDULED before the first run, PENDING_NEXT_RUN between runs, COMPLETED
when no run is left.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from kizuna.clock import iso
from kizuna.domain import campaigns as rules
from kizuna.domain.campaign_schedule import parse_schedule, run_key_after
from kizuna.domain.jobs import PROCESSING
from kizuna.domain.segments import compile_event_dimensions
from kizuna.errors import BadRequest, Conflict, NotFound
from kizuna.services.campaign_runs import CampaignDeps, activate, run_id_of, run_type

WRITABLE = (
    "AdditionalTreatments", "CustomDeliveryConfiguration", "Description", "HoldoutPercent", "Hook", "IsPaused",
    "Limits", "MessageConfiguration",
    "Name", "Priority", "Schedule", "SegmentId", "SegmentVersion", "TemplateConfiguration", "TreatmentDescription",
    "TreatmentName",
)  # fmt: skip
MAX_PAGE_SIZE = 100


def create_campaign(deps: CampaignDeps, app_id: str, request: dict[str, Any] | None) -> dict[str, Any]:
    _require_app(deps, app_id)
    request = dict(request or {})
    campaign_id = uuid.uuid4().hex
    now = deps.clock.now()
    campaign = {
        "ApplicationId": app_id,
        "Arn": f"{deps.arn_prefix}:apps/{app_id}/campaigns/{campaign_id}",
        "CreationDate": iso(now),
        "Id": campaign_id,
        "LastModifiedDate": iso(now),
        "Version": 1,
        **_checked(deps, app_id, request),
    }
    if request.get("tags"):
        campaign["tags"] = dict(request["tags"])
    if not deps.campaigns.put_campaign(app_id, campaign, None):
        raise Conflict(f"Campaign {campaign_id} already exists")
    activate(deps, campaign)
    return public(deps, campaign)


def update_campaign(
    deps: CampaignDeps, app_id: str, campaign_id: str, request: dict[str, Any] | None
) -> dict[str, Any]:
    """Fields the request gives replace the campaign's; the rest are kept (so `{"IsPaused": true}` pauses it)."""
    _require_app(deps, app_id)
    current = _require_campaign(deps, app_id, campaign_id)
    given = {k: v for k, v in (request or {}).items() if v is not None}
    merged = {k: current[k] for k in WRITABLE if k in current} | {k: given[k] for k in WRITABLE if k in given}
    if "SegmentId" in given and "SegmentVersion" not in given:
        merged.pop("SegmentVersion", None)  # a new segment is used at its latest version
    if given.get("Schedule") == current.get("Schedule"):
        given.pop("Schedule", None)
    campaign = {k: v for k, v in current.items() if k not in WRITABLE} | _checked(
        deps, app_id, merged, schedule_changed="Schedule" in given
    )
    campaign["Version"] = current["Version"] + 1
    campaign["LastModifiedDate"] = iso(deps.clock.now())
    if not deps.campaigns.put_campaign(app_id, campaign, current["Version"]):
        raise Conflict(f"Campaign {campaign_id} was changed meanwhile; read it again and retry")
    activate(deps, campaign)
    return public(deps, campaign)


def get_campaign(deps: CampaignDeps, app_id: str, campaign_id: str) -> dict[str, Any]:
    _require_app(deps, app_id)
    return public(deps, _require_campaign(deps, app_id, campaign_id))


def get_campaign_version(deps: CampaignDeps, app_id: str, campaign_id: str, version: str) -> dict[str, Any]:
    _require_app(deps, app_id)
    _require_campaign(deps, app_id, campaign_id)
    if not str(version).isdigit():
        raise BadRequest(f"Version must be a positive whole number; got {version!r}")
    found = deps.campaigns.get_campaign(app_id, campaign_id, int(version))
    if found is None:
        raise NotFound(f"Campaign {campaign_id} has no version {version}")
    return public(deps, found, with_state=False)


def get_campaign_versions(
    deps: CampaignDeps, app_id: str, campaign_id: str, page_size: str | None, token: str | None
) -> dict[str, Any]:
    _require_app(deps, app_id)
    _require_campaign(deps, app_id, campaign_id)
    versions = sorted(deps.campaigns.list_versions(app_id, campaign_id), key=lambda c: -c["Version"])
    start = _offset(token)
    size = _page_size(page_size)
    page = versions[start : start + size]
    response: dict[str, Any] = {"Item": [public(deps, v, with_state=False) for v in page]}
    if start + size < len(versions):
        response["NextToken"] = str(start + size)
    return response


def get_campaigns(deps: CampaignDeps, app_id: str, page_size: str | None, token: str | None) -> dict[str, Any]:
    _require_app(deps, app_id)
    docs, next_token = deps.campaigns.list_campaigns(app_id, _page_size(page_size), token)
    response: dict[str, Any] = {"Item": [public(deps, c) for c in docs]}
    if next_token:
        response["NextToken"] = next_token
    return response


def delete_campaign(deps: CampaignDeps, app_id: str, campaign_id: str) -> dict[str, Any]:
    """The campaign and its versions go, its pending run is cancelled; its activities stay with the app's data (a
    run in progress finishes the shards it started)."""
    _require_app(deps, app_id)
    campaign = _require_campaign(deps, app_id, campaign_id)
    deps.scheduler.cancel_run(app_id, campaign_id)
    deps.campaigns.delete_campaign(app_id, campaign_id)
    response = public(deps, campaign, with_state=False)
    response["State"] = {"CampaignStatus": "DELETED"}
    return response


def get_campaign_activities(
    deps: CampaignDeps, app_id: str, campaign_id: str, page_size: str | None, token: str | None
) -> dict[str, Any]:
    """One ActivityResponse per run, newest first."""
    _require_app(deps, app_id)
    _require_campaign(deps, app_id, campaign_id)
    runs, next_token = deps.jobs.list_jobs(app_id, run_type(campaign_id), _page_size(page_size), token)
    response: dict[str, Any] = {"Item": [activity(run) for run in runs]}
    if next_token:
        response["NextToken"] = next_token
    return response


def activity(run: dict[str, Any]) -> dict[str, Any]:
    """A run job as Pinpoint's ActivityResponse: targeted endpoints, and those whose message was accepted."""
    definition = run.get("Definition") or {}
    targeted = run.get("TotalProcessed", 0)
    state = {"CREATED": "PENDING", PROCESSING: "RUNNING"}.get(run["JobStatus"], run["JobStatus"])
    result = {
        "ApplicationId": run["ApplicationId"],
        "CampaignId": definition["CampaignId"],
        "Id": run["Id"],
        "ScheduledStart": definition["ScheduledStart"],
        "Start": run["CreationDate"],
        "State": state,
        "TotalEndpointCount": targeted,
        "SuccessfulEndpointCount": targeted - run.get("TotalFailures", 0),
        "TreatmentId": rules.MAIN_TREATMENT,
        "TimezonesTotalCount": run.get("TotalPieces", 0),
        "TimezonesCompletedCount": run.get("CompletedPieces", 0) + run.get("FailedPieces", 0),
        "ExecutionMetrics": {"Version": str(definition.get("Version", ""))},
    }
    if run.get("CompletionDate"):
        result["End"] = run["CompletionDate"]
        result["Result"] = "SUCCESS" if run["JobStatus"] == "COMPLETED" else "FAIL"
    return result


def public(deps: CampaignDeps, campaign: dict[str, Any], with_state: bool = True) -> dict[str, Any]:
    response = dict(campaign)
    if with_state:
        status = _status(deps, campaign)
        response["State"] = {"CampaignStatus": status}
        response["DefaultState"] = {"CampaignStatus": status}
    return response


# -- helpers ------------------------------------------------------------------------------------------------------


def _checked(deps: CampaignDeps, app_id: str, request: dict[str, Any], schedule_changed: bool = True) -> dict[str, Any]:
    """The writable fields of a valid request, completed as Pinpoint completes them (SegmentVersion, treatment ids,
    an IMMEDIATE start written as the instant it was accepted)."""
    rules.validate_write(request)
    now = deps.clock.now()
    schedule = parse_schedule(
        request["Schedule"], now, "WriteCampaignRequest.Schedule", allow_past=not schedule_changed
    )
    if schedule.frequency == "EVENT":
        event_filter = request["Schedule"]["EventFilter"]
        if event_filter.get("FilterType", "ENDPOINT") not in ("ENDPOINT", "SYSTEM"):
            raise BadRequest("WriteCampaignRequest.Schedule.EventFilter.FilterType must be ENDPOINT or SYSTEM")
        compile_event_dimensions(event_filter.get("Dimensions") or {}, "WriteCampaignRequest.Schedule.EventFilter")
    segment = deps.segments.get_segment(app_id, request["SegmentId"], request.get("SegmentVersion"))
    if segment is None:
        version = request.get("SegmentVersion")
        raise NotFound(f"Segment {request['SegmentId']}{f' version {version}' if version else ''} not found")
    written = {k: request[k] for k in WRITABLE if request.get(k) is not None}
    written["SegmentVersion"] = segment.get("Version", 1)
    written["HoldoutPercent"] = request.get("HoldoutPercent") or 0
    written["IsPaused"] = bool(request.get("IsPaused"))
    written["AdditionalTreatments"] = [
        {**t, "Id": t.get("Id") or str(i + 1)} for i, t in enumerate(request.get("AdditionalTreatments") or [])
    ]
    if schedule.is_immediate:
        written["Schedule"] = {**request["Schedule"], "StartTime": iso(schedule.start)}
    return written


def _status(deps: CampaignDeps, campaign: dict[str, Any]) -> str:
    if campaign.get("IsPaused"):
        return "PAUSED"
    runs, _ = deps.jobs.list_jobs(campaign["ApplicationId"], run_type(campaign["Id"]), 1, None)
    if runs and runs[0]["JobStatus"] in ("CREATED", PROCESSING):
        return "EXECUTING"
    now = deps.clock.now()
    schedule = parse_schedule(campaign["Schedule"], now, allow_past=True)
    if schedule.frequency == "EVENT":
        return "COMPLETED" if schedule.end and schedule.end <= now else "SCHEDULED"
    # A run due within the last minute whose message is still on its way counts as pending.
    upcoming = run_key_after(schedule, now - timedelta(minutes=1))
    if upcoming is not None and (not runs or run_id_of(upcoming) > runs[0]["Id"]):
        return "PENDING_NEXT_RUN" if runs else "SCHEDULED"
    return "COMPLETED"


def _require_app(deps: CampaignDeps, app_id: str) -> None:
    if deps.apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")


def _require_campaign(deps: CampaignDeps, app_id: str, campaign_id: str) -> dict[str, Any]:
    found = deps.campaigns.get_campaign(app_id, campaign_id)
    if found is None:
        raise NotFound(f"Campaign {campaign_id} not found")
    return found


def _page_size(page_size: str | None) -> int:
    if page_size in (None, ""):
        return MAX_PAGE_SIZE
    if not str(page_size).isdigit() or not 1 <= int(page_size) <= MAX_PAGE_SIZE:
        raise BadRequest(f"PageSize must be a whole number from 1 to {MAX_PAGE_SIZE}; got {page_size!r}")
    return int(page_size)


def _offset(token: str | None) -> int:
    if token in (None, ""):
        return 0
    if not str(token).isdigit():
        raise BadRequest(f"Token is not valid: {token!r}")
    return int(token)
