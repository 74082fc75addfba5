"""Recipient-messages and their delivery records: the unit that is queued, claimed, sent once and tracked."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict


class SenderId(BaseModel):
    """Who the message comes from; empty means the provider account's default sender."""

    model_config = ConfigDict(frozen=True)

    from_number: str | None = None
    alphanumeric_id: str | None = None
    messaging_service_sid: str | None = None


class OutboundMessage(BaseModel):
    """One recipient-message: the body of one send-queue message."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    app_id: str
    channel: Literal["SMS"] = "SMS"
    to: str
    body: str
    sender: SenderId = SenderId()
    endpoint_id: str | None = None
    message_type: Literal["TRANSACTIONAL", "PROMOTIONAL"] = "TRANSACTIONAL"
    request_id: str
    accepted_at: str  # ISO 8601
    context: dict[str, str] = {}


# Forward-only status ladder. A callback may only move a record up; terminal statuses never change.
STATUS_RANK: dict[str, int] = {
    "accepted": 0,  # in the send queue
    "sending": 1,  # claimed by a sender; the provider call may be under way
    "queued": 2,  # the provider took it
    "accepted_by_service": 2,  # Twilio's "accepted" (messaging service picking a sender)
    "scheduled": 2,
    "sent": 3,
    "delivered": 5,
    "read": 6,  # WhatsApp read receipts come after delivered
    "undelivered": 5,
    "failed": 5,
    "expired": 5,
}
TERMINAL = frozenset({"delivered", "read", "undelivered", "failed", "expired"})

# Twilio message statuses that Kizuna knows; anything else is logged and ignored rather than guessed at.
TWILIO_STATUS = {
    "queued": "queued",
    "accepted": "accepted_by_service",
    "scheduled": "scheduled",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


def rank(status: str) -> int:
    return STATUS_RANK[status]


@dataclass(frozen=True)
class ProviderReceipt:
    provider_id: str
    status: str  # Twilio's status word
    segments: int = 1
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    """The stored delivery state. It holds no phone number or body: personal data stays in the endpoint (erasable
    in one place) and in the event stream; the destination travels with the queue message and the callback."""

    message_id: str
    app_id: str
    status: str
    to: str | None = None
    provider_id: str | None = None
    attempts: int = 0
    outcome_pending: bool = False
    error_code: str | None = None
    reason: str | None = None
    segments: int | None = None
    endpoint_id: str | None = None
    first_attempt_at: str | None = None
    updated_at: str | None = None
    body: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class Claim(enum.Enum):
    CLAIMED = "claimed"  # first attempt: send
    NEEDS_LOOKUP = "needs_lookup"  # an earlier attempt may have reached the provider: look before sending
    DONE = "done"  # already past sending: acknowledge and do nothing
    BUSY = "busy"  # another sender holds a live lease: try again later


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    record: DeliveryRecord | None = None


OPEN_SHARDS = 16


def decide_claim(existing: DeliveryRecord | None, lease_until_epoch: int | None, now_epoch: int) -> Claim:
    """What a sender may do with a message whose delivery record is `existing` (None: never attempted)."""
    if existing is None:
        return Claim.CLAIMED
    if rank(existing.status) >= rank("queued"):
        return Claim.DONE
    if existing.status == "sending" and lease_until_epoch is not None and lease_until_epoch > now_epoch:
        return Claim.BUSY
    return Claim.NEEDS_LOOKUP if existing.outcome_pending else Claim.CLAIMED
