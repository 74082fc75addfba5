"""`kizuna.ports.MessageProvider` for voice messages: a Twilio call that speaks the text (<Say>), then hangs up.

Pinpoint's VoiceMessage gives LanguageCode (e.g. ja-JP) and VoiceId (an Amazon Polly voice such as Mizuki or
Takumi); Twilio speaks Polly voices as "Polly.<VoiceId>", so Pinpoint's voice ids carry over unchanged. Calls go out
at the account's calls-per-second (Twilio: 1 by default; `sender_rates["voice"]` in the Twilio secret when raised),
one bucket per account whatever number they come from.

Ambiguity: a call create that timed out may have started a call. `find_sent` looks for an outbound call to the same
number created since the first attempt; two voice messages to one number within minutes would be taken for one, so
the caller should not send those (a voice message is rarely sent twice to one person so soon).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from kizuna.adapters.twilio_messaging import translate_error
from kizuna.domain.messages import OutboundMessage, ProviderReceipt
from kizuna.domain.throttle import VOICE_CALLS_PER_S, Throttle

CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
MAX_SAY_CHARS = 4096  # Twilio's <Say> limit
LOOKUP_SKEW = timedelta(minutes=5)


def say_twiml(text: str, language: str, voice: str | None) -> str:
    response = VoiceResponse()
    kwargs: dict[str, Any] = {"language": language}
    if voice:
        kwargs["voice"] = voice if "." in voice or voice in ("man", "woman", "alice") else f"Polly.{voice}"
    response.say(text[:MAX_SAY_CHARS], **kwargs)
    response.hangup()
    return str(response)


class TwilioVoiceProvider:
    def __init__(self, client: Client, default_from: str, calls_per_s: float | None = None) -> None:
        self._client = client
        self._from = default_from
        self._rate = calls_per_s or VOICE_CALLS_PER_S

    def throttle(self, message: OutboundMessage) -> Throttle:
        rate = min(self._rate, message.rate_per_s) if message.rate_per_s else self._rate
        return Throttle(f"twilio:calls:{self._client.account_sid}", rate, 1.0)

    def send(self, message: OutboundMessage, status_callback: str | None) -> ProviderReceipt:
        voice = message.voice
        twiml = say_twiml(message.body, voice.language_code if voice else "en-US", voice.voice if voice else None)
        kwargs: dict[str, Any] = {"to": message.to, "from_": message.sender.from_number or self._from, "twiml": twiml}
        if status_callback:
            kwargs.update(status_callback=status_callback, status_callback_event=CALL_EVENTS)
            kwargs["status_callback_method"] = "POST"
        try:
            call = self._client.calls.create(**kwargs)
        except Exception as e:  # noqa: BLE001 - translated, never swallowed
            raise translate_error(e, sending=True) from e
        return ProviderReceipt(call.sid, str(call.status), segments=1)

    def fetch_status(self, provider_id: str) -> ProviderReceipt:
        try:
            call = self._client.calls(provider_id).fetch()
        except Exception as e:  # noqa: BLE001
            raise translate_error(e, sending=False) from e
        return ProviderReceipt(call.sid, str(call.status))

    def find_sent(self, message: OutboundMessage, sent_after: datetime | None) -> ProviderReceipt | None:
        since = (sent_after or datetime.fromisoformat(message.accepted_at.replace("Z", "+00:00"))).astimezone(UTC)
        try:
            for call in self._client.calls.stream(to=message.to, limit=100, page_size=50):
                created = call.date_created
                if created is not None and created >= since - LOOKUP_SKEW and str(call.direction) == "outbound-api":
                    return ProviderReceipt(call.sid, str(call.status))
        except Exception as e:  # noqa: BLE001
            raise translate_error(e, sending=False) from e
        return None
