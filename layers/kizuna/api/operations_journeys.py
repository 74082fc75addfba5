"""Pinpoint's journey operations, their runs and execution metrics, and Kizuna's review before publish
(ValidateJourney)."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.errors import BadRequest
from kizuna.ports import JourneyStore
from kizuna.services import journey_metrics, journeys
from kizuna.services.journey_metrics import MetricsDeps
from kizuna.services.journeys import JourneyCatalog


def _journeys(call: Call) -> JourneyStore:
    if call.deps.journeys is None:
        raise BadRequest("Journeys are not configured")
    return call.deps.journeys


def _catalog(call: Call) -> JourneyCatalog:
    return JourneyCatalog(call.deps.templates, call.deps.segments, call.app_id)


@operation("CreateJourney")
def create_journey(call: Call) -> dict:
    d = call.deps
    return journeys.create_journey(
        d.apps,
        _journeys(call),
        _catalog(call),
        d.clock,
        d.arn_prefix,
        call.app_id,
        call.params.get("WriteJourneyRequest"),
        d.journey_started,
    )


@operation("UpdateJourney")
def update_journey(call: Call) -> dict:
    d, p = call.deps, call.params
    return journeys.update_journey(
        d.apps, _journeys(call), _catalog(call), d.clock, call.app_id, p["JourneyId"], p.get("WriteJourneyRequest"),
        d.journey_started,
    )  # fmt: skip


@operation("UpdateJourneyState")
def update_journey_state(call: Call) -> dict:
    d, p = call.deps, call.params
    return journeys.update_journey_state(
        d.apps, _journeys(call), _catalog(call), d.clock, call.app_id, p["JourneyId"], p.get("JourneyStateRequest"),
        d.journey_started,
    )  # fmt: skip


@operation("ValidateJourney")
def validate_journey(call: Call) -> dict:
    d = call.deps
    return journeys.validate_journey(
        d.apps, _journeys(call), _catalog(call), d.clock, call.app_id, call.params["JourneyId"]
    )


@operation("GetJourney")
def get_journey(call: Call) -> dict:
    return journeys.get_journey(call.deps.apps, _journeys(call), call.app_id, call.params["JourneyId"])


@operation("ListJourneys")
def list_journeys(call: Call) -> dict:
    p = call.params
    return journeys.list_journeys(call.deps.apps, _journeys(call), call.app_id, p.get("PageSize"), p.get("Token"))


@operation("DeleteJourney")
def delete_journey(call: Call) -> dict:
    return journeys.delete_journey(call.deps.apps, _journeys(call), call.app_id, call.params["JourneyId"])


def _metrics(call: Call) -> MetricsDeps:
    if call.deps.participants is None:
        raise BadRequest("Journey metrics are not configured")
    return MetricsDeps(call.deps.apps, _journeys(call), call.deps.participants, call.deps.clock)


@operation("GetJourneyExecutionMetrics")
def get_journey_execution_metrics(call: Call) -> dict:
    p = call.params
    return journey_metrics.get_journey_execution_metrics(
        _metrics(call), call.app_id, p["JourneyId"], p.get("PageSize"), p.get("NextToken")
    )


@operation("GetJourneyExecutionActivityMetrics")
def get_journey_execution_activity_metrics(call: Call) -> dict:
    p = call.params
    return journey_metrics.get_journey_execution_activity_metrics(
        _metrics(call), call.app_id, p["JourneyId"], p["JourneyActivityId"], p.get("PageSize"), p.get("NextToken")
    )


@operation("GetJourneyRuns")
def get_journey_runs(call: Call) -> dict:
    p = call.params
    return journey_metrics.get_journey_runs(
        _metrics(call), call.app_id, p["JourneyId"], p.get("PageSize"), p.get("Token")
    )


@operation("GetJourneyRunExecutionMetrics")
def get_journey_run_execution_metrics(call: Call) -> dict:
    p = call.params
    return journey_metrics.get_journey_run_execution_metrics(
        _metrics(call), call.app_id, p["JourneyId"], p["RunId"], p.get("PageSize"), p.get("NextToken")
    )


@operation("GetJourneyRunExecutionActivityMetrics")
def get_journey_run_execution_activity_metrics(call: Call) -> dict:
    p = call.params
    return journey_metrics.get_journey_run_execution_activity_metrics(
        _metrics(call), call.app_id, p["JourneyId"], p["RunId"], p["JourneyActivityId"], p.get("PageSize"),
        p.get("NextToken"),
    )  # fmt: skip
