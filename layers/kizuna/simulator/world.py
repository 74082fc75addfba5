"""The simulated app a journey runs in: the production services and in-memory stores, assembled as the engine's
wiring assembles the real ones (kizuna.wiring_journeys.journey_deps), on a virtual clock.

- Endpoints: the file's EndpointRequests (each with its Id), written through UpdateEndpoint's service, so they are
  validated and normalised as the API would.
- Segments: every segment the journey names (its start segment, segment conditions) holds every endpoint of the
  file, unless `segments` gives a WriteSegmentRequest per segment id; then those are created, with their
  dimensions honoured, and a segment not given does not exist (the review reports it).
- Templates: a stand-in template of the activity's type for each TemplateName (the simulator checks the journey's
  flow, not its wording); a WhatsApp one carries a made-up approved ContentSid.
- Channels: every channel enabled, e-mail from a simulator address; no opt-out list and no WhatsApp 24-hour
  windows, so a WhatsApp message goes as its template, to an endpoint with Attributes.WhatsAppOptIn only.
- Limits: the journey's own (DailyCap, TotalCap, TimeframeCap) are counted per endpoint as the engine counts them;
  the app has no settings, so no app-wide limit applies.
- The journey is checked against Pinpoint's WriteJourneyRequest shape (as the API checks it), written as a draft,
  reviewed (kizuna.domain.journey_review: errors refuse the simulation), then published with UpdateJourneyState,
  which starts its run. Its id is derived from the document (or given), since holdouts, random splits and message
  ids hash it: the same inputs give the same simulation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kizuna.adapters.memory import InMemoryDataStore, InMemoryMessageStore
from kizuna.adapters.memory_campaigns import InMemoryEndpointCaps
from kizuna.adapters.memory_engagement import InMemoryEngagementStore
from kizuna.adapters.memory_journeys import InMemoryJourneyStore
from kizuna.adapters.memory_participants import InMemoryOrchestrator
from kizuna.adapters.memory_segments import InMemorySegmentStore
from kizuna.adapters.memory_sending import InMemoryChannelStore
from kizuna.adapters.memory_templates import InMemoryTemplateStore
from kizuna.clock import VirtualClock
from kizuna.domain.journey_activities import activity_kind
from kizuna.errors import KizunaError
from kizuna.pinpoint.model import service_model, validate
from kizuna.services import journey_runs, journeys
from kizuna.services.apps import create_app
from kizuna.services.endpoints import update_endpoint
from kizuna.services.import_rows import parse_rows
from kizuna.services.segments import create_segment
from kizuna.services.send_messages import SendDeps
from kizuna.services.templates import create_template
from kizuna.simulator.errors import JourneyRefused, SimulationError
from kizuna.simulator.stores import Journal, JournalingParticipantStore, SimulatedSender

ARN = "arn:aws:mobiletargeting:ap-northeast-1:000000000000"
EMAIL_FROM = "journeys@simulator.invalid"
STAND_IN_KINDS = ("SMS", "EMAIL", "VOICE", "WHATSAPP")


@dataclass
class Options:
    deliver_percent: int = 100
    failing: frozenset[str] = frozenset()
    replies: dict[str, str | dict[str, str]] = field(default_factory=dict)
    segments: dict[str, dict[str, Any]] | None = None  # segment id -> WriteSegmentRequest; None: all endpoints
    journey_id: str | None = None  # None: derived from the journey document, so a simulation repeats exactly


@dataclass
class World:
    clock: VirtualClock
    journal: Journal
    data: InMemoryDataStore
    journeys: InMemoryJourneyStore
    participants: JournalingParticipantStore
    sender: SimulatedSender
    deps: journey_runs.JourneyDeps
    app_id: str
    journey_id: str
    recommendations: list[dict[str, str]]

    @property
    def journey(self) -> dict[str, Any]:
        found = self.journeys.get_journey(self.app_id, self.journey_id)
        assert found is not None
        return found


def parse_endpoints(text: str, source: str) -> list[dict[str, Any]]:
    """EndpointRequests with their Id: JSON lines (what `kizuna endpoints export` writes), a JSON array, or an
    EndpointBatchRequest ({"Item": [...]}). Each is checked as an import row is (kizuna.services.import_rows)."""
    lines = text.lstrip("\ufeff")
    try:
        whole = json.loads(lines)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):
        whole = whole.get("Item") if "Item" in whole else [whole]
    if isinstance(whole, list):
        lines = "\n".join(json.dumps(item, ensure_ascii=False) for item in whole)
    endpoints: list[dict[str, Any]] = []
    for row in parse_rows(lines.encode(), False, None, 1):
        if row.request is None:
            raise SimulationError(f"{source}: endpoint {row.number}: {row.error}")
        if not row.request.get("Id"):
            raise SimulationError(f"{source}: endpoint {row.number} has no Id")
        endpoints.append(row.request)
    if not endpoints:
        raise SimulationError(f"{source}: no endpoints")
    return endpoints


def build(journey_request: dict[str, Any], endpoints: list[dict[str, Any]], start: datetime, options: Options) -> World:
    clock, journal = VirtualClock(start), Journal()
    data, segments, templates = InMemoryDataStore(), InMemorySegmentStore(), InMemoryTemplateStore()
    stored_journeys, messages, channels = InMemoryJourneyStore(), InMemoryMessageStore(), InMemoryChannelStore()
    participants = JournalingParticipantStore(clock, journal)
    engagement = InMemoryEngagementStore()
    app_id = create_app(data, clock, ARN, {"Name": "journey simulation"}).id
    sender = SimulatedSender(
        clock, messages, journal, engagement, app_id,
        deliver_percent=options.deliver_percent, failing=options.failing, reply_plan=options.replies,
    )  # fmt: skip
    channels.put_channel(app_id, "EMAIL", {"Enabled": True, "FromAddress": EMAIL_FROM})
    send = SendDeps(data, data, sender, clock, templates, channels)
    deps = journey_runs.JourneyDeps(
        data, data, segments, stored_journeys, participants, send, clock, InMemoryOrchestrator(), messages, engagement,
        caps=InMemoryEndpointCaps(),  # the journey's Limits (DailyCap, TotalCap, TimeframeCap)
    )  # fmt: skip
    for endpoint in endpoints:
        try:
            update_endpoint(data, data, clock, app_id, endpoint["Id"], {k: v for k, v in endpoint.items() if k != "Id"})
        except KizunaError as exc:
            raise SimulationError(f"endpoint {endpoint['Id']}: {exc.message}") from None
    _segments(data, segments, clock, app_id, journey_request, options.segments)
    _stand_in_templates(templates, clock, journey_request)
    request = {k: v for k, v in journey_request.items() if k != "State"}
    catalog = journeys.JourneyCatalog(templates, segments, app_id)
    try:
        validate(service_model().shape_for("WriteJourneyRequest"), request)  # what the API checks first
        created = journeys.create_journey(data, stored_journeys, catalog, clock, ARN, app_id, request)["Id"]
        journey_id = _rekey(stored_journeys, app_id, created, options.journey_id or _derived_id(request))
        review = journeys.validate_journey(data, stored_journeys, catalog, clock, app_id, journey_id)
        if review["Errors"]:
            raise JourneyRefused(review["Errors"], review["Recommendations"])
        if not ((request.get("StartCondition") or {}).get("SegmentStartCondition") or {}).get("SegmentId"):
            raise SimulationError(
                "journey: event-started journeys are entered by PutEvents, and the simulator has no event input yet: "
                "simulate its path with a SegmentStartCondition instead"
            )
        journeys.update_journey_state(
            data, stored_journeys, catalog, clock, app_id, journey_id, {"State": "ACTIVE"},
            lambda j: journey_runs.start(deps, j),
        )  # fmt: skip
    except KizunaError as exc:
        raise SimulationError(f"journey: {exc.message}") from None
    return World(
        clock, journal, data, stored_journeys, participants, sender, deps, app_id, journey_id,
        review["Recommendations"],
    )  # fmt: skip


def _derived_id(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def _rekey(store: InMemoryJourneyStore, app_id: str, created: str, journey_id: str) -> str:
    """Holdouts, random splits and message ids hash the journey id: a fixed one makes the simulation repeatable
    (and, given the id a journey has in Kizuna, makes them fall as they do there)."""
    doc = store.get_journey(app_id, created)
    assert doc is not None
    store.delete_journey(app_id, created)
    store.put_journey(app_id, {**doc, "Id": journey_id, "Arn": f"{ARN}:apps/{app_id}/journeys/{journey_id}"}, None)
    return journey_id


def _segments(
    data: InMemoryDataStore,
    store: InMemorySegmentStore,
    clock: VirtualClock,
    app_id: str,
    journey: dict[str, Any],
    given: dict[str, dict[str, Any]] | None,
) -> None:
    start = ((journey.get("StartCondition") or {}).get("SegmentStartCondition") or {}).get("SegmentId")
    named = ([start] if start else []) + _segment_conditions(journey.get("Activities") or {})
    for segment_id in dict.fromkeys(named):
        if given is not None and segment_id not in given:
            continue  # the review reports UNKNOWN_SEGMENT
        request = (given or {}).get(segment_id) or {"Name": "every endpoint of the file"}
        try:
            segment = create_segment(data, store, clock, ARN, app_id, request)
        except KizunaError as exc:
            raise SimulationError(f"segment {segment_id}: {exc.message}") from None
        store.delete_segment(app_id, segment["Id"])
        store.put_segment(app_id, {**segment, "Id": segment_id, "Arn": f"{ARN}:apps/{app_id}/segments/{segment_id}"})


def _segment_conditions(value: Any) -> list[str]:
    """Every SegmentCondition.SegmentId in the activities, in document order."""
    found: list[str] = []
    if isinstance(value, dict):
        condition = value.get("SegmentCondition")
        if isinstance(condition, dict) and isinstance(condition.get("SegmentId"), str):
            found.append(condition["SegmentId"])
        for child in value.values():
            found += _segment_conditions(child)
    elif isinstance(value, list):
        for child in value:
            found += _segment_conditions(child)
    return found


def _stand_in_templates(store: InMemoryTemplateStore, clock: VirtualClock, journey: dict[str, Any]) -> None:
    for activity in (journey.get("Activities") or {}).values():
        kind = activity_kind(activity) if isinstance(activity, dict) else None
        name = ((activity.get(kind) or {}) if kind in STAND_IN_KINDS else {}).get("TemplateName")
        if not kind or not isinstance(name, str) or store.get_head(kind, name) is not None:
            continue
        content: dict[str, Any] = {"Body": f"({name})"}
        if kind == "EMAIL":
            content = {"Subject": name, "TextPart": f"({name})"}
        elif kind == "WHATSAPP":
            content["ContentSid"] = "HX" + hashlib.md5(name.encode()).hexdigest()  # noqa: S324 - an id, not security
        try:
            create_template(store, clock, ARN, kind, name, content)
        except KizunaError:
            continue  # e.g. an invalid name: the review reports the template as unknown
