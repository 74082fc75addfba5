"""`kizuna.ports.MessageProvider` for SMS and WhatsApp on Twilio Programmable Messaging.

Domain `OutboundMessage` in, `ProviderReceipt` out. The sender is the message's own (an origination number, an
alphanumeric sender ID, a messaging service) or the account's default; WhatsApp addresses get Twilio's
"whatsapp:" prefix here and nowhere else. Each sender identity is one rate bucket, at the rate the operator gave
for it in the Twilio secret (`sender_rates`) or Twilio's documented default for its kind.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from kizuna.adapters.twilio_messaging import MessageState, Sender, TwilioMessaging
from kizuna.domain.messages import OutboundMessage, ProviderReceipt, SenderId
from kizuna.domain.throttle import Throttle, default_rate
from kizuna.errors import ProviderConfigurationError

WHATSAPP = "whatsapp:"


class TwilioMessagesProvider:
    def __init__(
        self,
        messaging: TwilioMessaging,
        default_sender: Sender,
        *,
        whatsapp_sender: str | None = None,
        sender_rates: dict[str, float] | None = None,
    ) -> None:
        self.messaging = messaging
        self.default_sender = default_sender
        self.whatsapp_sender = whatsapp_sender
        self.sender_rates = sender_rates or {}

    def sender_for(self, message: OutboundMessage) -> Sender:
        if message.channel == "WHATSAPP":
            number = message.sender.from_number or self.whatsapp_sender
            if message.sender.messaging_service_sid:
                return Sender.service(message.sender.messaging_service_sid)
            if not number:
                raise ProviderConfigurationError("21603", "no WhatsApp sender configured (channel or Twilio secret)")
            return Sender.number(WHATSAPP + number.removeprefix(WHATSAPP))
        return self._sms_sender(message.sender)

    def throttle(self, message: OutboundMessage) -> Throttle:
        sender = self.sender_for(message)
        identity = sender.from_ or sender.messaging_service_sid or ""
        bare = identity.removeprefix(WHATSAPP)
        rate = self.sender_rates.get(bare) or self.sender_rates.get(identity) or default_rate(message.channel, bare)
        if message.rate_per_s:
            rate = min(rate, message.rate_per_s)
        cost = float(max(1, message.segments)) if message.channel == "SMS" else 1.0
        return Throttle(f"twilio:{identity}", rate, cost)

    def send(self, message: OutboundMessage, status_callback: str | None) -> ProviderReceipt:
        template = message.whatsapp_template
        receipt = self.messaging.send_sms(
            self._to(message),
            None if template else message.body,
            self.sender_for(message),
            status_callback,
            message.validity_period_s,
            media_urls=message.media_urls,
            content_sid=template.content_sid if template else None,
            content_variables=json.dumps(template.variables, ensure_ascii=False) if template else None,
        )
        return ProviderReceipt(receipt.sid, receipt.status, receipt.num_segments)

    def fetch_status(self, provider_id: str) -> ProviderReceipt:
        return _receipt(self.messaging.fetch(provider_id))

    def find_sent(self, message: OutboundMessage, sent_after: datetime | None) -> ProviderReceipt | None:
        body = None if message.whatsapp_template else message.body
        since = sent_after or datetime.fromisoformat(message.accepted_at.replace("Z", "+00:00")).astimezone(UTC)
        state = self.messaging.find_sent(self._to(message), body, since)
        return None if state is None else _receipt(state)

    def _to(self, message: OutboundMessage) -> str:
        return WHATSAPP + message.to if message.channel == "WHATSAPP" else message.to

    def _sms_sender(self, sender_id: SenderId) -> Sender:
        if sender_id.messaging_service_sid:
            return Sender.service(sender_id.messaging_service_sid)
        if sender_id.alphanumeric_id:
            return Sender.alphanumeric(sender_id.alphanumeric_id)
        if sender_id.from_number:
            return Sender.number(sender_id.from_number)
        return self.default_sender


def _receipt(state: MessageState) -> ProviderReceipt:
    code = None if state.error_code is None else str(state.error_code)
    return ProviderReceipt(state.sid, state.status, error_code=code, error_message=state.error_message)
