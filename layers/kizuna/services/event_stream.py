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


# Event types per channel and status. SMS and e-mail use Pinpoint's own names; Pinpoint had no WhatsApp and its
# voice events lived outside the event stream, so those follow the SMS pattern with their own prefix.
_SMS_LIKE = {
    "queued": "BUFFERED",
    "accepted_by_service": "BUFFERED",
    "scheduled": "BUFFERED",
    "sent": "BUFFERED",
    "delivered": "SUCCESS",
    "read": "READ",
    "failed": "FAILURE",
    "undelivered": "FAILURE",
    "expired": "FAILURE",
}
_VOICE = {
    "queued": "_VOICE.INITIATED",
    "sent": "_VOICE.RINGING",
    "answered": "_VOICE.ANSWERED",
    "delivered": "_VOICE.SUCCESS",
    "failed": "_VOICE.FAILURE",
    "undelivered": "_VOICE.FAILURE",
    "expired": "_VOICE.FAILURE",
}
_EMAIL = {
    "queued": "_email.send",
    "sent": "_email.send",
    "delivered": "_email.delivered",
    "undelivered": "_email.softbounce",
    "failed": "_email.hardbounce",
    "expired": "_email.rejected",
}
FAILED_STATUSES = frozenset({"failed", "undelivered", "expired"})


def event_type_for(channel: str, status: str, error_code: str | None = None) -> str:
    if channel == "VOICE":
        return _VOICE.get(status, "_VOICE.INITIATED")
    if channel == "EMAIL":
        if status == "failed" and error_code and error_code != "hardbounce":
            return "_email.rejected"  # refused before SES sent it (bad address, spend cap, configuration)
        return _EMAIL.get(status, "_email.send")
    prefix = "_WHATSAPP" if channel == "WHATSAPP" else "_SMS"
    return f"{prefix}.{_SMS_LIKE.get(status, 'BUFFERED')}"


def _record_status(status: str, error_code: str | None) -> str:
    if status in ("delivered", "read"):
        return "DELIVERED"
    if status in FAILED_STATUSES:
        return RECORD_STATUS_BY_ERROR.get(error_code or status, "UNKNOWN")
    if status == "sent":
        return "SUCCESSFUL"
    if status == "answered":
        return "ANSWERED"
    return "PENDING"


def status_event(record: DeliveryRecord, status: str, error_code: str | None, at: datetime, now: datetime) -> dict:
    """The stream event for one delivery status, e.g. _SMS.BUFFERED (with the provider), _SMS.SUCCESS, _SMS.FAILURE;
    attributes as Pinpoint's SMS events (record_status, message_id, ...) plus who sent it (campaign, journey)."""
    event_type = event_type_for(record.channel, status, error_code)
    attributes = {
        **record.attribution,
        "message_id": record.message_id,
        "channel": record.channel,
        "record_status": _record_status(status, error_code),
        "message_type": "Promotional" if record.message_type == "PROMOTIONAL" else "Transactional",
    }
    if record.channel in ("SMS", "WHATSAPP"):
        attributes["number_of_message_parts"] = str(record.segments or 1)
    if record.country:
        attributes["iso_country_code"] = record.country
    if record.to:
        key = "destination_email" if record.channel == "EMAIL" else "destination_phone_number"
        attributes[key] = record.to
    if record.provider_id:
        attributes["provider_message_id"] = record.provider_id
    if error_code:
        attributes["provider_error_code"] = error_code
    if record.reason and status in FAILED_STATUSES:
        attributes["failure_reason"] = record.reason
    if status == "delivered" and record.corrected_status:
        # A late delivery of a message counted as failed: the failure it corrects, under the key its failure event
        # was counted by (analytics_rules.error_code), so the counts take it back and the message is counted once.
        attributes["corrected_status"] = record.corrected_status
        attributes["corrected_error"] = record.corrected_error_code or _record_status(record.corrected_status, None)
    metrics = {"message_parts": float(record.segments or 1)} if record.channel in ("SMS", "WHATSAPP") else {}
    return pinpoint_event(
        event_type,
        record.app_id,
        at,
        now,
        attributes,
        metrics=metrics,
        client_id=record.endpoint_id or record.message_id,
        ident=event_id(record.message_id, status),
    )


def record_for(message: OutboundMessage, status: str) -> DeliveryRecord:
    return DeliveryRecord(
        message_id=message.message_id,
        app_id=message.app_id,
        status=status,
        to=message.to,
        channel=message.channel,
        endpoint_id=message.endpoint_id,
        segments=message.segments,
        message_type=message.message_type,
        country=message.country,
        attribution=dict(message.attribution),
    )
