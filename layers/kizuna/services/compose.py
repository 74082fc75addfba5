"""Compose each recipient's message from a MessageRequest: the channel's content, rendered for that recipient.

Per channel, the text comes from the first of: the recipient's BodyOverride, the channel's message in
MessageConfiguration (SMSMessage, VoiceMessage, EmailMessage, WhatsAppMessage), the channel's template in
TemplateConfiguration (its active version unless Version is given), then MessageConfiguration.DefaultMessage — as
Pinpoint picked them. Text is rendered as Handlebars over the endpoint's document ({"Address", "ChannelType"} for a
raw address) with the message's Substitutions overridden by the recipient's own, then the template's
DefaultSubstitutions (kizuna.domain.templates). HTML e-mail parts get the values HTML-escaped.

A WhatsApp message can carry both a free-form body and an approved template (ContentSid); which one is sent is the
send path's decision (the 24-hour window), so both are composed here.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from kizuna.domain.messages import EmailContent, SenderId, VoiceContent, WhatsAppTemplate
from kizuna.domain.templates import check_template, parse_defaults, render
from kizuna.errors import BadRequest
from kizuna.ports import TemplateStore
from kizuna.services.templates import get_template
from kizuna.sms_segments import MAX_BODY_CHARACTERS, count_segments

_CONFIG = "MessageRequest.MessageConfiguration"
MAX_EMAIL_CHARS = 150_000  # rendered text + HTML must fit one send-queue message (256 KiB)
DEFAULT_VOICE_LANGUAGE = "en-US"
NOT_SENDABLE = frozenset({"rejected", "paused", "disabled"})  # Meta's WhatsApp template states that cannot send


@dataclass(frozen=True)
class Refusal:
    status: str  # Pinpoint DeliveryStatus
    code: int
    message: str

    def as_result(self) -> dict[str, Any]:
        return {"DeliveryStatus": self.status, "StatusCode": self.code, "StatusMessage": self.message}


def refuse(message: str, code: int = 400, status: str = "PERMANENT_FAILURE") -> Refusal:
    return Refusal(status, code, message)


@dataclass(frozen=True)
class Composed:
    """One recipient's content; the send path adds recipient, sender, consent and delivery rules."""

    body: str
    message_type: str = "TRANSACTIONAL"
    sender: SenderId = SenderId()
    media_urls: tuple[str, ...] = ()
    segments: int = 1
    voice: VoiceContent | None = None
    email: EmailContent | None = None
    whatsapp_template: WhatsAppTemplate | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class _Source:
    text: str | None  # Handlebars body
    defaults: dict[str, str]
    substitutions: dict[str, list[str]]


