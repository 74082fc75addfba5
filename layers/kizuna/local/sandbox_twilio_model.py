"""Sandbox Twilio: the message record and its status changes, Twilio's JSON shapes, the test-credential magic
numbers and the create request's checks.

Magic numbers follow Twilio's "test inputs for SMS" table (test credentials): the 4xx outcomes are synchronous
400 responses to the create request (`validate_create`), exactly as with Twilio's test credentials.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from kizuna.sms_segments import count_segments

API_VERSION = "2010-04-01"
API_PREFIX = f"/{API_VERSION}/Accounts"

VALID_FROM = "+15005550006"
# To magic numbers -> (code, message)
MAGIC_TO: dict[str, tuple[int, str]] = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550002": (
        21612,
        "The 'To' phone number: +15005550002, is not currently reachable using the 'From' phone number via SMS.",
    ),
    "+15005550003": (
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +15005550003.",
    ),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
# From magic numbers -> (code, message)
MAGIC_FROM: dict[str, tuple[int, str]] = {
    "+15005550001": (
        21212,
        "The 'From' number +15005550001 is not a valid phone number, shortcode, or alphanumeric sender ID.",
    ),
    "+15005550007": (
        21606,
        "The From phone number +15005550007 is not a valid, SMS-capable inbound phone "
        "number or short code for your account.",
    ),
    "+15005550008": (21611, "This 'From' number has exceeded the maximum number of queued messages"),
}

# Asynchronous delivery failures the sandbox can be told to produce (status, error code, error message).
DELIVERY_ERRORS: dict[int, str] = {
    30001: "Queue overflow",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
    30036: "Validity Period Expired",
    63016: "Failed to send freeform message because you are outside the allowed window.",
}

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ALPHANUMERIC_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
MAX_BODY = 1600
WHATSAPP = "whatsapp:"
WHATSAPP_WINDOW_S = 24 * 3600
MAX_VALIDITY_PERIOD = 36000  # seconds: Twilio keeps a message queued at most 10 h
PRICE_PER_SEGMENT = 0.0079


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def rfc2822(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment.astimezone(UTC))


def is_address(value: str) -> bool:
    """E.164, optionally with a channel prefix such as ``whatsapp:``."""
    _, _, number = value.rpartition(":")
    return bool(E164.match(number))


class TwilioApiError(Exception):
    """Raised inside the sandbox; rendered as Twilio's JSON error body."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def validate_create(
    to: str | None,
    from_: str | None,
    service: str | None,
    body: str,
    validity: str | None,
    *,
    numbers: set[str],
    services: set[str],
) -> int | None:
    """Refuse a create request as Twilio does, synchronously (the account's phone `numbers` and messaging
    `services`); returns its ValidityPeriod in seconds, if it has one."""
    if not to:
        raise TwilioApiError(400, 21604, "A 'To' phone number is required.")
    if not from_ and not service:
        raise TwilioApiError(400, 21603, "A 'From' phone number is required.")
    if service and service not in services:
        raise TwilioApiError(400, 21705, "The Messaging Service Sid is invalid.")  # code not verified
    if from_:
        if from_ in MAGIC_FROM:
            code, message = MAGIC_FROM[from_]
            raise TwilioApiError(400, code, message)
        if from_.removeprefix(WHATSAPP) not in numbers and not ALPHANUMERIC_ID.match(from_):
            raise TwilioApiError(
                400,
                21606,
                f"The From phone number {from_} is not a valid, SMS-capable "
                "inbound phone number or short code for your account.",
            )
    if to in MAGIC_TO:
        code, message = MAGIC_TO[to]
        raise TwilioApiError(400, code, message)
    if not is_address(to):
        raise TwilioApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not body:
        raise TwilioApiError(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY:
        raise TwilioApiError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if validity is None:
        return None
    if not validity.isdigit() or not 1 <= int(validity) <= MAX_VALIDITY_PERIOD:
        raise TwilioApiError(400, 90007, f"ValidityPeriod must be between 1 and {MAX_VALIDITY_PERIOD}.")
    return int(validity)


@dataclass
class SandboxMessage:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status: str
    num_segments: int
    direction: str
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    validity_period: int | None = None
    error_code: int | None = None
    error_message: str | None = None
    price: str | None = None
    history: list[str] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"{API_PREFIX}/{self.account_sid}/Messages/{self.sid}.json"

    def move_to(self, status: str, now: datetime, error_code: int | None, numbers: Iterable[str]) -> None:
        """One step of its status path; a messaging service's message gets its sender (one of `numbers`) and its
        segment count when it is queued, as Twilio's do."""
        self.status, self.date_updated = status, now
        self.history.append(status)
        if status == "queued" and self.messaging_service_sid:
            self.from_ = self.from_ or next(iter(sorted(numbers)), "")
            self.num_segments = count_segments(self.body).segments
        if status == "sent":
            self.date_sent = now
            self.price = f"-{PRICE_PER_SEGMENT * self.num_segments:.5f}"
        if error_code is not None:
            self.error_code = error_code
            self.error_message = DELIVERY_ERRORS.get(error_code, "Delivery failed")

    def to_json(self) -> dict[str, object]:
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": rfc2822(self.date_sent),
            "date_updated": rfc2822(self.date_updated),
            "direction": self.direction,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(self.num_segments),
            "price": self.price,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {
                "media": self.uri.replace(".json", "/Media.json"),
                "feedback": self.uri.replace(".json", "/Feedback.json"),
            },
            "to": self.to,
            "uri": self.uri,
        }

    def callback_params(self, now: datetime) -> dict[str, str]:
        """The form of the status callback Twilio posts when the message reached its status `now`."""
        params = {
            "MessageSid": self.sid,
            "SmsSid": self.sid,
            "SmsStatus": self.status,
            "MessageStatus": self.status,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "To": self.to,
            "ApiVersion": API_VERSION,
        }
        if self.messaging_service_sid:
            params["MessagingServiceSid"] = self.messaging_service_sid
        if self.error_code is not None:
            params["ErrorCode"] = str(self.error_code)
        if self.status in ("delivered", "undelivered"):
            params["RawDlrDoneDate"] = now.astimezone(UTC).strftime("%y%m%d%H%M")
        return params

    def inbound_params(self, num_media: int) -> dict[str, str]:
        """The form of the webhook Twilio posts for an inbound (received) message."""
        params = {
            "MessageSid": self.sid,
            "SmsSid": self.sid,
            "SmsMessageSid": self.sid,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "To": self.to,
            "Body": self.body,
            "NumMedia": str(num_media),
            "NumSegments": str(self.num_segments),
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        if self.messaging_service_sid:
            params["MessagingServiceSid"] = self.messaging_service_sid
        return params


@dataclass(frozen=True)
class RecordedRequest:
    """One accepted create request, as "Twilio" received it."""

    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    validity_period: int | None
    time: datetime
    content_sid: str | None = None
    content_variables: str | None = None
    media_urls: tuple[str, ...] = ()


def list_page(messages: Iterable[SandboxMessage], args: Any, account_sid: str) -> dict[str, Any]:
    """One page of Messages.json: To / From / DateSent[<>] filters, newest first, Twilio's paging fields."""
    try:
        page_size = min(max(int(args.get("PageSize", 50)), 1), 1000)
        page = max(int(args.get("Page", 0)), 0)
    except ValueError as e:
        raise TwilioApiError(400, 20001, "Invalid paging parameter") from e
    filters = {k: args[k] for k in ("DateSent", "DateSent<", "DateSent>") if k in args}
    found = [
        m
        for m in messages
        if m.account_sid == account_sid
        and ("To" not in args or m.to == args["To"])
        and ("From" not in args or m.from_ == args["From"])
        and all(_date_matches(m.date_sent, op, value) for op, value in filters.items())
    ]
    found.sort(key=lambda m: m.date_created, reverse=True)  # stable sort: newest first
    chunk = [m.to_json() for m in found[page * page_size : (page + 1) * page_size]]
    base = f"{API_PREFIX}/{account_sid}/Messages.json"
    items = args.items(multi=True) if hasattr(args, "getlist") else args.items()
    keep = [(k, v) for k, v in items if k not in ("Page", "PageSize", "PageToken")]

    def page_uri(n: int) -> str:
        return f"{base}?{urlencode(keep + [('PageSize', page_size), ('Page', n)])}"

    has_next = (page + 1) * page_size < len(found)
    return {
        "messages": chunk,
        "start": page * page_size,
        "end": page * page_size + max(len(chunk) - 1, 0),
        "page": page,
        "page_size": page_size,
        "uri": page_uri(page),
        "first_page_uri": page_uri(0),
        "next_page_uri": f"{page_uri(page + 1)}&PageToken=PASM{page + 1}" if has_next else None,
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
    }


def _date_matches(sent: datetime | None, op: str, value: str) -> bool:
    """Twilio's DateSent filters: `DateSent>` means on or after, `DateSent<` on or before (inclusive)."""
    if sent is None:  # not sent yet: a DateSent filter leaves it out
        return False
    try:
        if "T" in value:
            bound: datetime | date = datetime.fromisoformat(value.replace("Z", "+00:00"))
            subject: datetime | date = sent
        else:
            bound, subject = date.fromisoformat(value), sent.astimezone(UTC).date()
    except ValueError as e:
        raise TwilioApiError(400, 20001, f"Invalid date filter {op}={value}") from e
    if op == "DateSent>":
        return subject >= bound  # type: ignore[operator]
    if op == "DateSent<":
        return subject <= bound  # type: ignore[operator]
    return subject == bound
