"""Sandbox Twilio calls: the call record, Twilio's Call JSON shape, status-callback parameters and list paging.

Time in the calls sandbox is simulated: every call step happens at a logical instant measured in simulated seconds
(`SimTime`), and real waits are those seconds times `time_scale`. Durations Twilio reports (`CallDuration`,
`duration`) are differences of logical instants, so a 61-second call reports exactly 61 whatever the scale.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from kizuna.clock import Clock
from kizuna.local.sandbox_twilio_model import API_PREFIX, API_VERSION, TwilioApiError, rfc2822

TERMINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# Twilio's statusCallbackEvent names → the CallStatus values each one reports.
EVENT_STATUSES: dict[str, frozenset[str]] = {
    "initiated": frozenset({"initiated"}),
    "ringing": frozenset({"ringing"}),
    "answered": frozenset({"in-progress"}),
    "completed": TERMINAL_CALL_STATUSES,
}


class SimTime:
    """Simulated seconds since the sandbox started, anchored to the clock port for timestamps.

    Scheduled steps carry their logical instant; running one re-anchors the mapping to it, so durations between
    steps are exact and only requests from outside (an update, a new call) read the real-time estimate."""

    def __init__(self, clock: Clock, time_scale: float) -> None:
        self.epoch = clock.now()
        self._lock = threading.Lock()
        self._scale = time_scale
        self._anchor_s = 0.0
        self._anchor_real = time.monotonic()

    @property
    def scale(self) -> float:
        return self._scale

    @scale.setter
    def scale(self, value: float) -> None:
        if value <= 0:
            raise ValueError("time_scale must be positive")
        with self._lock:
            now = self._now_locked()
            self._scale, self._anchor_s, self._anchor_real = value, now, time.monotonic()

    def now(self) -> float:
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> float:
        return self._anchor_s + (time.monotonic() - self._anchor_real) / self._scale

    def reached(self, at_s: float) -> None:
        with self._lock:
            self._anchor_s, self._anchor_real = max(at_s, self._anchor_s), time.monotonic()

    def real_delay(self, at_s: float) -> float:
        return max(0.0, (at_s - self.now()) * self._scale)

    def moment(self, at_s: float) -> datetime:
        return self.epoch + timedelta(seconds=at_s)


@dataclass
class SandboxCall:
    sid: str
    account_sid: str
    to: str
    from_: str
    direction: str  # "inbound", "outbound-api" or "outbound-dial"
    status: str
    created_s: float
    date_created: datetime
    parent_call_sid: str | None = None
    status_callback: str | None = None
    status_callback_events: frozenset[str] = frozenset({"completed"})
    time_limit_s: float | None = None
    answered_s: float | None = None
    ended_s: float | None = None
    duration: int = 0
    start_time: datetime | None = None
    end_time: datetime | None = None
    date_updated: datetime | None = None
    sequence: int = 0
    history: list[str] = field(default_factory=list)
    said: list[tuple[str, str | None]] = field(default_factory=list)  # (text, language) of every <Say>
    callbacks: list[dict[str, str]] = field(default_factory=list)  # every status callback's parameters, in order
    updates: list[dict[str, str]] = field(default_factory=list)  # every update request's form
    errors: list[str] = field(default_factory=list)  # TwiML fetch/parse problems, as Twilio's debugger would say
    digits: deque[str] = field(default_factory=deque)  # keypresses answering successive <Gather>s

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_CALL_STATUSES

    @property
    def uri(self) -> str:
        return f"{API_PREFIX}/{self.account_sid}/Calls/{self.sid}.json"

    def to_json(self) -> dict[str, Any]:
        base = self.uri.removesuffix(".json")
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.date_created),
            "date_updated": rfc2822(self.date_updated or self.date_created),
            "direction": self.direction,
            "duration": str(self.duration) if self.terminal else None,
            "end_time": rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": self.parent_call_sid,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {
                name: f"{base}/{name.title().replace('_', '')}.json"
                for name in ("notifications", "recordings", "events", "payments")
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": self.uri,
        }

    def request_params(self, status: str | None = None) -> dict[str, str]:
        """What Twilio sends with every request about this call (voice URL, actions, status callbacks)."""
        params = {
            "CallSid": self.sid,
            "AccountSid": self.account_sid,
            "From": self.from_,
            "To": self.to,
            "Caller": self.from_,
            "Called": self.to,
            "CallStatus": status or self.status,
            "Direction": self.direction,
            "ApiVersion": API_VERSION,
        }
        if self.parent_call_sid:
            params["ParentCallSid"] = self.parent_call_sid
        return params


@dataclass
class NumberConfig:
    """An incoming phone number's voice configuration, as set in Twilio's console or IncomingPhoneNumbers."""

    voice_url: str | None = None
    status_callback: str | None = None


def callback_params(call: SandboxCall, status: str, at: datetime) -> dict[str, str]:
    params = call.request_params(status)
    params.update(
        {
            "Timestamp": rfc2822(at) or "",
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(call.sequence),
        }
    )
    if status in TERMINAL_CALL_STATUSES:
        params["CallDuration"] = str(call.duration)
    return params


def list_calls_page(calls: list[SandboxCall], args: Any, account_sid: str) -> dict[str, Any]:
    """One page of Calls.json: To / From / ParentCallSid / Status filters, newest first, Twilio's paging fields."""
    try:
        page_size = min(max(int(args.get("PageSize", 50)), 1), 1000)
        page = max(int(args.get("Page", 0)), 0)
    except ValueError as e:
        raise TwilioApiError(400, 20001, "Invalid paging parameter") from e
    filters = {"To": "to", "From": "from_", "ParentCallSid": "parent_call_sid", "Status": "status"}
    found = [
        c
        for c in calls
        if c.account_sid == account_sid and all(getattr(c, a) == args[k] for k, a in filters.items() if k in args)
    ]
    found.sort(key=lambda c: c.created_s, reverse=True)
    chunk = [c.to_json() for c in found[page * page_size : (page + 1) * page_size]]
    base = f"{API_PREFIX}/{account_sid}/Calls.json"
    keep = [(k, v) for k, v in args.items() if k not in ("Page", "PageSize", "PageToken")]

    def page_uri(n: int) -> str:
        return f"{base}?{urlencode(keep + [('PageSize', page_size), ('Page', n)])}"

    has_next = (page + 1) * page_size < len(found)
    return {
        "calls": chunk,
        "start": page * page_size,
        "end": page * page_size + max(len(chunk) - 1, 0),
        "page": page,
        "page_size": page_size,
        "uri": page_uri(page),
        "first_page_uri": page_uri(0),
        "next_page_uri": f"{page_uri(page + 1)}&PageToken=PACA{page + 1}" if has_next else None,
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
    }
