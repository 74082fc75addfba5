"""PutEvents and the app's own event stream destination (PutEventStream, GetEventStream, DeleteEventStream)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from kizuna.api.app import Call, operation
from kizuna.errors import BadRequest
from kizuna.ports import EventSink
from kizuna.ports_analytics import EventStreamStore
from kizuna.services import campaign_runs, event_streams, ingest_events, journey_engagement, journey_entry


def _sink(call: Call) -> EventSink:
    if call.deps.events is None:
        raise BadRequest("The event stream is not configured")
    return call.deps.events


def _streams(call: Call) -> EventStreamStore:
    if call.deps.event_streams is None:
        raise BadRequest("Event stream destinations are not configured")
    return call.deps.event_streams


@operation("PutEvents")
def put_events(call: Call) -> dict:
    d = call.deps
    hooks: list[Callable[[str, list[dict[str, Any]]], Any]] = []
    # Each is idempotent per event id, so the retry a failure of any asks for repeats nothing.
    if d.journeys is not None and d.engagement is not None:
        hooks.append(partial(journey_engagement.record_events, d.journeys, d.engagement, d.clock))
    if d.campaigns is not None:
        hooks.append(partial(campaign_runs.on_events, d.campaigns))
    if d.journey_engine is not None:  # event-started journeys: entered by event id, so a retry enters no one twice
        hooks.append(partial(journey_entry.on_events, d.journey_engine))

    def triggers(app_id: str, events: list[dict[str, Any]]) -> None:
        for hook in hooks:
            hook(app_id, events)

    request = call.params["EventsRequest"]
    return ingest_events.put_events(
        d.apps, d.endpoints, _sink(call), d.clock, call.app_id, request, triggers if hooks else None
    )


@operation("PutEventStream")
def put_event_stream(call: Call) -> dict:
    d = call.deps
    return event_streams.put_event_stream(
        d.apps, _streams(call), d.clock, call.app_id, call.params["WriteEventStream"], call.caller.access_key_id
    )


@operation("GetEventStream")
def get_event_stream(call: Call) -> dict:
    return event_streams.get_event_stream(call.deps.apps, _streams(call), call.app_id)


@operation("DeleteEventStream")
def delete_event_stream(call: Call) -> dict:
    return event_streams.delete_event_stream(call.deps.apps, _streams(call), call.app_id)
