"""Twilio Programmable Messaging adapter: send, fetch, and resolve ambiguous sends.

The adapter translates every twilio SDK / transport failure into the domain's provider errors
(`kizuna.errors`), using the single classification table `TWILIO_ERROR_CLASSES` below.

Ambiguity: when the create request times out or its connection drops after it was written, Twilio may have
accepted the message. `send_sms` then raises `RetryableProviderError(code="timeout")`. The caller MUST NOT simply
resend: it first calls `find_sent(to, body, sent_after)` and only resends when that returns None. A connection that
was never established (refused, connect timeout) cannot have reached Twilio and raises code "unavailable" instead,
which is safe to retry as is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from kizuna.errors import (
    PermanentProviderError,
    ProviderConfigurationError,
    ProviderError,
    RetryableProviderError,
)
from kizuna.sms_segments import count_segments

MAX_VALIDITY_PERIOD_S = 36000  # Twilio keeps a message queued at most 10 h
TERMINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "canceled", "read", "received"})


class ErrorClass(Enum):
    PERMANENT = "permanent"
    RETRYABLE = "retryable"
    CONFIGURATION = "configuration"


# One place for the classification: code -> (class, retry_after hint in seconds, why).
TWILIO_ERROR_CLASSES: dict[int, tuple[ErrorClass, float, str]] = {
    # The recipient: nothing we (or an operator) can change makes this message deliverable.
    21211: (ErrorClass.PERMANENT, 0.0, "invalid 'To' number"),
    21612: (ErrorClass.PERMANENT, 0.0, "Twilio cannot route to this destination from this sender"),
    21408: (
        ErrorClass.PERMANENT,
        0.0,
        "destination region not enabled (geo permissions); Kizuna decides allowed "
        "countries itself, so this fails the one message rather than the sender",
    ),
    21610: (ErrorClass.PERMANENT, 0.0, "recipient replied STOP (unsubscribed); the domain should record opt-out"),
    21614: (ErrorClass.PERMANENT, 0.0, "'To' is not a mobile number"),
    30003: (ErrorClass.PERMANENT, 0.0, "unreachable handset (delivery receipt)"),
    30005: (ErrorClass.PERMANENT, 0.0, "unknown destination (delivery receipt)"),
    30006: (ErrorClass.PERMANENT, 0.0, "landline or unreachable carrier"),
    63016: (ErrorClass.PERMANENT, 0.0, "WhatsApp free-form outside the 24 h window: needs an approved template"),
    # The request itself is malformed: a bug on our side, retrying the same request cannot succeed.
    21602: (ErrorClass.PERMANENT, 0.0, "body required"),
    21604: (ErrorClass.PERMANENT, 0.0, "'To' required"),
    21617: (ErrorClass.PERMANENT, 0.0, "body over 1600 characters"),
    90007: (ErrorClass.PERMANENT, 0.0, "ValidityPeriod outside 1..36000 s"),
    30036: (ErrorClass.PERMANENT, 0.0, "validity period expired while queued: the message is stale, do not resend"),
    # Our sender/credentials: every message from this configuration fails until an operator acts.
    20003: (ErrorClass.CONFIGURATION, 0.0, "authentication failed (account SID / auth token)"),
    20404: (ErrorClass.CONFIGURATION, 0.0, "account or resource not found: wrong account SID or base URL"),
    21212: (ErrorClass.CONFIGURATION, 0.0, "invalid 'From' number / sender ID"),
    21603: (ErrorClass.CONFIGURATION, 0.0, "no 'From' and no messaging service configured"),
    21606: (ErrorClass.CONFIGURATION, 0.0, "'From' is not an SMS-capable number owned by this account"),
    # Transient: Twilio asks us to slow down or its queue for this sender is full.
    20429: (ErrorClass.RETRYABLE, 1.0, "too many requests (API concurrency / rate limit)"),
    21611: (ErrorClass.RETRYABLE, 60.0, "sender's queue is full (over ~10 h of backlog); retry much later"),
    20500: (ErrorClass.RETRYABLE, 2.0, "Twilio internal error"),
    20503: (ErrorClass.RETRYABLE, 2.0, "Twilio service unavailable"),
}


@dataclass(frozen=True, slots=True)
class Sender:
    """Exactly one of: a phone number (E.164 / channel address), an alphanumeric sender ID, a messaging service."""

    phone_number: str | None = None
    alphanumeric_id: str | None = None
    messaging_service_sid: str | None = None

    def __post_init__(self) -> None:
        chosen = [v for v in (self.phone_number, self.alphanumeric_id, self.messaging_service_sid) if v]
        if len(chosen) != 1:
            raise ValueError("Sender needs exactly one of phone_number, alphanumeric_id, messaging_service_sid")

    @classmethod
    def number(cls, value: str) -> Sender:
        return cls(phone_number=value)

    @classmethod
    def alphanumeric(cls, value: str) -> Sender:
        return cls(alphanumeric_id=value)

    @classmethod
    def service(cls, sid: str) -> Sender:
        return cls(messaging_service_sid=sid)

    @property
    def from_(self) -> str | None:
        return self.phone_number or self.alphanumeric_id


@dataclass(frozen=True, slots=True)
class SendReceipt:
    sid: str
    status: str
    num_segments: int
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class MessageState:
    sid: str
    status: str
    error_code: int | None
    error_message: str | None
    date_created: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


# The twilio SDK logs each request's URL and query string at INFO, and Kizuna looks messages and calls up by their
# `To` number: at an INFO log level every looked-up phone number would be in the function's logs. The SDK's request
# log goes to this logger instead, which keeps warnings only (tests/security/test_security_provider_logs.py).
SDK_REQUEST_LOG = logging.getLogger("kizuna.twilio_sdk")
SDK_REQUEST_LOG.setLevel(logging.WARNING)


def make_twilio_client(
    account_sid: str, auth_token: str, api_base_url: str | None = None, timeout_s: float = 10.0
) -> Client:
    """A twilio Client with a request timeout; `api_base_url` (e.g. the sandbox) replaces https://api.twilio.com.

    The SDK builds every Messages URL from `client.api.base_url` (twilio.base.domain.Domain.absolute_url), and
    paging follows `next_page_uri` relative to the same domain, so overriding it covers create/fetch/list.
    """
    http_client = TwilioHttpClient(timeout=timeout_s, logger=SDK_REQUEST_LOG)
    client = Client(account_sid, auth_token, http_client=http_client)
    if api_base_url:
        client.api.base_url = api_base_url.rstrip("/")
        client.content.base_url = api_base_url.rstrip("/")  # the Content API (WhatsApp template approvals) too
    return client


class TwilioMessaging:
    def __init__(self, client: Client, find_sent_scan_limit: int = 200) -> None:
        self._client = client
        self._scan_limit = find_sent_scan_limit

    def send_sms(
        self,
        to: str,
        body: str | None,
        sender: Sender,
        status_callback: str | None,
        validity_period_s: int | None = None,
        *,
        media_urls: tuple[str, ...] = (),
        content_sid: str | None = None,
        content_variables: str | None = None,
    ) -> SendReceipt:
        """Create the message (SMS/MMS, or WhatsApp when `to` and the sender carry "whatsapp:"). A Content API
        template (`content_sid` + JSON `content_variables`) replaces the body.

        Raises Permanent/Retryable/ProviderConfigurationError; see module docstring for
        `RetryableProviderError(code="timeout")`, which means "maybe sent": resolve with `find_sent` first."""
        if validity_period_s is not None and not 1 <= validity_period_s <= MAX_VALIDITY_PERIOD_S:
            raise ValueError(f"validity_period_s must be 1..{MAX_VALIDITY_PERIOD_S}")
        kwargs: dict[str, Any] = {"to": to}
        if content_sid:
            kwargs["content_sid"] = content_sid
            if content_variables:
                kwargs["content_variables"] = content_variables
        else:
            kwargs["body"] = body
        if media_urls:
            kwargs["media_url"] = list(media_urls)
        if sender.from_:
            kwargs["from_"] = sender.from_
        if sender.messaging_service_sid:
            kwargs["messaging_service_sid"] = sender.messaging_service_sid
        if status_callback:
            kwargs["status_callback"] = status_callback
        if validity_period_s is not None:
            kwargs["validity_period"] = validity_period_s
        try:
            msg = self._client.messages.create(**kwargs)
        except Exception as e:  # noqa: BLE001 - translated below, never swallowed
            raise translate_error(e, sending=True) from e
        segments = _int(msg.num_segments) or count_segments(body or "").segments  # 0 with a messaging service
        return SendReceipt(sid=msg.sid, status=msg.status, num_segments=segments, price=_decimal(msg.price))

    def fetch(self, sid: str) -> MessageState:
        try:
            msg = self._client.messages(sid).fetch()
        except Exception as e:  # noqa: BLE001
            raise translate_error(e, sending=False) from e
        return _state(msg)

    def find_sent(
        self,
        to: str,
        body: str | None,
        sent_after: datetime,
        *,
        sender: Sender | None = None,
        skew: timedelta = timedelta(minutes=5),
    ) -> MessageState | None:
        """The newest outbound message to `to` with exactly `body` (any body when None: a template send, whose body
        Twilio renders), created at or after `sent_after - skew`.

        Lists by `To` only and filters on `date_created` here: a message still queued has no DateSent yet, and
        Twilio's DateSent filter would hide exactly the message we are looking for. The scan is bounded by
        `find_sent_scan_limit`. `skew` absorbs clock differences and Twilio's whole-second timestamps; an identical
        body sent to the same number inside that window would also match, so callers should keep bodies unique
        per send when they can (or pass `sender`).
        """
        since = sent_after.astimezone(UTC) - skew
        try:
            for msg in self._client.messages.stream(to=to, limit=self._scan_limit, page_size=50):
                created = msg.date_created
                if created is None or created < since or not str(msg.direction).startswith("outbound"):
                    continue
                if body is not None and msg.body != body:
                    continue
                if sender is not None and sender.from_ and msg.from_ != sender.from_:
                    continue
                if (
                    sender is not None
                    and sender.messaging_service_sid
                    and msg.messaging_service_sid != sender.messaging_service_sid
                ):
                    continue
                return _state(msg)
        except Exception as e:  # noqa: BLE001
            raise translate_error(e, sending=False) from e
        return None


def _state(msg: Any) -> MessageState:
    return MessageState(
        sid=msg.sid,
        status=str(msg.status),
        error_code=_int(msg.error_code),
        error_message=msg.error_message,
        date_created=msg.date_created,
    )


def classify(code: int | None, http_status: int) -> tuple[ErrorClass, float]:
    if code is not None and code in TWILIO_ERROR_CLASSES:
        cls, retry_after, _ = TWILIO_ERROR_CLASSES[code]
        return cls, retry_after
    if http_status in (401, 403):
        return ErrorClass.CONFIGURATION, 0.0
    if http_status == 429:
        return ErrorClass.RETRYABLE, 1.0
    if http_status >= 500:
        return ErrorClass.RETRYABLE, 2.0
    return ErrorClass.PERMANENT, 0.0  # any other 4xx: this request is wrong as it stands


def translate_error(e: Exception, *, sending: bool) -> ProviderError:
    if isinstance(e, TwilioRestException):
        code = _int(e.code)
        cls, retry_after = classify(code, int(e.status))
        label, message = str(code if code is not None else e.status), str(e.msg)
        if cls is ErrorClass.RETRYABLE:
            return RetryableProviderError(label, message, retry_after)
        if cls is ErrorClass.CONFIGURATION:
            return ProviderConfigurationError(label, message)
        return PermanentProviderError(label, message)
    if isinstance(e, requests.exceptions.ConnectTimeout) or (
        isinstance(e, requests.exceptions.ConnectionError) and _never_connected(e)
    ):
        return RetryableProviderError("unavailable", f"could not connect to Twilio: {e}", 1.0)
    if isinstance(e, (requests.exceptions.Timeout, requests.exceptions.ConnectionError)):
        what = "Twilio may have accepted the message; resolve with find_sent" if sending else "read failed"
        return RetryableProviderError("timeout", f"{what}: {e}", 0.0)
    if isinstance(e, TwilioException):
        return RetryableProviderError("unknown", str(e), 1.0)
    raise e


def _never_connected(e: requests.exceptions.ConnectionError) -> bool:
    """True when the TCP connection was never established (so the request cannot have reached Twilio)."""
    import urllib3.exceptions as u3

    cause: BaseException | None = e
    seen = 0
    while cause is not None and seen < 10:
        if isinstance(cause, u3.NewConnectionError | ConnectionRefusedError):
            return True
        if isinstance(cause, u3.MaxRetryError):
            cause = cause.reason
        else:
            cause = (
                e.args[0]
                if cause is e and e.args and isinstance(e.args[0], BaseException)
                else cause.__cause__ or cause.__context__
            )
        seen += 1
    return False


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None
