"""Engagement events as analytics sees them.

`StreamEvent` is Pinpoint's event-stream JSON (the lines Firehose writes to S3: event_type, event_timestamp,
arrival_timestamp, event_version, application, client, device, session, attributes, metrics, optional endpoint);
it is what an S3 object is checked against and what per-app destinations receive.

`AnalyticsEvent` is the compact form the ledger keeps for 90 days and the aggregates are computed from: only what
a KPI, the endpoint activity state or an event trigger needs. System events (sends, statuses, clicks) keep a short
list of attributes, so no phone number is kept; the destination number becomes its ISO country code.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kizuna.catalog_analytics import ANALYTICS_RETENTION_DAYS

DAY_MS = 86_400_000
_NAMESPACE = uuid.UUID("0b6e0f6c-7d1a-4a8e-9c55-1f2b4a9e7d31")

# Attributes of system events ("_SMS.*", "_email.*", ...) that analytics uses; the rest stays in S3 only.
SYSTEM_ATTRIBUTES = frozenset(
    {
        "campaign_id",
        "campaign_activity_id",
        "treatment_id",
        "journey_id",
        "journey_activity_id",
        "record_status",
        "iso_country_code",
        "provider_error_code",
        "provider_message_id",
        "message_type",
        "message_id",
        "link",
        "corrected_status",  # a late delivery of a message counted as failed (analytics_rules takes it back)
        "corrected_error",
    }
)
# Events an endpoint's app reports (PutEvents): they make the endpoint active and carry sessions.
APP_EVENT_PREFIXES = ("_session.", "_monetization.", "_userauth.")


def is_app_event(event_type: str) -> bool:
    return not event_type.startswith("_") or event_type.startswith(APP_EVENT_PREFIXES)


class StreamApplication(BaseModel):
    model_config = ConfigDict(extra="allow")
    app_id: str = Field(min_length=1)
    sdk: dict[str, Any] = {}


class StreamClient(BaseModel):
    model_config = ConfigDict(extra="allow")
    client_id: str = ""


class StreamSession(BaseModel):
    model_config = ConfigDict(extra="allow")
    session_id: str | None = None
    start_timestamp: int | None = None
    stop_timestamp: int | None = None


class StreamEvent(BaseModel):
    """One line of the event stream. Unknown members are kept (Pinpoint added fields over time)."""

    model_config = ConfigDict(extra="allow")

    event_type: str = Field(min_length=1)
    event_timestamp: int = Field(ge=0)
    arrival_timestamp: int = Field(ge=0)
    event_version: str
    application: StreamApplication
    client: StreamClient
    device: dict[str, Any]
    session: StreamSession
    attributes: dict[str, str]
    metrics: dict[str, float]
    endpoint: dict[str, Any] | None = None
    # Kizuna's own: a deterministic id per fact (replays carry the same one).
    event_id: str | None = None

    @field_validator("event_timestamp", "arrival_timestamp", mode="before")
    @classmethod
    def _not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be milliseconds since the epoch, not a boolean")
        return value


@dataclass(frozen=True)
class AnalyticsEvent:
    app_id: str
    event_id: str
    event_type: str
    timestamp_ms: int
    client_id: str = ""  # the endpoint id (Pinpoint's client.client_id)
    attributes: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    session_id: str | None = None
    session_start_ms: int | None = None
    session_stop_ms: int | None = None

    @property
    def day(self) -> date:
        return day_of(self.timestamp_ms)

    @property
    def is_app_event(self) -> bool:
        return is_app_event(self.event_type)

    # -- the ledger's item attributes (adapters add the key and TTL) --------------------------------------------

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "app": self.app_id,
            "id": self.event_id,
            "t": self.event_type,
            "ts": self.timestamp_ms,
            "c": self.client_id,
        }
        if self.attributes:
            record["a"] = dict(self.attributes)
        if self.metrics:
            record["m"] = dict(self.metrics)
        session = {
            k: v
            for k, v in (("id", self.session_id), ("start", self.session_start_ms), ("stop", self.session_stop_ms))
            if v is not None
        }
        if session:
            record["s"] = session
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> AnalyticsEvent:
        session = record.get("s") or {}
        return cls(
            app_id=record["app"],
            event_id=record["id"],
            event_type=record["t"],
            timestamp_ms=int(record["ts"]),
            client_id=record.get("c") or "",
            attributes={k: str(v) for k, v in (record.get("a") or {}).items()},
            metrics={k: float(v) for k, v in (record.get("m") or {}).items()},
            session_id=session.get("id"),
            session_start_ms=int(session["start"]) if session.get("start") is not None else None,
            session_stop_ms=int(session["stop"]) if session.get("stop") is not None else None,
        )


def from_stream(event: StreamEvent, raw: dict[str, Any] | None = None) -> AnalyticsEvent:
    """The compact form of a stream line. Events without Kizuna's event_id (written by something else) get a
    deterministic one from their content, so a duplicated line is still one event."""
    ident = event.event_id or str(uuid.uuid5(_NAMESPACE, _canonical(raw or event.model_dump(mode="json"))))
    if is_app_event(event.event_type):
        attributes = dict(event.attributes)
    else:
        attributes = {k: v for k, v in event.attributes.items() if k in SYSTEM_ATTRIBUTES}
        country = _country(event.attributes.get("destination_phone_number"))
        if country and "iso_country_code" not in attributes:
            attributes["iso_country_code"] = country
    return AnalyticsEvent(
        app_id=event.application.app_id,
        event_id=ident,
        event_type=event.event_type,
        timestamp_ms=event.event_timestamp,
        client_id=event.client.client_id,
        attributes=attributes,
        metrics=dict(event.metrics),
        session_id=event.session.session_id,
        session_start_ms=event.session.start_timestamp,
        session_stop_ms=event.session.stop_timestamp,
    )


def day_of(timestamp_ms: int) -> date:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).date()


def oldest_day(now: datetime) -> date:
    """The first UTC day inside the 90-day window (today counts as one of the 90)."""
    return now.astimezone(UTC).date() - timedelta(days=ANALYTICS_RETENTION_DAYS - 1)


def within_window(timestamp_ms: int, now: datetime) -> bool:
    return day_of(timestamp_ms) >= oldest_day(now)


def _country(number: str | None) -> str | None:
    if not number:
        return None
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or None
    except phonenumbers.NumberParseException:
        return None


def _canonical(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "arrival_timestamp"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
