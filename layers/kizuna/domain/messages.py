"""Recipient-messages and their delivery records: the unit that is queued, claimed, sent once and tracked.

One `OutboundMessage` is one recipient and one channel. Everything the sender needs is decided when the message is
accepted (rendered content, sender identity, consent, the app's rate and spend rules) and travels with it, so the
sender reads no app configuration and a policy change never alters a message already accepted.

The status ladder. Provider callbacks arrive in any order and more than once (Twilio does not promise their order,
and retries them), so a record's status is decided by what it is now and what a callback says, never by arrival
order. Before a final outcome, statuses only climb the ranks below (STATUS_RANK). A final outcome is final, with
two exceptions, both evidence that the message reached the handset:

| the record is        | a callback says                | the record becomes | why                                    |
|----------------------|--------------------------------|--------------------|----------------------------------------|
| accepted .. answered | a higher rank, not yet final   | that status        | forward only: a late `sent` is ignored |
| accepted .. answered | any final outcome              | that outcome       | the first final outcome                |
| delivered            | read                           | read               | WhatsApp read receipts follow delivery |
| undelivered          | delivered or read              | that status        | carriers send late DLRs; a read        |
|                      |                                |                    | receipt proves delivery                |
| failed, expired      | anything                       | unchanged          | refused, never sent, or Kizuna's own   |
|                      |                                |                    | decision (expired unsent)              |
| read                 | anything                       | unchanged          | nothing comes after read               |

Two final outcomes that contradict each other (delivered and failed) therefore keep whichever came first; only
`undelivered` yields to evidence of delivery, so `undelivered` and `delivered`/`read` end the same in any order.
The events follow the record: a move to `read` that skipped `delivered` also emits the delivered event (one id per
fact, so a delivered event seen before is counted once), and a corrected `undelivered` is remembered on the record
(`corrected_status`, `corrected_error_code`) so its delivered event takes the failure back out of the counts
(kizuna.domain.analytics_rules).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict


class SenderId(BaseModel):
    """Who the message comes from; empty means the provider account's default sender."""

    model_config = ConfigDict(frozen=True)

    from_number: str | None = None
    alphanumeric_id: str | None = None
    messaging_service_sid: str | None = None


Channel = Literal["SMS", "VOICE", "EMAIL", "WHATSAPP"]
Priority = Literal["transactional", "bulk"]


class VoiceContent(BaseModel):
    """Text-to-speech: Twilio <Say> with this language (BCP 47, e.g. ja-JP) and optional voice name."""

    model_config = ConfigDict(frozen=True)

    language_code: str = "en-US"
    voice: str | None = None


class EmailContent(BaseModel):
    model_config = ConfigDict(frozen=True)

    from_address: str
    subject: str
    html: str | None = None  # the text part is OutboundMessage.body
    configuration_set: str | None = None


class WhatsAppTemplate(BaseModel):
    """An approved WhatsApp template (Twilio Content API): required outside the 24-hour customer-service window."""

    model_config = ConfigDict(frozen=True)

    content_sid: str
    variables: dict[str, str] = {}


