"""SES events (through the configuration set's EventBridge destination) → e-mail delivery records and the stream.

SES publishes one event per fact about an e-mail: Send, Delivery, Bounce (Permanent or Transient), Complaint,
Reject, RenderingFailure, DeliveryDelay, Open, Click. The e-mail's tags carry Kizuna's message id (see
adapters.ses_email), so each event finds its record; statuses move forward only, as for SMS. Complaints, opens and
clicks change no status and become their own Pinpoint events (_email.complaint, _email.open, _email.click).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kizuna.adapters.ses_email import APP_TAG, MESSAGE_ID_TAG
from kizuna.clock import Clock
from kizuna.ports import EventSink, MessageStore
from kizuna.services.event_stream import event_id, pinpoint_event
from kizuna.services.record_status import apply_status

# SES eventType -> (delivery status, error code) for the events that settle an e-mail.
STATUS_BY_EVENT = {
    "Delivery": ("delivered", None),
    "Reject": ("failed", "reject"),
    "RenderingFailure": ("failed", "rendering_failure"),
}
ENGAGEMENT = {"Complaint": "_email.complaint", "Open": "_email.open", "Click": "_email.click"}


def record_email_event(store: MessageStore, events: EventSink, clock: Clock, detail: dict[str, Any]) -> bool:
    """Apply one SES event (the EventBridge `detail`). True when it changed a record or produced an event."""
    mail = detail.get("mail") or {}
    tags = mail.get("tags") or {}
    message_id = (tags.get(MESSAGE_ID_TAG) or [None])[0]
    app_id = (tags.get(APP_TAG) or [None])[0]
    event_type = detail.get("eventType") or detail.get("notificationType") or ""
    if not message_id or not app_id:
        return False  # not one of Kizuna's e-mails
    destination = (mail.get("destination") or [""])[0]
    if event_type == "Bounce":
        permanent = (detail.get("bounce") or {}).get("bounceType") == "Permanent"
        status, code = ("failed", "hardbounce") if permanent else ("undelivered", "softbounce")
    elif event_type in STATUS_BY_EVENT:
        status, code = STATUS_BY_EVENT[event_type]
    elif event_type in ENGAGEMENT:
        at = _timestamp(detail, event_type) or clock.now()
        attributes = {"message_id": message_id, "channel": "EMAIL", "destination_email": destination}
        if event_type == "Click":
            attributes["link"] = (detail.get("click") or {}).get("link", "")
        ident = event_id(message_id, event_type, str(at.timestamp()))
        events.emit([pinpoint_event(ENGAGEMENT[event_type], app_id, at, clock.now(), attributes, ident=ident)])
        return True
    else:
        return False  # Send (already recorded as queued), DeliveryDelay: no change of status
    return apply_status(
        store, events, clock, message_id, status, event_type, {"ErrorCode": code or "", "To": destination}
    )


def _timestamp(detail: dict[str, Any], event_type: str) -> datetime | None:
    value = (detail.get(event_type.lower()) or {}).get("timestamp")
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
