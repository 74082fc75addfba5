"""PutEventStream / GetEventStream / DeleteEventStream: an app's own Kinesis stream or Firehose delivery stream that
receives its events (in Pinpoint's event-stream JSON) besides Kizuna's own stream to S3."""

from __future__ import annotations

import re
import time
from typing import Any

from kizuna.clock import Clock, iso
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore
from kizuna.ports_analytics import EventStreamStore

_DESTINATION = re.compile(
    r"^arn:aws[a-z-]*:(kinesis:[a-z0-9-]+:\d{12}:stream|firehose:[a-z0-9-]+:\d{12}:deliverystream)/[A-Za-z0-9_.-]{1,128}$"
)
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")


def put_event_stream(
    apps: AppStore, store: EventStreamStore, clock: Clock, app_id: str, request: dict, caller: str
) -> dict[str, Any]:
    _require_app(apps, app_id)
    destination = (request.get("DestinationStreamArn") or "").strip()
    role = (request.get("RoleArn") or "").strip()
    if not _DESTINATION.match(destination):
        raise BadRequest(
            "WriteEventStream.DestinationStreamArn must be a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:"
            "stream/<name>) or a Firehose delivery stream ARN (arn:aws:firehose:...:deliverystream/<name>)"
        )
    if not _ROLE.match(role):
        raise BadRequest("WriteEventStream.RoleArn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    stream = {
        "ApplicationId": app_id,
        "DestinationStreamArn": destination,
        "RoleArn": role,
        "LastModifiedDate": iso(clock.now()),
        "LastUpdatedBy": caller,
    }
    store.put_event_stream(app_id, stream)
    return stream


def get_event_stream(apps: AppStore, store: EventStreamStore, app_id: str) -> dict[str, Any]:
    _require_app(apps, app_id)
    stream = store.get_event_stream(app_id)
    if stream is None:
        raise NotFound(f"Application {app_id} has no event stream")
    return stream


def delete_event_stream(apps: AppStore, store: EventStreamStore, app_id: str) -> dict[str, Any]:
    stream = get_event_stream(apps, store, app_id)
    store.delete_event_stream(app_id)
    return stream


class CachedEventStreams:
    """A warm ingest function looks each app's destination up once a minute, not once per object."""

    def __init__(self, store: EventStreamStore, ttl_s: float = 60.0) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def get_event_stream(self, app_id: str) -> dict[str, Any] | None:
        now = time.monotonic()
        entry = self._entries.get(app_id)
        if entry is None or entry[0] < now:
            entry = (now + self._ttl_s, self._store.get_event_stream(app_id))
            self._entries[app_id] = entry
        return entry[1]

    def put_event_stream(self, app_id: str, stream: dict[str, Any]) -> None:
        self._store.put_event_stream(app_id, stream)
        self._entries.pop(app_id, None)

    def delete_event_stream(self, app_id: str) -> None:
        self._store.delete_event_stream(app_id)
        self._entries.pop(app_id, None)


def _require_app(apps: AppStore, app_id: str) -> None:
    if apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")
