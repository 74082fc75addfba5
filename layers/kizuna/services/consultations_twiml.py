"""The TwiML Kizuna answers consultation calls with, built with twilio's VoiceResponse, in the consultation's
language (Japanese unless the booking said otherwise)."""

from __future__ import annotations

from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from kizuna.domain.consultations import PIN_DIGITS, Consultation

DEFAULT_LANGUAGE = "ja-JP"
LANGUAGES = ("ja-JP", "en-US")
DIAL_TIMEOUT_S = 30
PIN_ATTEMPTS = 3

PROMPTS: dict[str, dict[str, str]] = {
    "ja-JP": {
        "connecting": "お電話ありがとうございます。ただいま専門家におつなぎします。",
        "ask_pin": "ご予約の暗証番号、6桁を入力してください。",
        "pin_unknown": "暗証番号が確認できませんでした。",
        "not_found": "ご予約が見つかりませんでした。お手数ですが、ご予約内容をご確認ください。",
        "busy": "このご相談はすでに通話中か、終了しています。",
        "hold_expired": "お支払いの確認ができないため、おつなぎできません。",
        "unavailable": "専門家が応答できませんでした。料金は発生しません。",
        "warning": "残り1分です。",
        "ended": "ご利用ありがとうございました。通話を終了します。",
    },
    "en-US": {
        "connecting": "Thank you for calling. Connecting you to your expert now.",
        "ask_pin": "Please enter the six digit PIN of your booking.",
        "pin_unknown": "That PIN was not recognised.",
        "not_found": "We could not find your booking. Please check its details.",
        "busy": "This consultation is already in a call or has ended.",
        "hold_expired": "We could not confirm the payment, so we cannot connect you.",
        "unavailable": "The expert could not answer. You will not be charged.",
        "warning": "One minute remaining.",
        "ended": "Thank you. The call is ending now.",
    },
}


def _say(response: VoiceResponse | Gather, key: str, language: str) -> None:
    language = language if language in PROMPTS else DEFAULT_LANGUAGE
    response.say(PROMPTS[language][key], language=language)


def url(base: str, path: str, **query: str | int) -> str:
    return f"{base}/{path}?{urlencode(query)}" if query else f"{base}/{path}"


def ask_pin(base: str, attempt: int, language: str = DEFAULT_LANGUAGE) -> str:
    response = VoiceResponse()
    if attempt > 1:
        _say(response, "pin_unknown", language)
    gather = Gather(num_digits=PIN_DIGITS, action=url(base, "pin", attempt=attempt), timeout=10)
    _say(gather, "ask_pin", language)
    response.append(gather)
    _say(response, "not_found", language)
    response.hangup()
    return str(response)


def refuse(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    response = VoiceResponse()
    _say(response, key, language)
    response.hangup()
    return str(response)


def bridge(base: str, c: Consultation, time_limit_s: int) -> str:
    """Bridge the caller to the expert, the Twilio number as caller ID, cut after what the hold covers."""
    ids = {"a": c.app_id, "c": c.consultation_id}
    response = VoiceResponse()
    _say(response, "connecting", c.language)
    dial = Dial(
        time_limit=time_limit_s,
        caller_id=c.twilio_number,
        action=url(base, "dialed", **ids),
        timeout=DIAL_TIMEOUT_S,
    )
    dial.number(
        c.expert_phone,
        status_callback=url(base, "status", **ids),
        status_callback_event="initiated ringing answered completed",
    )
    response.append(dial)
    return str(response)


def room(c: Consultation) -> str:
    return f"kizuna-{c.consultation_id}"


def warning_for_expert(c: Consultation) -> str:
    """The expert's leg leaves the bridge for a conference after hearing the warning; the caller's <Dial> ends,
    its action (dial_ended) plays the same warning and joins the caller to the same room for the time left."""
    response = VoiceResponse()
    _say(response, "warning", c.language)
    dial = Dial()
    dial.conference(room(c), beep=False, end_conference_on_exit=True, start_conference_on_enter=True)
    response.append(dial)
    return str(response)


def warning_for_caller(c: Consultation, remaining_s: int) -> str:
    response = VoiceResponse()
    _say(response, "warning", c.language)
    dial = Dial(time_limit=max(remaining_s, 1))
    dial.conference(room(c), beep=False, end_conference_on_exit=True, start_conference_on_enter=True)
    response.append(dial)
    return str(response)


def empty() -> str:
    return str(VoiceResponse())
