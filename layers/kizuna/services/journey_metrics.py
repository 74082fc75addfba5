"""Pinpoint's journey execution metrics and runs: GetJourneyExecutionMetrics, GetJourneyExecutionActivityMetrics,
GetJourneyRuns, GetJourneyRunExecutionMetrics and GetJourneyRunExecutionActivityMetrics.

A journey has one run per publication (its `RunId`, kept inside the journey document), so the journey's metrics are
its run's. Each answer reads the run's 16 shard tallies (kizuna.ports_journeys.ParticipantStore.tally), which the
engine adds to in the same write that moves the participants (kizuna.services.journey_runs): the cost of a query
does not grow with the participants, and a replayed wake-up never counts twice. `page-size` is checked (1 to 100)
and `next-token` accepted, as Pinpoint; a metrics map is one page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kizuna.clock import Clock, iso
from kizuna.domain import journey_metrics
from kizuna.domain.journey_schedule import window_of
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore, JourneyStore
from kizuna.ports_journeys import ParticipantStore, Tally
from kizuna.services.journeys import MAX_PAGE_SIZE, run_created_at

RUN_STATUS = {"ACTIVE": "RUNNING", "PAUSED": "RUNNING", "COMPLETED": "COMPLETED", "CLOSED": "COMPLETED",
              "CANCELLED": "CANCELLED"}  # fmt: skip


@dataclass(frozen=True)
class MetricsDeps:
    apps: AppStore
    journeys: JourneyStore
    participants: ParticipantStore
    clock: Clock


def get_journey_execution_metrics(
    deps: MetricsDeps, app_id: str, journey_id: str, page_size: str | None, token: str | None
) -> dict[str, Any]:
    journey = _journey(deps, app_id, journey_id, page_size)
    tally = _tally(deps, journey, journey.get("RunId"))
    return {
        "ApplicationId": app_id,
        "JourneyId": journey_id,
        "LastEvaluatedTime": _evaluated(journey, tally),
        "Metrics": journey_metrics.journey_metrics(tally.counts, journey["State"]),
    }


def get_journey_execution_activity_metrics(
    deps: MetricsDeps, app_id: str, journey_id: str, activity_id: str, page_size: str | None, token: str | None
) -> dict[str, Any]:
    journey = _journey(deps, app_id, journey_id, page_size)
    activity = _activity(journey, activity_id)
    tally = _tally(deps, journey, journey.get("RunId"))
    return {
        "ActivityType": journey_metrics.activity_type(activity),
        "ApplicationId": app_id,
        "JourneyActivityId": activity_id,
        "JourneyId": journey_id,
        "LastEvaluatedTime": _evaluated(journey, tally),
        "Metrics": journey_metrics.activity_metrics(activity_id, activity, tally.counts),
    }


def get_journey_runs(
    deps: MetricsDeps, app_id: str, journey_id: str, page_size: str | None, token: str | None
) -> dict[str, Any]:
    """The journey's runs, newest first: none before it is published, then its one run."""
    journey = _journey(deps, app_id, journey_id, page_size)
    run_id = journey.get("RunId")
    if not run_id or (token and token >= run_id):  # a token names the last run of the previous page
        return {"Item": []}
    tally = _tally(deps, journey, run_id)
    return {
        "Item": [
            {
                "CreationTime": iso(run_created_at(run_id)),
                "LastUpdateTime": _evaluated(journey, tally),
                "RunId": run_id,
                "Status": _run_status(journey, deps.clock.now()),
            }
        ]
    }


def get_journey_run_execution_metrics(
    deps: MetricsDeps, app_id: str, journey_id: str, run_id: str, page_size: str | None, token: str | None
) -> dict[str, Any]:
    journey = _journey(deps, app_id, journey_id, page_size)
    tally = _tally(deps, journey, _run(journey, run_id))
    return {
        "ApplicationId": app_id,
        "JourneyId": journey_id,
        "LastEvaluatedTime": _evaluated(journey, tally),
        "Metrics": journey_metrics.journey_metrics(tally.counts, journey["State"]),
        "RunId": run_id,
    }


def get_journey_run_execution_activity_metrics(
    deps: MetricsDeps, app_id: str, journey_id: str, run_id: str, activity_id: str, page_size: str | None,
    token: str | None,
) -> dict[str, Any]:  # fmt: skip
    journey = _journey(deps, app_id, journey_id, page_size)
    tally = _tally(deps, journey, _run(journey, run_id))
    activity = _activity(journey, activity_id)
    return {
        "ActivityType": journey_metrics.activity_type(activity),
        "ApplicationId": app_id,
        "JourneyActivityId": activity_id,
        "JourneyId": journey_id,
        "LastEvaluatedTime": _evaluated(journey, tally),
        "Metrics": journey_metrics.activity_metrics(activity_id, activity, tally.counts),
        "RunId": run_id,
    }


