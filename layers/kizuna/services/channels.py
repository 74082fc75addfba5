"""Channel operations (Pinpoint's Get/Update/Delete Sms, Voice and Email channel, GetChannels; Kizuna's WhatsApp
channel) and the messaging policy.

A channel document is Pinpoint's channel response as stored; Update replaces the fields it names and bumps
Version; Delete removes the stored document, which puts the channel back to its default (see domain.channels).
"""

from __future__ import annotations

import re
from typing import Any

from kizuna.clock import Clock, iso
from kizuna.domain.channels import CHANNELS, ChannelRules
from kizuna.domain.webhook_urls import webhook_url_allowed
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore, ChannelStore
from kizuna.services.endpoints import is_valid_email, normalise_phone

PLATFORMS = {"SMS": "SMS", "VOICE": "VOICE", "EMAIL": "EMAIL", "WHATSAPP": "WHATSAPP"}
REQUEST_FIELDS = {
    "SMS": ("Enabled", "SenderId", "ShortCode"),
    "VOICE": ("Enabled",),
    "EMAIL": ("Enabled", "FromAddress", "Identity", "ConfigurationSet", "RoleArn", "OrchestrationSendingRoleArn"),
    "WHATSAPP": ("Enabled", "FromNumber", "MessagingServiceSid", "DailyConversationLimit"),
}
_SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")  # Twilio: up to 11 characters, at least one letter
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_MESSAGING_SERVICE = re.compile(r"^MG[0-9a-fA-F]{32}$")
POLICY_FIELDS = (
    "TrackLinks",
    "AllowedCountries",
    "SenderIds",
    "OriginationNumbers",
    "SenderRates",
    "DailySpendLimits",
    "PricePerMessage",
    "HelpMessage",
    "InboundRelays",
)
MAX_RELAYS = 5


def get_channel(apps: AppStore, channels: ChannelStore, app_id: str, channel: str) -> dict[str, Any]:
    _require_app(apps, app_id)
    docs, _ = channels.get_rules(app_id)
    return docs.get(channel) or _default(app_id, channel, ChannelRules(docs).enabled(channel))


def get_channels(apps: AppStore, channels: ChannelStore, app_id: str) -> dict[str, Any]:
    _require_app(apps, app_id)
    docs, _ = channels.get_rules(app_id)
    rules = ChannelRules(docs)
    keep = ("ApplicationId", "CreationDate", "Enabled", "HasCredential", "Id", "IsArchived", "LastModifiedBy",
            "LastModifiedDate", "Version")  # fmt: skip
    return {
        "Channels": {
            c: {k: v for k, v in (docs.get(c) or _default(app_id, c, rules.enabled(c))).items() if k in keep}
            for c in CHANNELS
        }
    }


def update_channel(
    apps: AppStore, channels: ChannelStore, clock: Clock, app_id: str, channel: str, request: dict[str, Any] | None
) -> dict[str, Any]:
    _require_app(apps, app_id)
    request = request or {}
    field = {"SMS": "SMSChannelRequest", "VOICE": "VoiceChannelRequest", "EMAIL": "EmailChannelRequest"}.get(
        channel, "WhatsAppChannelRequest"
    )
    _check(channel, request, field)
    docs, _ = channels.get_rules(app_id)
    now = iso(clock.now())
    current = docs.get(channel) or {**_default(app_id, channel, channel != "EMAIL"), "CreationDate": now}
    doc = {**current, **{k: request[k] for k in REQUEST_FIELDS[channel] if k in request}}
    if channel == "EMAIL" and doc.get("Enabled") and not doc.get("FromAddress"):
        raise BadRequest(f"{field}.FromAddress is required to enable the email channel")
    doc.update(LastModifiedDate=now, Version=int(current.get("Version", 0)) + 1, HasCredential=True)
    channels.put_channel(app_id, channel, doc)
    return doc


def delete_channel(apps: AppStore, channels: ChannelStore, app_id: str, channel: str) -> dict[str, Any]:
    doc = get_channel(apps, channels, app_id, channel)
    channels.delete_channel(app_id, channel)
    return doc


def get_policy(apps: AppStore, channels: ChannelStore, app_id: str) -> dict[str, Any]:
    _require_app(apps, app_id)
    _, policy = channels.get_rules(app_id)
    return {"ApplicationId": app_id, **policy}


