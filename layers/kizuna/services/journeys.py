"""Pinpoint's journey operations: create, update, get, list, delete, and the state changes — with the review
before publish (kizuna.domain.journey_review) enforced on every activation.

States follow Pinpoint: a journey is written as DRAFT (or ACTIVE, which publishes it at once), only a DRAFT can be
edited, and UpdateJourneyState moves it: DRAFT → ACTIVE (publish), ACTIVE ⇄ PAUSED, and DRAFT/ACTIVE/PAUSED →
CANCELLED. CANCELLED, COMPLETED and CLOSED are final. Every write is conditional on the version read, so an edit
racing an activation loses cleanly (409) instead of publishing something nobody reviewed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kizuna.clock import Clock, iso
from kizuna.domain.journey_review import MAX_ACTIVITIES, Catalog, Review, review_journey
from kizuna.errors import BadRequest, Conflict, NotFound
from kizuna.ports import AppStore, JourneyStore, SegmentStore, TemplateStore
from kizuna.services.journey_engagement import LIVE_STATES, index_journey

FIELD = "WriteJourneyRequest"
WRITABLE = (
    "Activities", "ClosedDays", "JourneyChannelSettings", "Limits", "LocalTime", "Name", "OpenHours", "QuietTime",
    "RefreshFrequency", "RefreshOnSegmentUpdate", "Schedule", "SendingSchedule", "StartActivity", "StartCondition",
    "TimezoneEstimationMethods", "WaitForQuietTime",
)  # fmt: skip
FINAL_STATES = ("CANCELLED", "COMPLETED", "CLOSED")
INTERNAL = ("Version", "RunId", "ResumedAt")  # kept on the stored journey, never answered
# (from, to) pairs UpdateJourneyState allows.
TRANSITIONS = {
    ("DRAFT", "ACTIVE"), ("ACTIVE", "PAUSED"), ("PAUSED", "ACTIVE"),
    ("DRAFT", "CANCELLED"), ("ACTIVE", "CANCELLED"), ("PAUSED", "CANCELLED"),
}  # fmt: skip
MAX_PAGE_SIZE = 100
OnActive = Callable[[dict[str, Any]], None]  # starts an ACTIVE journey's run (kizuna.services.journey_runs.start)
TEMPLATE_TYPES_FOR_CUSTOM = ("SMS", "EMAIL", "VOICE", "PUSH")


class JourneyCatalog:
    """What a journey of an app may refer to: account-wide templates and the app's segments."""

    def __init__(self, templates: TemplateStore | None, segments: SegmentStore | None, app_id: str) -> None:
        self._templates, self._segments, self._app_id = templates, segments, app_id

    def catalog(self) -> Catalog:
        return Catalog(self._template_exists, self._segment_exists)

    def _template_exists(self, name: str, template_type: str | None) -> bool:
        if self._templates is None:
            return False
        types = (template_type,) if template_type else TEMPLATE_TYPES_FOR_CUSTOM
        return any(self._templates.get_head(t, name) is not None for t in types)

    def _segment_exists(self, segment_id: str) -> bool:
        return self._segments is not None and self._segments.get_segment(self._app_id, segment_id) is not None


def create_journey(
    apps: AppStore, journeys: JourneyStore, catalog: JourneyCatalog, clock: Clock, arn_prefix: str, app_id: str,
    request: dict[str, Any] | None, on_active: OnActive | None = None,
) -> dict[str, Any]:  # fmt: skip
    _require_app(apps, app_id)
    request = _checked_request(request)
    journey_id = uuid.uuid4().hex
    now = iso(clock.now())
    journey = {
        "ApplicationId": app_id,
        "Arn": f"{arn_prefix}:apps/{app_id}/journeys/{journey_id}",
        "CreationDate": now,
        "Id": journey_id,
        "LastModifiedDate": now,
        "State": "DRAFT",
        "Version": 1,
        **_writable(request),
    }
    if request.get("tags"):
        journey["tags"] = dict(request["tags"])
    if request.get("State") == "ACTIVE":
        _publishable(journey, catalog, clock.now())
        journey |= {"State": "ACTIVE", "RunId": run_id_for(clock.now())}
    if not journeys.put_journey(app_id, journey, None):
        raise Conflict(f"Journey {journey_id} already exists")
    _index(journeys, journey, clock)
    _started(journey, on_active)
    return public(journey)


