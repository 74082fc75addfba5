"""PutEvents: events an app reports for its endpoints (sessions, custom events), in Pinpoint's request shape.

Per endpoint (BatchItem key) an optional endpoint update and an Events map (event id → event). Each event is
checked on its own: a malformed one is answered 400 in the per-event results and the others are still accepted
(202). Accepted events are written to the event stream in Pinpoint's event-stream JSON, from which the analytics
pipeline counts them; an event keeps its id, so a replayed request (an SDK retry) counts once.

Limits are Pinpoint's: 100 events and 4 MB per request; per event 40 attributes and 40 metrics, names up to 50
characters, attribute values up to 200 characters, an event type up to 50 characters. Timestamps must fall in the
90-day analytics window and at most a day ahead (device clocks drift).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.clock import Clock
from kizuna.domain.analytics_events import within_window
from kizuna.errors import BadRequest, KizunaError, NotFound, PayloadTooLarge, TooManyRequests
from kizuna.ports import AppStore, EndpointStore, EventSink
from kizuna.services import endpoints as endpoint_service
from kizuna.services.event_stream import EVENT_VERSION

logger = Logger(child=True)

MAX_EVENTS = 100
MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_ATTRIBUTES = 40
MAX_METRICS = 40
MAX_NAME_CHARS = 50
MAX_ATTRIBUTE_VALUE_CHARS = 200
MAX_EVENT_TYPE_CHARS = 50
MAX_EVENT_ID_CHARS = 128
MAX_FUTURE = timedelta(days=1)
ACCEPTED = {"Message": "Accepted", "StatusCode": 202}
_STATUS = {NotFound: 404, TooManyRequests: 429}  # an endpoint update's failure, else 400


class EventRejected(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def put_events(
    apps: AppStore,
    endpoints: EndpointStore,
    events: EventSink,
    clock: Clock,
    app_id: str,
    request: dict,
    triggers: Callable[[str, list[dict[str, Any]]], Any] | None = None,
) -> dict[str, Any]:
    """`triggers` hears the accepted events once they are in the stream: event-triggered campaigns send from it and
    event-started journeys enter from it within the request, so a matching event sends in seconds (not after the
    analytics pipeline's buffering)."""
    if apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")
    batch = request.get("BatchItem") or {}
    total = sum(len((item or {}).get("Events") or {}) for item in batch.values())
    if total > MAX_EVENTS:
        raise BadRequest(f"EventsRequest.BatchItem holds {total} events; the limit is {MAX_EVENTS} per request")
    size = len(json.dumps(request, ensure_ascii=False).encode())
    if size > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"EventsRequest is {size} bytes; the limit is {MAX_REQUEST_BYTES}")

    now = clock.now()
    results: dict[str, Any] = {}
    accepted: list[tuple[str, str, dict[str, Any]]] = []
    for endpoint_id, item in batch.items():
        endpoint = (item or {}).get("Endpoint") or {}
        results[endpoint_id] = {
            "EndpointItemResponse": _update_endpoint(apps, endpoints, clock, app_id, endpoint_id, endpoint),
            "EventsItemResponse": {},
        }
        for event_id, event in ((item or {}).get("Events") or {}).items():
            field = f"EventsRequest.BatchItem[{endpoint_id}].Events[{event_id}]"
            try:
                record = stream_event(app_id, endpoint_id, event_id, event, endpoint, now, field)
            except EventRejected as exc:
                results[endpoint_id]["EventsItemResponse"][event_id] = {"Message": exc.message, "StatusCode": 400}
                continue
            accepted.append((endpoint_id, event_id, record))
            results[endpoint_id]["EventsItemResponse"][event_id] = dict(ACCEPTED)
    if accepted:
        try:
            events.emit([record for _, _, record in accepted])
        except Exception:  # the stream refused after its own retries: the caller may retry these events
            logger.exception("event stream unavailable", app_id=app_id, events=len(accepted))
            for endpoint_id, event_id, _ in accepted:
                results[endpoint_id]["EventsItemResponse"][event_id] = {
                    "Message": "The event stream is unavailable; retry the event",
                    "StatusCode": 500,
                }
            return {"Results": results}
        if triggers is not None:
            try:
                triggers(app_id, [record for _, _, record in accepted])
            except Exception:  # a retry is safe: events count once by id, triggered messages have derived ids
                logger.exception("event triggers failed", app_id=app_id, events=len(accepted))
                for endpoint_id, event_id, _ in accepted:
                    results[endpoint_id]["EventsItemResponse"][event_id] = {
                        "Message": "Event-triggered campaigns and journeys could not be evaluated; retry the event",
                        "StatusCode": 500,
                    }
    return {"Results": results}


def _update_endpoint(
    apps: AppStore, endpoints: EndpointStore, clock: Clock, app_id: str, endpoint_id: str, endpoint: dict
) -> dict[str, Any]:
    update = {k: v for k, v in endpoint.items() if k != "RequestId"}
    if not update:
        return dict(ACCEPTED)
    try:
        endpoint_service.update_endpoint(apps, endpoints, clock, app_id, endpoint_id, update)
    except KizunaError as exc:
        # The endpoint update fails alone: its events are still taken, as Pinpoint reports the two separately.
        return {"Message": exc.message.replace("EndpointRequest", f"EventsRequest.BatchItem[{endpoint_id}].Endpoint"),
                "StatusCode": _STATUS.get(type(exc), 400)}  # fmt: skip
    return dict(ACCEPTED)


