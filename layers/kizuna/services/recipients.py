"""Decide, for one recipient of a send, whether it may be sent and exactly what goes to the queue.

Consent is decided here, before any provider sees the message (the architecture's invariant):
- the endpoint exists, is ACTIVE and not opted out; the address is not on the app's keyword opt-out list (STOP);
- the channel is enabled for the app and the destination country is allowed (SMS pumping protection);
- WhatsApp: free-form text only within 24 hours of the recipient's last message; outside that window only an
  approved template (ContentSid), and only to an endpoint that opted in (Attributes.WhatsAppOptIn);
- promotional messages wait for the end of the recipient's quiet time (app settings QuietTime); a journey's messages
  wait whatever their type (`SendContext.quiet_every_type`), as Pinpoint's journey quiet time did.
The message then carries the sender for its destination country, the app's rate cap for that sender and the
estimated price for the daily spend cap, so the sender decides nothing from configuration.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from kizuna.clock import iso
from kizuna.domain.channels import PHONE_CHANNELS, ChannelRules
from kizuna.domain.messages import OutboundMessage, Priority
from kizuna.domain.quiet_time import quiet_until, zone
from kizuna.errors import BadRequest
from kizuna.services.compose import Composed, MessagePlan, Refusal, refuse
from kizuna.services.endpoints import estimated_timezone, is_valid_email, parse_phone

WHATSAPP_WINDOW = timedelta(hours=24)
SENDABLE_CHANNELS = frozenset({"SMS", "VOICE", "EMAIL", "WHATSAPP"})
OPT_IN_ATTRIBUTE = "WhatsAppOptIn"
_NO = frozenset({"", "false", "no", "0", "none", "optout", "opt-out"})


@dataclass(frozen=True)
class Recipient:
    key: str  # the address (Addresses) or endpoint id (Endpoints)
    channel: str | None
    address: str
    config: dict[str, Any]  # AddressConfiguration / EndpointSendConfiguration
    endpoint: dict[str, Any] | None = None  # the stored endpoint, for Endpoints

    @property
    def endpoint_id(self) -> str | None:
        return self.endpoint["Id"] if self.endpoint else None


@dataclass(frozen=True)
class Consent:
    """What the consent store said about this request's addresses, read once for all recipients."""

    opted_out: dict[str, set[str]]  # channel -> opted-out addresses
    last_inbound: dict[str, datetime]  # WhatsApp address -> last inbound message


@dataclass(frozen=True)
class SendContext:
    app_id: str
    request_id: str
    now: datetime
    plan: MessagePlan
    rules: ChannelRules
    consent: Consent
    quiet_time: dict[str, str]
    context: dict[str, str]
    priority: Priority = "transactional"
    attribution: dict[str, str] | None = None
    not_after: datetime | None = None
    # Campaign runs: each endpoint's message id (derived from the run, so a resumed run repeats it) and when a
    # message may go at the earliest (MessagesPerSecond spreading).
    message_ids: Mapping[str, str] | None = None
    not_before: Mapping[str, datetime] | None = None
    # Quiet time holds every message, not only promotional ones (journeys: Pinpoint's QuietTime ignored MessageType).
    quiet_every_type: bool = False


def normalise(channel: str, address: str) -> tuple[str, str | None]:
    """(normalised address, ISO country for phone numbers); BadRequest when invalid."""
    if channel == "EMAIL":
        if not is_valid_email(address):
            raise BadRequest(f"Invalid e-mail address {address!r}")
        return address, None
    return parse_phone(address, "Address")


def prepare(recipient: Recipient, ctx: SendContext) -> OutboundMessage | Refusal:
    endpoint, channel = recipient.endpoint, recipient.channel
    if endpoint is not None:
        if endpoint.get("OptOut", "NONE") != "NONE":
            return refuse("Endpoint has opted out", status="OPT_OUT")
        if endpoint.get("EndpointStatus", "ACTIVE") != "ACTIVE":
            return refuse("Endpoint is INACTIVE")
    if channel not in SENDABLE_CHANNELS:
        return refuse(f"Channel {channel} is not one Kizuna sends on (SMS, VOICE, EMAIL, WHATSAPP)")
    if not ctx.rules.enabled(channel):
        return refuse(f"The app's {channel} channel is not enabled")
    try:
        address, country = normalise(channel, recipient.address)
    except BadRequest as exc:
        return refuse(exc.message)
    if address in ctx.consent.opted_out.get(channel, set()):
        return refuse("The address opted out (keyword STOP)", status="OPT_OUT")
    if channel in PHONE_CHANNELS and not ctx.rules.country_allowed(country):
        return refuse(f"Destination country {country} is not allowed for this app (MessagingPolicy.AllowedCountries)")
    document = endpoint or {"Address": address, "ChannelType": channel}
    email_from = ctx.rules.email_from()[0]
    composed = ctx.plan.compose(channel, document, recipient.config, email_from)
    if isinstance(composed, Refusal):
        return composed
    not_after = ctx.not_after
    if channel == "WHATSAPP":
        decision = _whatsapp_window(composed, endpoint, ctx.consent.last_inbound.get(address), ctx.now)
        if isinstance(decision, Refusal):
            return decision
        composed, window_end = decision
        if window_end is not None:  # free-form text is worthless (and refused, 63016) once the window closes
            not_after = min(not_after, window_end) if not_after else window_end
    return _message(recipient, ctx, channel, address, country, composed, not_after)