def update_journey(
    apps: AppStore, journeys: JourneyStore, catalog: JourneyCatalog, clock: Clock, app_id: str, journey_id: str,
    request: dict[str, Any] | None, on_active: OnActive | None = None,
) -> dict[str, Any]:  # fmt: skip
    _require_app(apps, app_id)
    current = _require_journey(journeys, app_id, journey_id)
    request = _checked_request(request)
    if current["State"] != "DRAFT":
        raise BadRequest(f"Journey {journey_id} is {current['State']}: only a DRAFT journey can be edited "
                         "(create a new journey, or cancel this one)")  # fmt: skip
    journey = {k: v for k, v in current.items() if k not in WRITABLE} | _writable(request)
    journey["Version"] = current["Version"] + 1
    journey["LastModifiedDate"] = iso(clock.now())
    if request.get("State") == "ACTIVE":
        _publishable(journey, catalog, clock.now())
        journey |= {"State": "ACTIVE", "RunId": run_id_for(clock.now())}
    _put(journeys, app_id, journey, current["Version"])
    _index(journeys, journey, clock)
    _started(journey, on_active)
    return public(journey)


def update_journey_state(
    apps: AppStore, journeys: JourneyStore, catalog: JourneyCatalog, clock: Clock, app_id: str, journey_id: str,
    request: dict[str, Any] | None, on_active: OnActive | None = None,
) -> dict[str, Any]:  # fmt: skip
    _require_app(apps, app_id)
    target = (request or {}).get("State")
    if target not in ("ACTIVE", "PAUSED", "CANCELLED"):
        raise BadRequest(f"JourneyStateRequest.State must be ACTIVE, PAUSED or CANCELLED; got {target!r}")
    current = _require_journey(journeys, app_id, journey_id)
    if current["State"] == target:
        return public(current)
    if (current["State"], target) not in TRANSITIONS:
        raise BadRequest(f"Journey {journey_id} is {current['State']} and cannot become {target}")
    journey = dict(current)
    if current["State"] == "DRAFT" and target == "ACTIVE":
        _publishable(journey, catalog, clock.now())
        journey["RunId"] = run_id_for(clock.now())
    if current["State"] == "PAUSED" and target == "ACTIVE":
        # The execution that waited through the pause ends at its next plan; the one started now carries the run.
        journey["ResumedAt"] = iso(clock.now())
    journey |= {"State": target, "Version": current["Version"] + 1, "LastModifiedDate": iso(clock.now())}
    _put(journeys, app_id, journey, current["Version"])
    _index(journeys, journey, clock, was=current["State"])
    _started(journey, on_active)  # published, or resumed: the run's loop (re)starts and carries on where it was
    return public(journey)


def validate_journey(
    apps: AppStore, journeys: JourneyStore, catalog: JourneyCatalog, clock: Clock, app_id: str, journey_id: str
) -> dict[str, Any]:
    """Kizuna's review before publish: errors that block activation and recommendations, each naming its activity."""
    _require_app(apps, app_id)
    journey = _require_journey(journeys, app_id, journey_id)
    review = review_journey(journey, catalog.catalog(), clock.now())
    return {
        "ApplicationId": app_id,
        "JourneyId": journey_id,
        "Publishable": not review.errors,
        "Errors": [f.as_dict() for f in review.errors],
        "Recommendations": [f.as_dict() for f in review.recommendations],
    }


def get_journey(apps: AppStore, journeys: JourneyStore, app_id: str, journey_id: str) -> dict[str, Any]:
    _require_app(apps, app_id)
    return public(_require_journey(journeys, app_id, journey_id))