def stream_event(
    app_id: str,
    endpoint_id: str,
    event_id: str,
    event: dict[str, Any],
    endpoint: dict[str, Any],
    now: datetime,
    field: str,
) -> dict[str, Any]:
    """The event in Pinpoint's event-stream JSON, or EventRejected naming what is wrong."""
    if not event_id or len(event_id) > MAX_EVENT_ID_CHARS:
        raise EventRejected(f"{field}: the event id must be 1 to {MAX_EVENT_ID_CHARS} characters")
    if not endpoint_id or len(endpoint_id) > MAX_EVENT_ID_CHARS:
        raise EventRejected(f"{field}: the endpoint id must be 1 to {MAX_EVENT_ID_CHARS} characters")
    event_type = event.get("EventType") or ""
    if not event_type.strip() or len(event_type) > MAX_EVENT_TYPE_CHARS:
        raise EventRejected(f"{field}.EventType must be 1 to {MAX_EVENT_TYPE_CHARS} characters")
    at = _timestamp(event.get("Timestamp"), f"{field}.Timestamp")
    if not within_window(int(at.timestamp() * 1000), now):
        raise EventRejected(f"{field}.Timestamp is older than the 90-day analytics window")
    if at > now + MAX_FUTURE:
        raise EventRejected(f"{field}.Timestamp is more than a day in the future")
    attributes = event.get("Attributes") or {}
    metrics = event.get("Metrics") or {}
    _check_names(attributes, MAX_ATTRIBUTES, f"{field}.Attributes")
    _check_names(metrics, MAX_METRICS, f"{field}.Metrics")
    for name, value in attributes.items():
        if len(value) > MAX_ATTRIBUTE_VALUE_CHARS:
            raise EventRejected(f"{field}.Attributes[{name}] is longer than {MAX_ATTRIBUTE_VALUE_CHARS} characters")
    for name, value in metrics.items():
        if value != value or value in (float("inf"), float("-inf")):
            raise EventRejected(f"{field}.Metrics[{name}] must be a finite number")
    session = _session(event.get("Session"), f"{field}.Session")
    demographic = endpoint.get("Demographic") or {}
    return {
        "event_id": event_id,
        "event_type": event_type,
        "event_timestamp": int(at.timestamp() * 1000),
        "arrival_timestamp": int(now.timestamp() * 1000),
        "event_version": EVENT_VERSION,
        "application": _drop_empty(
            {
                "app_id": app_id,
                "package_name": event.get("AppPackageName"),
                "title": event.get("AppTitle"),
                "version_code": event.get("AppVersionCode"),
                "sdk": _drop_empty({"name": event.get("SdkName"), "version": event.get("ClientSdkVersion")}),
            },
            keep=("sdk",),
        ),
        "client": {"client_id": endpoint_id},
        "device": _drop_empty(
            {
                "locale": _drop_empty({"code": demographic.get("Locale")}) or None,
                "make": demographic.get("Make"),
                "model": demographic.get("Model"),
                "platform": _drop_empty(
                    {"name": demographic.get("Platform"), "version": demographic.get("PlatformVersion")}
                ),
            },
            keep=("platform",),
        ),
        "session": session,
        "attributes": dict(attributes),
        "metrics": {k: float(v) for k, v in metrics.items()},
        **({"endpoint": {k: v for k, v in endpoint.items() if k != "RequestId"}} if endpoint else {}),
    }


def _session(session: dict[str, Any] | None, field: str) -> dict[str, Any]:
    if not session:
        return {}
    result: dict[str, Any] = {"session_id": session.get("Id") or ""}
    if not result["session_id"]:
        raise EventRejected(f"{field}.Id must not be empty")
    start = _timestamp(session.get("StartTimestamp"), f"{field}.StartTimestamp")
    result["start_timestamp"] = int(start.timestamp() * 1000)
    if session.get("StopTimestamp"):
        stop = _timestamp(session["StopTimestamp"], f"{field}.StopTimestamp")
        if stop < start:
            raise EventRejected(f"{field}.StopTimestamp is before its StartTimestamp")
        result["stop_timestamp"] = int(stop.timestamp() * 1000)
    return result


def _timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise EventRejected(f"{field} must be an ISO 8601 timestamp")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EventRejected(f"{field} must be an ISO 8601 timestamp; got {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_names(values: dict[str, Any], limit: int, field: str) -> None:
    if len(values) > limit:
        raise EventRejected(f"{field} has {len(values)} entries; the limit is {limit}")
    for name in values:
        if not name or len(name) > MAX_NAME_CHARS:
            raise EventRejected(f"{field}: names must be 1 to {MAX_NAME_CHARS} characters ({name[:60]!r})")


def _drop_empty(values: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v or k in keep}