@dataclass
class MessagePlan:
    """One MessageRequest's configuration, checked once and with its templates loaded, for composing each
    recipient's message."""

    config: dict[str, Any]
    templates: dict[str, dict[str, Any]]  # channel -> template document

    @classmethod
    def load(cls, request: dict[str, Any], store: TemplateStore | None) -> MessagePlan:
        config = request.get("MessageConfiguration") or {}
        references = request.get("TemplateConfiguration") or {}
        templates: dict[str, dict[str, Any]] = {}
        for channel, member in (
            ("SMS", "SMSTemplate"),
            ("VOICE", "VoiceTemplate"),
            ("EMAIL", "EmailTemplate"),
            ("WHATSAPP", "WhatsAppTemplate"),
        ):
            reference = references.get(member)
            if reference and reference.get("Name"):
                if store is None:
                    raise BadRequest("MessageRequest.TemplateConfiguration: message templates are not configured")
                templates[channel] = get_template(store, channel, reference["Name"], reference.get("Version"))
        for member, parts in (
            ("SMSMessage", ("Body",)),
            ("VoiceMessage", ("Body",)),
            ("DefaultMessage", ("Body",)),
            ("WhatsAppMessage", ("Body",)),
            ("EmailMessage", ("Body",)),
        ):
            for part in parts:
                if (config.get(member) or {}).get(part):
                    check_template(config[member][part], f"{_CONFIG}.{member}.{part}")
        simple = (config.get("EmailMessage") or {}).get("SimpleEmail") or {}
        for part in ("Subject", "HtmlPart", "TextPart"):
            if (simple.get(part) or {}).get("Data"):
                check_template(simple[part]["Data"], f"{_CONFIG}.EmailMessage.SimpleEmail.{part}.Data")
        return cls(config, templates)

    def has_content_for(self, channel: str) -> bool:
        member = {"SMS": "SMSMessage", "VOICE": "VoiceMessage", "EMAIL": "EmailMessage", "WHATSAPP": "WhatsAppMessage"}
        return channel in self.templates or member[channel] in self.config or "DefaultMessage" in self.config

    def compose(
        self, channel: str, document: dict[str, Any], recipient: dict[str, Any], email_from: str | None = None
    ) -> Composed | Refusal:
        """`document` is the endpoint (or the raw address as {"Address", "ChannelType"}); `recipient` its
        AddressConfiguration / EndpointSendConfiguration."""
        if channel == "SMS":
            return self._sms(document, recipient)
        if channel == "VOICE":
            return self._voice(document, recipient)
        if channel == "EMAIL":
            return self._email(document, recipient, email_from)
        if channel == "WHATSAPP":
            return self._whatsapp(document, recipient)
        return refuse(f"Channel {channel} is not one Kizuna sends on")

    # channels ---------------------------------------------------------------------------------------------------
    def _sms(self, document: dict[str, Any], recipient: dict[str, Any]) -> Composed | Refusal:
        sms = self.config.get("SMSMessage") or {}
        body = self._text("SMS", "SMSMessage", document, recipient)
        if isinstance(body, Refusal):
            return body
        if len(body) > MAX_BODY_CHARACTERS:
            return refuse(f"The SMS body is {len(body)} characters; the limit is {MAX_BODY_CHARACTERS}")
        if sms.get("OriginationNumber"):
            sender = SenderId(from_number=sms["OriginationNumber"])
        elif sms.get("SenderId"):
            sender = SenderId(alphanumeric_id=sms["SenderId"])
        else:
            sender = SenderId()
        return Composed(
            body=body,
            message_type="PROMOTIONAL" if sms.get("MessageType") == "PROMOTIONAL" else "TRANSACTIONAL",
            sender=sender,
            media_urls=(sms["MediaUrl"],) if sms.get("MediaUrl") else (),
            segments=count_segments(body).segments,
        )

    def _voice(self, document: dict[str, Any], recipient: dict[str, Any]) -> Composed | Refusal:
        voice = self.config.get("VoiceMessage") or {}
        template = self.templates.get("VOICE") or {}
        body = self._text("VOICE", "VoiceMessage", document, recipient)
        if isinstance(body, Refusal):
            return body
        language = voice.get("LanguageCode") or template.get("LanguageCode") or DEFAULT_VOICE_LANGUAGE
        return Composed(
            body=body,
            sender=SenderId(from_number=voice.get("OriginationNumber")),
            voice=VoiceContent(language_code=language, voice=voice.get("VoiceId") or template.get("VoiceId")),
        )

    def _email(self, document: dict[str, Any], recipient: dict[str, Any], email_from: str | None) -> Composed | Refusal:
        email = self.config.get("EmailMessage") or {}
        simple = email.get("SimpleEmail") or {}
        template = self.templates.get("EMAIL") or {}
        from_address = email.get("FromAddress") or email_from
        if not from_address:
            return refuse("E-mail needs EmailMessage.FromAddress or the app's email channel FromAddress")
        defaults = parse_defaults(template.get("DefaultSubstitutions"), "DefaultSubstitutions")
        substitutions = {**(email.get("Substitutions") or {}), **(recipient.get("Substitutions") or {})}

        def part(name: str, escape: bool = False) -> str:
            source = (simple.get(name) or {}).get("Data") or template.get(name) or ""
            if not source or "{{" not in source:
                return source
            values = _escaped(document) if escape else document
            return render(source, values, defaults, _escaped(substitutions) if escape else substitutions)

        subject = part("Subject")
        html_part = part("HtmlPart", escape=True)
        text = recipient.get("BodyOverride") or part("TextPart") or email.get("Body") or ""
        if not subject:
            return refuse("E-mail needs a Subject (EmailMessage.SimpleEmail.Subject or the template's)")
        if not (text or html_part):
            return refuse("E-mail needs a TextPart or HtmlPart")
        if len(text) + len(html_part) > MAX_EMAIL_CHARS:
            return refuse(f"The rendered e-mail is over {MAX_EMAIL_CHARS} characters")
        return Composed(
            body=text,
            email=EmailContent(from_address=from_address, subject=subject, html=html_part or None),
        )

    def _whatsapp(self, document: dict[str, Any], recipient: dict[str, Any]) -> Composed | Refusal:
        message = self.config.get("WhatsAppMessage") or {}
        template_doc = self.templates.get("WHATSAPP") or {}
        content_sid = message.get("ContentSid") or template_doc.get("ContentSid")
        if not message.get("ContentSid") and template_doc.get("ApprovalStatus") in NOT_SENDABLE:
            status = template_doc["ApprovalStatus"]
            return refuse(f"The WhatsApp template's content is {status} by Meta; it cannot be sent")
        template = None
        if content_sid:
            variables = {**(template_doc.get("Variables") or {}), **(message.get("ContentVariables") or {})}
            defaults = parse_defaults(template_doc.get("DefaultSubstitutions"), "DefaultSubstitutions")
            substitutions = {**(message.get("Substitutions") or {}), **(recipient.get("Substitutions") or {})}
            rendered = {k: render(v, document, defaults, substitutions) for k, v in variables.items()}
            template = WhatsAppTemplate(content_sid=content_sid, variables=rendered)
        body = self._text("WHATSAPP", "WhatsAppMessage", document, recipient, fallback="SMSMessage")
        if isinstance(body, Refusal):
            if template is None:
                return body
            body = ""  # template only: the 24-hour window does not matter
        return Composed(
            body=body,
            sender=SenderId(from_number=message["OriginationNumber"])
            if message.get("OriginationNumber")
            else SenderId(),
            media_urls=(message["MediaUrl"],) if message.get("MediaUrl") else (),
            whatsapp_template=template,
        )

    # text -------------------------------------------------------------------------------------------------------
    def _text(
        self,
        channel: str,
        member: str,
        document: dict[str, Any],
        recipient: dict[str, Any],
        fallback: str | None = None,
    ) -> str | Refusal:
        if recipient.get("BodyOverride"):
            return recipient["BodyOverride"]  # verbatim, as Pinpoint sent it
        source = self._source(channel, member, fallback)
        if not source.text:
            return refuse(f"{_CONFIG}.{member}.Body (or a {channel} template) is required to send on {channel}")
        if "{{" not in source.text:
            return source.text
        substitutions = {**source.substitutions, **(recipient.get("Substitutions") or {})}
        body = render(source.text, document, source.defaults, substitutions)
        if not body.strip():
            return refuse("The message body rendered empty for this recipient")
        return body

    def _source(self, channel: str, member: str, fallback: str | None) -> _Source:
        message = self.config.get(member) or {}
        template = self.templates.get(channel) or {}
        defaults = parse_defaults(template.get("DefaultSubstitutions"), "DefaultSubstitutions")
        for candidate in (message, template, self.config.get(fallback or "") or {}, self.config.get("DefaultMessage")):
            if candidate and candidate.get("Body"):
                substitutions = candidate.get("Substitutions") or message.get("Substitutions") or {}
                return _Source(candidate["Body"], defaults, substitutions)
        return _Source(None, defaults, {})


def _escaped(value: Any) -> Any:
    """The same document with every string HTML-escaped, for rendering into an HTML part."""
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return html.escape(value) if isinstance(value, str) else value
