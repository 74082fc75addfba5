"""Engagement events in Pinpoint's event-stream form (the JSON Pinpoint wrote to Kinesis/Firehose)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from kizuna.domain.messages import DeliveryRecord, OutboundMessage

EVENT_VERSION = "3.1"
_EVENT_NAMESPACE = uuid.UUID("6f1c8a52-3d2e-4c55-9a43-1a3f0e6b2c11")

# Twilio error codes → Pinpoint's SMS record_status values (attributes.record_status of _SMS.FAILURE).
RECORD_STATUS_BY_ERROR: dict[str, str] = {
    "21211": "INVALID",
    "21614": "INVALID",
    "30006": "INVALID",
    "21612": "UNREACHABLE",
    "30003": "UNREACHABLE",
    "30005": "UNKNOWN",
    "21408": "DESTINATION_COUNTRY_NOT_SUPPORTED",
    "21610": "OPTED_OUT",
    "30004": "BLOCKED",
    "30007": "SPAM",
    "30008": "UNKNOWN",
    "21212": "INVALID_ORIGINATION_IDENTITY",
    "21606": "ORIGINATION_IDENTITY_DOES_NOT_EXIST",
    "30001": "RATE_EXCEEDED",
    "21611": "RATE_EXCEEDED",
    "expired": "TTL_EXPIRED",
}


def event_id(*parts: str) -> str:
    """Deterministic: the same provider fact always yields the same id, so a replay is recognisable downstream."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, "|".join(parts)))


def pinpoint_event(
    event_type: str,
    app_id: str,
    at: datetime,
    arrived: datetime,
    attributes: dict[str, str],
    metrics: dict[str, float] | None = None,
    client_id: str | None = None,
    ident: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": ident or event_id(event_type, app_id, str(attributes)),
        "event_type": event_type,
        "event_timestamp": int(at.timestamp() * 1000),
        "arrival_timestamp": int(arrived.timestamp() * 1000),
        "event_version": EVENT_VERSION,
        "application": {"app_id": app_id, "sdk": {}},
        "client": {"client_id": client_id or ""},
        "device": {"platform": {}},
        "session": {},
        "attributes": attributes,
        "metrics": metrics or {},
    }


def sms_status_event(record: DeliveryRecord, status: str, error_code: str | None, at: datetime, now: datetime) -> dict:
    """The stream event for one SMS status: _SMS.BUFFERED (with the provider), _SMS.SUCCESS or _SMS.FAILURE."""
    if status == "delivered":
        event_type, record_status = "_SMS.SUCCESS", "DELIVERED"
    elif status in ("failed", "undelivered", "expired"):
        event_type = "_SMS.FAILURE"
        record_status = RECORD_STATUS_BY_ERROR.get(error_code or status, "UNKNOWN")
    elif status == "sent":
        event_type, record_status = "_SMS.BUFFERED", "SUCCESSFUL"
    else:
        event_type, record_status = "_SMS.BUFFERED", "PENDING"
    attributes = {
        "message_id": record.message_id,
        "record_status": record_status,
        "message_type": "Transactional",
        "number_of_message_parts": str(record.segments or 1),
    }
    if record.to:
        attributes["destination_phone_number"] = record.to
    if record.provider_id:
        attributes["provider_message_id"] = record.provider_id
    if error_code:
        attributes["provider_error_code"] = error_code
    if record.reason and event_type == "_SMS.FAILURE":
        attributes["failure_reason"] = record.reason
    return pinpoint_event(
        event_type,
        record.app_id,
        at,
        now,
        attributes,
        metrics={"message_parts": float(record.segments or 1)},
        client_id=record.endpoint_id or record.message_id,
        ident=event_id(record.message_id, status),
    )


def record_for(message: OutboundMessage, status: str) -> DeliveryRecord:
    return DeliveryRecord(
        message_id=message.message_id,
        app_id=message.app_id,
        status=status,
        to=message.to,
        endpoint_id=message.endpoint_id,
    )