class OutboundMessage(BaseModel):
    """One recipient-message: the body of one send-queue message."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    app_id: str
    channel: Channel = "SMS"
    to: str  # E.164 for SMS, VOICE and WHATSAPP (the adapter adds "whatsapp:"), an e-mail address for EMAIL
    body: str  # SMS/WhatsApp text, the spoken text for VOICE, the text part for EMAIL
    sender: SenderId = SenderId()
    endpoint_id: str | None = None
    message_type: Literal["TRANSACTIONAL", "PROMOTIONAL"] = "TRANSACTIONAL"
    request_id: str
    accepted_at: str  # ISO 8601
    context: dict[str, str] = {}  # the caller's MessageRequest Context (may hold anything: never stored)
    attribution: dict[str, str] = {}  # campaign_id, treatment_id, journey_id, ...: kept on the delivery record
    # Channel content beyond the body.
    media_urls: tuple[str, ...] = ()  # MMS / WhatsApp media
    validity_period_s: int | None = None  # how long the provider may keep it queued (Twilio: 1..36000)
    voice: VoiceContent | None = None
    email: EmailContent | None = None
    whatsapp_template: WhatsAppTemplate | None = None
    # Delivery rules decided at acceptance.
    priority: Priority = "transactional"  # bulk (campaigns, journeys) yields the sender's rate to transactional
    segments: int = 1  # SMS segments: what the sender's rate limit counts
    country: str | None = None  # ISO 3166 region of the destination number
    not_before: str | None = None  # ISO 8601: held until then (quiet time for promotional sends)
    not_after: str | None = None  # ISO 8601: expires unsent after this (Twilio's queue limit, event campaigns)
    rate_per_s: float | None = None  # the app's cap for this sender, below the account's; None: account's rate
    cost_usd: float = 0.0  # estimated provider price, counted against the app's daily spend cap
    spend_cap_usd: float | None = None  # the app's daily cap for this channel; None: no cap
    deferrals: int = 0  # times the provider throttled it: each backs off longer
    conversation_cap: int | None = None  # WhatsApp tier: business-initiated conversations per rolling 24 h


# The ranks of the statuses before a final outcome: a callback moves a record up them, never down. The final
# outcomes (TERMINAL) rank above them all; between final outcomes the table in the module docstring decides.
STATUS_RANK: dict[str, int] = {
    "accepted": 0,  # in the send queue
    "sending": 1,  # claimed by a sender; the provider call may be under way
    "queued": 2,  # the provider took it
    "accepted_by_service": 2,  # Twilio's "accepted" (messaging service picking a sender)
    "scheduled": 2,
    "sent": 3,  # a call: ringing
    "answered": 4,  # a call: in progress
    "delivered": 5,  # a call: completed (the text was spoken)
    "read": 6,  # WhatsApp read receipts come after delivered
    "undelivered": 5,
    "failed": 5,
    "expired": 5,
}
TERMINAL = frozenset({"delivered", "read", "undelivered", "failed", "expired"})
FAILURES = frozenset({"undelivered", "failed", "expired"})
# Final outcomes that a later callback may still change, and to what (the module docstring's table).
AFTER_FINAL: dict[str, frozenset[str]] = {
    "delivered": frozenset({"read"}),
    "undelivered": frozenset({"delivered", "read"}),
}


def advances(current: str, new: str) -> bool:
    """Whether a callback saying `new` changes a record that is `current` (the module docstring's table)."""
    if current in TERMINAL:
        return new in AFTER_FINAL.get(current, frozenset())
    return new in TERMINAL or STATUS_RANK[new] > STATUS_RANK[current]


def statuses_reached(previous: str | None, new: str) -> tuple[str, ...]:
    """The statuses whose events a move from `previous` to `new` emits. `read` implies `delivered` (Twilio may post
    read first, and then its delivered is late and changes nothing), so a move to read from anything but delivered
    emits both. `previous` None: a replay of `new`, which emits everything its first application may have."""
    if new == "read" and previous != "delivered":
        return ("delivered", "read")
    return (new,)


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

# Twilio call statuses (voice messages): the same ladder, so one forward-only update serves both.
TWILIO_CALL_STATUS = {
    "queued": "queued",
    "initiated": "queued",
    "ringing": "sent",
    "in-progress": "answered",
    "completed": "delivered",
    "busy": "undelivered",
    "no-answer": "undelivered",
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
    channel: str = "SMS"
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
    message_type: str = "TRANSACTIONAL"
    country: str | None = None
    # Who asked for it (campaign_id, treatment_id, journey_id, journey_activity_id, ...): never personal data, so
    # callbacks can attribute their events to a campaign or journey without reading anything else.
    attribution: dict[str, str] = field(default_factory=dict)
    # The final outcome a later delivery corrected ("undelivered") and its error code: what the delivered event
    # takes back out of the failure counts.
    corrected_status: str | None = None
    corrected_error_code: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class Advance(enum.Enum):
    APPLIED = "applied"  # the record moved to the callback's status
    UNCHANGED = "unchanged"  # the ladder does not allow it from where the record is (late, or a replay)
    UNKNOWN = "unknown"  # no such record


@dataclass(frozen=True)
class StatusUpdate:
    """What a status callback did to a record: `record` as it is now (None when unknown), `before` as it was when
    the change was decided (APPLIED only)."""

    outcome: Advance
    record: DeliveryRecord | None = None
    before: DeliveryRecord | None = None


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


class RelayRequest(BaseModel):
    """A POST to a third party's webhook, retried with backoff: an inbound message forwarded as Twilio posted it to
    Kizuna (`params`, re-signed with the Twilio auth token), or a campaign's CUSTOM delivery (`body`, Pinpoint's
    custom-channel JSON, signed with Kizuna's webhook signing secret; kizuna.domain.custom_delivery)."""

    model_config = ConfigDict(frozen=True)

    url: str
    params: dict[str, str] = {}
    app_id: str
    channel: str  # SMS / WHATSAPP for relays, CUSTOM for deliveries
    received_at: str
    attempt: int = 1
    body: str = ""
    delivery_id: str = ""

    @property
    def is_custom_delivery(self) -> bool:
        return self.channel == "CUSTOM"