def update_policy(
    apps: AppStore, channels: ChannelStore, clock: Clock, app_id: str, request: dict[str, Any] | None
) -> dict[str, Any]:
    _require_app(apps, app_id)
    policy = {k: v for k, v in (request or {}).items() if k in POLICY_FIELDS}
    _check_policy(policy, "MessagingPolicy")
    policy["LastModifiedDate"] = iso(clock.now())
    channels.put_policy(app_id, policy)
    return {"ApplicationId": app_id, **policy}


# -- validation -----------------------------------------------------------------------------------------------------


def _check(channel: str, request: dict[str, Any], field: str) -> None:
    if channel == "SMS" and request.get("SenderId") and not _SENDER_ID.match(request["SenderId"]):
        raise BadRequest(f"{field}.SenderId must be 1 to 11 letters, digits or spaces with at least one letter")
    if channel == "SMS" and request.get("ShortCode") and not str(request["ShortCode"]).isdigit():
        raise BadRequest(f"{field}.ShortCode must be digits")
    if channel == "EMAIL" and request.get("FromAddress") and not is_valid_email(request["FromAddress"]):
        raise BadRequest(f"{field}.FromAddress is not a valid e-mail address")
    if channel == "WHATSAPP":
        if request.get("FromNumber"):
            normalise_phone(request["FromNumber"], f"{field}.FromNumber")
        if request.get("MessagingServiceSid") and not _MESSAGING_SERVICE.match(request["MessagingServiceSid"]):
            raise BadRequest(f"{field}.MessagingServiceSid must be a Twilio messaging service SID (MG...)")
        limit = request.get("DailyConversationLimit")
        if limit is not None and limit < 0:
            raise BadRequest(f"{field}.DailyConversationLimit must be 0 (unlimited) or more")


def _check_policy(policy: dict[str, Any], field: str) -> None:
    for country in policy.get("AllowedCountries") or []:
        if not _COUNTRY.match(country):
            raise BadRequest(f"{field}.AllowedCountries holds ISO 3166 alpha-2 codes such as JP; got {country!r}")
    for member in ("SenderIds", "OriginationNumbers", "PricePerMessage"):
        for country in policy.get(member) or {}:
            if not _COUNTRY.match(country):
                raise BadRequest(f"{field}.{member} is keyed by ISO 3166 alpha-2 country; got {country!r}")
    for country, sender_id in (policy.get("SenderIds") or {}).items():
        if not _SENDER_ID.match(sender_id):
            raise BadRequest(f"{field}.SenderIds.{country} must be 1 to 11 letters, digits or spaces")
    for country, number in (policy.get("OriginationNumbers") or {}).items():
        normalise_phone(number, f"{field}.OriginationNumbers.{country}")
    for member in ("SenderRates", "DailySpendLimits", "PricePerMessage"):
        for key, value in (policy.get(member) or {}).items():
            if value is None or value <= 0:
                raise BadRequest(f"{field}.{member}.{key} must be a positive number")
    for channel in policy.get("DailySpendLimits") or {}:
        if channel not in ("SMS", "VOICE", "WHATSAPP"):
            raise BadRequest(f"{field}.DailySpendLimits is keyed by SMS, VOICE or WHATSAPP; got {channel!r}")
    relays = policy.get("InboundRelays") or []
    if len(relays) > MAX_RELAYS:
        raise BadRequest(f"{field}.InboundRelays may list at most {MAX_RELAYS} relays")
    for index, relay in enumerate(relays):
        if not webhook_url_allowed(str(relay.get("Url", ""))):
            raise BadRequest(f"{field}.InboundRelays[{index}].Url must be an https:// URL")
        for channel in relay.get("Channels") or []:
            if channel not in ("SMS", "WHATSAPP"):
                raise BadRequest(f"{field}.InboundRelays[{index}].Channels holds SMS or WHATSAPP; got {channel!r}")


def _default(app_id: str, channel: str, enabled: bool) -> dict[str, Any]:
    return {"ApplicationId": app_id, "Enabled": enabled, "Platform": PLATFORMS[channel], "Id": channel.lower()}


def _require_app(apps: AppStore, app_id: str) -> None:
    if apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")
