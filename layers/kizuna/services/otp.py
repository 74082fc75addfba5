"""One-time passwords: SendOTPMessage and VerifyOTPMessage, as Pinpoint offered them.

A code is sent synchronously: the API claims, paces and sends it itself (the same Deliverer the sender uses, so it
is sent once and counted in the sender's rate), so a one-time password never waits behind a campaign in the queue.
Only when the sender's rate has no slot left within its horizon does the code go to the send queue, delayed by the
wait; the answer then says it was queued.

The code is stored only as an HMAC (keyed by the app's salt, bound to the destination and ReferenceId), with an
expiry (ValidityPeriod minutes, 15 by default, 5–60) and an attempt budget (AllowedAttempts, 3 by default). A
correct code verifies once; a wrong one spends an attempt; a new SendOTPMessage for the same destination and
ReferenceId replaces the earlier code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from kizuna.domain.messages import OutboundMessage
from kizuna.errors import BadRequest
from kizuna.ports import EventSink
from kizuna.services.deliver import Deliverer, Outcome
from kizuna.services.recipients import Recipient, normalise, prepare
from kizuna.services.send_messages import SendDeps, context_for

DEFAULT_CODE_LENGTH, CODE_LENGTHS = 6, range(5, 9)
DEFAULT_VALIDITY_MIN, VALIDITY_RANGE_MIN = 15, range(5, 61)
DEFAULT_ATTEMPTS, ATTEMPT_RANGE = 3, range(1, 11)
FIELD = "SendOTPMessageRequestParameters"

# The message per language (Pinpoint's Language parameter); English otherwise.
SMS_TEXT = {
    "ja": "{brand}の認証コードは {code} です。{minutes}分間有効です。",
    "en": "{code} is your {brand} verification code. It expires in {minutes} minutes.",
}
VOICE_TEXT = {
    "ja": "{brand}の認証コードは、{code}、です。もう一度繰り返します。{code}。",
    "en": "Your {brand} verification code is {code}. Again, your code is {code}.",
}


class OtpStore(Protocol):
    def put_otp(self, app_id: str, key: str, record: dict[str, Any], expires_at: datetime) -> None: ...
    def get_otp(self, app_id: str, key: str) -> dict[str, Any] | None: ...
    def spend_attempt(self, app_id: str, key: str) -> bool:
        """Take one attempt from the record's budget, atomically; False when none is left (or no record)."""
        ...

    def delete_otp(self, app_id: str, key: str) -> None: ...
    def app_salt(self, app_id: str) -> bytes: ...


@dataclass
class OtpDeps:
    send: SendDeps
    store: OtpStore
    deliverer: Deliverer
    events: EventSink


