"""An app's channels and sending rules, as the send path applies them.

Channels are Pinpoint's (SMS, VOICE, EMAIL) plus WHATSAPP. A channel the app has never configured is enabled with
the Twilio account's defaults (SMS, voice, WhatsApp) — so a migrated app sends at once — except e-mail, which needs
a verified SES identity and is enabled by UpdateEmailChannel. A channel set to Enabled false refuses its sends.

The messaging policy (Kizuna's extension) holds the rules that protect the app and its recipients: which destination
countries phone messages may go to (SMS pumping protection), sender IDs and numbers by destination country (Japan
takes alphanumeric sender IDs), lower rates per sender, daily spend caps per channel, the HELP reply and the inbound
relays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kizuna.domain.messages import SenderId

CHANNELS = ("SMS", "VOICE", "EMAIL", "WHATSAPP")
PHONE_CHANNELS = frozenset({"SMS", "VOICE", "WHATSAPP"})

# Twilio does not deliver alphanumeric sender IDs to these countries: a number is used instead.
NO_ALPHANUMERIC_SENDER = frozenset({"US", "CA", "PR", "CN"})

# Estimated USD per SMS segment, for the spend cap only (Twilio bills the real price). Twilio's published prices,
# rounded up; any other country counts at the default, deliberately high so a cap errs on the safe side.
SMS_PRICE_USD = {"JP": 0.0800, "US": 0.0083, "CA": 0.0083, "GB": 0.0400, "KR": 0.0350, "TW": 0.0700}
DEFAULT_SMS_PRICE_USD = 0.10
WHATSAPP_PRICE_USD = 0.05  # a business-initiated conversation, roughly, for the cap
VOICE_PRICE_USD = 0.10  # one short outbound call


@dataclass(frozen=True)
class ChannelRules:
    """What one app's stored channels and policy decide for a send."""

    channels: dict[str, dict[str, Any]] = field(default_factory=dict)  # channel type -> stored channel document
    policy: dict[str, Any] = field(default_factory=dict)  # MessagingPolicy

    def enabled(self, channel: str) -> bool:
        doc = self.channels.get(channel)
        if doc is None:
            return channel != "EMAIL"
        return bool(doc.get("Enabled", True))

    def country_allowed(self, country: str | None) -> bool:
        allowed = self.policy.get("AllowedCountries") or []
        return not allowed or (country is not None and country in allowed)

    def sms_sender(self, requested: SenderId, country: str | None) -> SenderId:
        """The request's own sender first, then the policy's sender for the country, then the SMS channel's. An
        alphanumeric sender ID is never used for a country that does not deliver them."""
        by_country = country or ""
        if requested.from_number or requested.messaging_service_sid:
            return requested
        if requested.alphanumeric_id and by_country not in NO_ALPHANUMERIC_SENDER:
            return requested
        number = (self.policy.get("OriginationNumbers") or {}).get(by_country)
        if number:
            return SenderId(from_number=number)
        sender_id = (self.policy.get("SenderIds") or {}).get(by_country)
        sms = self.channels.get("SMS") or {}
        sender_id = sender_id or sms.get("SenderId")
        if sender_id and by_country not in NO_ALPHANUMERIC_SENDER:
            return SenderId(alphanumeric_id=sender_id)
        if sms.get("ShortCode") and by_country in ("US", "CA"):
            return SenderId(from_number=sms["ShortCode"])
        return SenderId()

    def whatsapp_sender(self, requested: str | None) -> SenderId:
        doc = self.channels.get("WHATSAPP") or {}
        if requested or doc.get("FromNumber"):
            return SenderId(from_number=requested or doc["FromNumber"])
        if doc.get("MessagingServiceSid"):
            return SenderId(messaging_service_sid=doc["MessagingServiceSid"])
        return SenderId()  # the Twilio account's WhatsApp sender

    def rate_cap(self, sender: SenderId) -> float | None:
        rates = self.policy.get("SenderRates") or {}
        identity = sender.from_number or sender.alphanumeric_id or sender.messaging_service_sid
        return rates.get(identity) if identity else rates.get("default")

    def spend_cap(self, channel: str) -> float | None:
        return (self.policy.get("DailySpendLimits") or {}).get(channel)

    def estimated_cost(self, channel: str, country: str | None, segments: int) -> float:
        if channel == "SMS":
            prices = {**SMS_PRICE_USD, **(self.policy.get("PricePerMessage") or {})}
            return prices.get(country or "", DEFAULT_SMS_PRICE_USD) * max(1, segments)
        if channel == "WHATSAPP":
            return WHATSAPP_PRICE_USD
        if channel == "VOICE":
            return VOICE_PRICE_USD
        return 0.0

    def conversation_cap(self) -> int | None:
        """Meta's messaging tier for the WhatsApp sender: business-initiated conversations per 24 h (None: none)."""
        limit = (self.channels.get("WHATSAPP") or {}).get("DailyConversationLimit")
        return int(limit) if limit else None

    def email_from(self) -> tuple[str | None, str | None]:
        doc = self.channels.get("EMAIL") or {}
        return doc.get("FromAddress"), doc.get("ConfigurationSet")