def _message(
    recipient: Recipient,
    ctx: SendContext,
    channel: str,
    address: str,
    country: str | None,
    composed: Composed,
    not_after: datetime | None,
) -> OutboundMessage:
    rules = ctx.rules
    if channel == "SMS":
        sender = rules.sms_sender(composed.sender, country)
    elif channel == "WHATSAPP":
        sender = rules.whatsapp_sender(composed.sender.from_number)
    else:
        sender = composed.sender
    not_before = None
    spread = (ctx.not_before or {}).get(recipient.key)
    if spread is not None:
        not_before = iso(spread)
    if (composed.message_type == "PROMOTIONAL" or ctx.quiet_every_type) and ctx.quiet_time:
        tz_name = (recipient.endpoint or {}).get("Demographic", {}).get("Timezone")
        if not tz_name and channel in PHONE_CHANNELS:
            tz_name = estimated_timezone(address)
        until = quiet_until(ctx.now, ctx.quiet_time.get("Start"), ctx.quiet_time.get("End"), zone(tz_name))
        if until and (spread is None or until > spread):
            not_before = iso(until)
    email = composed.email
    if email is not None and email.configuration_set is None and rules.email_from()[1]:
        email = email.model_copy(update={"configuration_set": rules.email_from()[1]})
    return OutboundMessage(
        message_id=(ctx.message_ids or {}).get(recipient.key) or uuid.uuid4().hex,
        app_id=ctx.app_id,
        channel=channel,
        to=address,
        body=composed.body,
        sender=sender,
        endpoint_id=recipient.endpoint_id,
        message_type=composed.message_type,
        request_id=ctx.request_id,
        accepted_at=iso(ctx.now),
        context={**ctx.context, **(recipient.config.get("Context") or {})},
        attribution=dict(ctx.attribution or {}),
        media_urls=composed.media_urls,
        voice=composed.voice,
        email=email,
        whatsapp_template=composed.whatsapp_template,
        priority=ctx.priority,
        segments=composed.segments,
        country=country,
        not_before=not_before,
        not_after=iso(not_after) if not_after else None,
        rate_per_s=rules.rate_cap(sender),
        cost_usd=rules.estimated_cost(channel, country, composed.segments),
        spend_cap_usd=rules.spend_cap(channel),
        conversation_cap=rules.conversation_cap() if composed.whatsapp_template else None,
    )


def _whatsapp_window(
    composed: Composed, endpoint: dict[str, Any] | None, last_inbound: datetime | None, now: datetime
) -> tuple[Composed, datetime | None] | Refusal:
    """Inside the window: the free-form body (or the template when there is none). Outside: the template, to an
    opted-in endpoint only. Returns the content to send and, for free-form text, when the window closes."""
    window_end = last_inbound + WHATSAPP_WINDOW if last_inbound else None
    if window_end is not None and now < window_end:
        if composed.body:
            return replace(composed, whatsapp_template=None), window_end
        return composed, None
    if composed.whatsapp_template is None:
        return refuse(
            "WhatsApp free-form messages are only allowed within 24 hours of the recipient's last message; outside "
            "it send an approved template (WhatsAppMessage.ContentSid or TemplateConfiguration.WhatsAppTemplate)"
        )
    if not _opted_in(endpoint):
        return refuse(
            f"WhatsApp business-initiated messages need the recipient's opt-in: an endpoint with "
            f"Attributes.{OPT_IN_ATTRIBUTE}",
            status="OPT_OUT",
        )
    return replace(composed, body=""), None


def _opted_in(endpoint: dict[str, Any] | None) -> bool:
    values = ((endpoint or {}).get("Attributes") or {}).get(OPT_IN_ATTRIBUTE) or []
    return any(str(v).strip().lower() not in _NO for v in values)