def list_journeys(
    apps: AppStore, journeys: JourneyStore, app_id: str, page_size: str | None, token: str | None
) -> dict[str, Any]:
    _require_app(apps, app_id)
    try:
        limit = int(page_size) if page_size else MAX_PAGE_SIZE
    except ValueError:
        raise BadRequest(f"page-size must be a number; got {page_size!r}") from None
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"page-size must be 1 to {MAX_PAGE_SIZE}")
    items, next_token = journeys.list_journeys(app_id, limit, token)
    return {"Item": [public(j) for j in items], **({"NextToken": next_token} if next_token else {})}


def delete_journey(apps: AppStore, journeys: JourneyStore, app_id: str, journey_id: str) -> dict[str, Any]:
    _require_app(apps, app_id)
    journey = _require_journey(journeys, app_id, journey_id)
    journeys.delete_journey(app_id, journey_id)
    return public(journey)


def public(journey: dict[str, Any]) -> dict[str, Any]:
    """The JourneyResponse: Kizuna's write version, run id and resume time stay inside."""
    return {k: v for k, v in journey.items() if k not in INTERNAL}


def run_id_for(now: datetime) -> str:
    """A run per publication: its participants, markers and message ids are keyed by it."""
    return "r" + now.strftime("%Y%m%dT%H%M%S")


def _index(journeys: JourneyStore, journey: dict[str, Any], clock: Clock, was: str = "DRAFT") -> None:
    """Keep the custom-event index (the event types PutEvents keeps for conditions) in step with live journeys."""
    if journey["State"] in LIVE_STATES or was in LIVE_STATES:
        index_journey(journeys, journey, clock.now())


def run_created_at(run_id: str) -> datetime:
    """When the run was created (published): the inverse of run_id_for."""
    return datetime.strptime(run_id, "r%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def _started(journey: dict[str, Any], on_active: OnActive | None) -> None:
    if on_active is not None and journey["State"] == "ACTIVE":
        on_active(journey)


# -- helpers ------------------------------------------------------------------------------------------------------


def _checked_request(request: dict[str, Any] | None) -> dict[str, Any]:
    """What must hold even for a draft: a name, at most 40 activities, a State Pinpoint accepts on a write."""
    request = request or {}
    if not (request.get("Name") or "").strip():
        raise BadRequest(f"{FIELD}.Name is required")
    if len(request.get("Activities") or {}) > MAX_ACTIVITIES:
        raise BadRequest(f"{FIELD}.Activities holds {len(request['Activities'])} activities; the limit is 40")
    state = request.get("State")
    if state not in (None, "DRAFT", "ACTIVE"):
        raise BadRequest(f"{FIELD}.State is DRAFT or ACTIVE on a write (UpdateJourneyState changes it); got {state!r}")
    return request


def _writable(request: dict[str, Any]) -> dict[str, Any]:
    return {k: request[k] for k in WRITABLE if request.get(k) is not None}


def _publishable(journey: dict[str, Any], catalog: JourneyCatalog, now: datetime) -> Review:
    review = review_journey(journey, catalog.catalog(), now)
    if review.errors:
        listed = "; ".join(
            (f"activity {f.activity}: " if f.activity else "") + f.message for f in review.errors[:5]
        ) + ("; ..." if len(review.errors) > 5 else "")
        raise BadRequest(f"The journey cannot be activated ({len(review.errors)} errors): {listed}")
    return review


def _put(journeys: JourneyStore, app_id: str, journey: dict[str, Any], expected_version: int) -> None:
    if not journeys.put_journey(app_id, journey, expected_version):
        raise Conflict(f"Journey {journey['Id']} was changed meanwhile; read it again and retry")


def _require_app(apps: AppStore, app_id: str) -> None:
    if apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")


def _require_journey(journeys: JourneyStore, app_id: str, journey_id: str) -> dict[str, Any]:
    found = journeys.get_journey(app_id, journey_id)
    if found is None:
        raise NotFound(f"Journey {journey_id} not found")
    return found