@dataclass(frozen=True)
class ActivityRow:
    activity_id: str
    activity_type: str  # Pinpoint's ActivityType: MESSAGE, WAIT, MULTI_CONDITIONAL_SPLIT, ...
    metrics: dict[str, str]  # what GetJourneyExecutionActivityMetrics answers for it


def journey_activity_table(journey: dict[str, Any], participants: ParticipantStore) -> tuple[dict, list[ActivityRow]]:
    """The journey's execution metrics and every activity's, as GetJourneyExecutionMetrics and
    GetJourneyExecutionActivityMetrics answer them, from one read of the run's tallies (the dashboard's journey
    view); activities in the order a participant meets them from the start activity, then any left over."""
    tally = (
        participants.tally(journey["ApplicationId"], journey["Id"], journey["RunId"])
        if journey.get("RunId")
        else Tally({}, None)
    )
    activities = journey.get("Activities") or {}
    rows = [
        ActivityRow(a, journey_metrics.activity_type(activities[a]),
                    journey_metrics.activity_metrics(a, activities[a], tally.counts))
        for a in _walk_order(journey.get("StartActivity"), activities)
    ]  # fmt: skip
    return journey_metrics.journey_metrics(tally.counts, journey["State"]), rows


def _walk_order(start: str | None, activities: dict[str, Any]) -> list[str]:
    order: list[str] = []
    queue = [start] if start in activities else []
    while queue:
        activity_id = queue.pop(0)
        if activity_id in order or activity_id not in activities:
            continue
        order.append(activity_id)
        queue += _next_activities(activities[activity_id])
    return order + sorted(a for a in activities if a not in order)


def _next_activities(activity: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for body in activity.values():
        if not isinstance(body, dict):
            continue
        branches = [b.get("NextActivity") for b in body.get("Branches") or [] if isinstance(b, dict)]
        for next_id in (body.get("NextActivity"), body.get("TrueActivity"), body.get("FalseActivity"), *branches,
                        body.get("DefaultActivity")):  # fmt: skip
            if isinstance(next_id, str):
                found.append(next_id)
    return found


# -- helpers ------------------------------------------------------------------------------------------------------


def _journey(deps: MetricsDeps, app_id: str, journey_id: str, page_size: str | None) -> dict[str, Any]:
    if deps.apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")
    _check_page_size(page_size)
    journey = deps.journeys.get_journey(app_id, journey_id)
    if journey is None:
        raise NotFound(f"Journey {journey_id} not found")
    return journey


def _check_page_size(page_size: str | None) -> None:
    if page_size is None:
        return
    try:
        size = int(page_size)
    except ValueError:
        raise BadRequest(f"page-size must be a number; got {page_size!r}") from None
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise BadRequest(f"page-size must be 1 to {MAX_PAGE_SIZE}; got {size}")


def _run(journey: dict[str, Any], run_id: str) -> str:
    if not journey.get("RunId") or journey["RunId"] != run_id:
        raise NotFound(f"Journey run {run_id} not found")
    return run_id


def _activity(journey: dict[str, Any], activity_id: str) -> dict[str, Any]:
    activity = (journey.get("Activities") or {}).get(activity_id)
    if activity is None:
        raise NotFound(f"Journey activity {activity_id} not found")
    return activity


def _tally(deps: MetricsDeps, journey: dict[str, Any], run_id: str | None) -> Tally:
    if not run_id:  # never published: nothing counted yet
        return Tally({}, None)
    return deps.participants.tally(journey["ApplicationId"], journey["Id"], run_id)


def _evaluated(journey: dict[str, Any], tally: Tally) -> str:
    """When the run's counts last changed, or the journey did (a state change ends or cancels a run)."""
    modified = _instant(journey["LastModifiedDate"])
    return iso(max(modified, tally.updated_at) if tally.updated_at else modified)


def _run_status(journey: dict[str, Any], now: datetime) -> str:
    start = window_of(journey).first_start  # with LocalTime, when the journey starts in the earliest zone
    if journey["State"] == "ACTIVE" and start and now < start:
        return "SCHEDULED"
    return RUN_STATUS.get(journey["State"], "RUNNING")


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