def send_otp(deps: OtpDeps, app_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Pinpoint's MessageResponse for SendOTPMessage: one result keyed by the destination."""
    channel = str(params.get("Channel") or "").upper()
    if channel not in ("SMS", "VOICE"):
        raise BadRequest(f"{FIELD}.Channel must be SMS or VOICE; got {params.get('Channel')!r}")
    for name in ("BrandName", "DestinationIdentity", "ReferenceId"):
        if not params.get(name):
            raise BadRequest(f"{FIELD}.{name} is required")
    length = _within(params.get("CodeLength"), DEFAULT_CODE_LENGTH, CODE_LENGTHS, "CodeLength")
    minutes = _within(params.get("ValidityPeriod"), DEFAULT_VALIDITY_MIN, VALIDITY_RANGE_MIN, "ValidityPeriod")
    attempts = _within(params.get("AllowedAttempts"), DEFAULT_ATTEMPTS, ATTEMPT_RANGE, "AllowedAttempts")
    code = "".join(str(secrets.randbelow(10)) for _ in range(length))
    language = str(params.get("Language") or "en").split("-")[0].lower()
    texts = VOICE_TEXT if channel == "VOICE" else SMS_TEXT
    spoken = " ".join(code) if channel == "VOICE" else code  # digits one by one, not "one hundred twenty..."
    body = texts.get(language, texts["en"]).format(brand=params["BrandName"], code=spoken, minutes=minutes)
    request = {
        "MessageConfiguration": _configuration(channel, params.get("OriginationIdentity"), params.get("Language"))
    }
    ctx = context_for(deps.send, app_id, request, "transactional", {"otp_reference_id": params["ReferenceId"]}, None)
    now = ctx.now
    destination = params["DestinationIdentity"]
    decided = prepare(Recipient(destination, channel, destination, {"BodyOverride": body}), ctx)
    response: dict[str, Any] = {"ApplicationId": app_id, "RequestId": ctx.request_id}
    if not isinstance(decided, OutboundMessage):
        response["Result"] = {destination: decided.as_result()}  # refused: opted out, bad number, country...
        return response
    key = _key(deps.store, app_id, decided.to, params["ReferenceId"])
    expires = now + timedelta(minutes=minutes)
    record = {"code": _digest(deps.store, app_id, key, code), "attempts": attempts, "expires_at": expires.isoformat()}
    deps.store.put_otp(app_id, key, record, expires)
    outcome = deps.deliverer.deliver(decided)
    if deps.deliverer.events:
        deps.events.emit(deps.deliverer.events)
        deps.deliverer.events.clear()
    response["Result"] = {destination: _result(outcome, decided.message_id)}
    return response


def verify_otp(store: OtpStore, now: datetime, app_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Pinpoint's VerificationResponse: {"Valid": bool}."""
    field = "VerifyOTPMessageRequestParameters"
    for name in ("DestinationIdentity", "Otp", "ReferenceId"):
        if not params.get(name):
            raise BadRequest(f"{field}.{name} is required")
    try:
        destination = normalise("SMS", params["DestinationIdentity"])[0]
    except BadRequest:
        return {"Valid": False}
    key = _key(store, app_id, destination, params["ReferenceId"])
    record = store.get_otp(app_id, key)
    if record is None or datetime.fromisoformat(record["expires_at"]) <= now:
        return {"Valid": False}
    if not store.spend_attempt(app_id, key):
        return {"Valid": False}
    if not hmac.compare_digest(record["code"], _digest(store, app_id, key, str(params["Otp"]))):
        return {"Valid": False}
    store.delete_otp(app_id, key)  # single use
    return {"Valid": True}


def _configuration(channel: str, origination: str | None, language: str | None) -> dict[str, Any]:
    if channel == "VOICE":
        voice: dict[str, Any] = {"LanguageCode": language or "en-US"}
        if origination:
            voice["OriginationNumber"] = origination
        return {"VoiceMessage": voice}
    sms: dict[str, Any] = {"MessageType": "TRANSACTIONAL"}
    if origination:
        sms["OriginationNumber" if origination.startswith("+") else "SenderId"] = origination
    return {"SMSMessage": sms}


def _result(outcome: Outcome, message_id: str) -> dict[str, Any]:
    if outcome in (Outcome.SENT, Outcome.ALREADY_DONE):
        return {"DeliveryStatus": "SUCCESSFUL", "StatusCode": 200, "StatusMessage": "Sent", "MessageId": message_id}
    if outcome is Outcome.DEFERRED:
        message = "Queued: the sender is at its rate"
        return {"DeliveryStatus": "SUCCESSFUL", "StatusCode": 202, "StatusMessage": message, "MessageId": message_id}
    if outcome is Outcome.RETRY:
        message = "The provider could not be reached; retry"
        return {"DeliveryStatus": "TEMPORARY_FAILURE", "StatusCode": 503, "StatusMessage": message}
    message = "The provider refused the message (see the event stream for the reason)"
    return {"DeliveryStatus": "PERMANENT_FAILURE", "StatusCode": 400, "StatusMessage": message, "MessageId": message_id}


def _within(value: Any, default: int, allowed: range, name: str) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or value not in allowed:
        raise BadRequest(f"{FIELD}.{name} must be {allowed.start} to {allowed.stop - 1}; got {value!r}")
    return value


def _key(store: OtpStore, app_id: str, destination: str, reference_id: str) -> str:
    text = f"{destination}\n{reference_id}".encode()
    return hmac.new(store.app_salt(app_id), text, hashlib.sha256).hexdigest()[:40]


def _digest(store: OtpStore, app_id: str, key: str, code: str) -> str:
    return hmac.new(store.app_salt(app_id), f"{key}:{code}".encode(), hashlib.sha256).hexdigest()
