"""A billed consultation: the booking, its call, and its payment, as one record with two state machines.

    status   BOOKED → CALLING → IN_CALL → COMPLETED            (the call; forward only)
             BOOKED → CANCELED | NO_SHOW;  CALLING → NO_ANSWER; CALLING → BOOKED (caller gave up while ringing)
    payment  HELD → SETTLING → CAPTURED | RELEASED              (the Stripe hold)
             HELD → HOLD_EXPIRED (alerted, never captured blindly);  SETTLING → FAILED (capture refused)

Every change is a new version of the record written with a condition on the version it was computed from, so of
two writers (a duplicate callback, the reconciler, a Stripe webhook) exactly one wins each step. Settlement is
claimed first (HELD → SETTLING with the amount fixed and a lease), then performed at Stripe, then recorded: a crash
in between leaves a SETTLING record whose lease runs out, and whoever takes it over reads the PaymentIntent before
acting again.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from kizuna.domain.consultation_money import RoundingRule, amount_for, minimum_charge


class Status(StrEnum):
    BOOKED = "BOOKED"
    CALLING = "CALLING"
    IN_CALL = "IN_CALL"
    COMPLETED = "COMPLETED"
    NO_ANSWER = "NO_ANSWER"
    CANCELED = "CANCELED"
    NO_SHOW = "NO_SHOW"


class Payment(StrEnum):
    HELD = "HELD"
    SETTLING = "SETTLING"
    CAPTURED = "CAPTURED"
    RELEASED = "RELEASED"
    FAILED = "FAILED"
    HOLD_EXPIRED = "HOLD_EXPIRED"


CALL_ENDED = frozenset({Status.COMPLETED, Status.NO_ANSWER, Status.CANCELED, Status.NO_SHOW})
PAYMENT_FINAL = frozenset({Payment.CAPTURED, Payment.RELEASED, Payment.FAILED, Payment.HOLD_EXPIRED})

# Twilio call statuses, forward only: a late "ringing" never overwrites "completed".
LEG_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}
LEG_FINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})

SETTLE_LEASE = timedelta(minutes=2)  # a settlement claimed longer ago than this is taken over by the reconciler
CALL_GRACE = timedelta(minutes=5)  # after the time limit, a call with no final callback is asked about
REAUTH_LEAD = timedelta(hours=24)  # a booking whose hold expires before its window ends is re-authorized this early
EXPIRY_MARGIN = timedelta(minutes=30)  # a hold this close to expiry is not relied upon for a capture later
WARNING_BEFORE_END_S = 60
PIN_DIGITS = 6


def leg_rank(status: str) -> int:
    return 4 if status in LEG_FINAL else LEG_RANK.get(status, -1)


@dataclass(frozen=True)
class Settlement:
    """What settling means for this consultation, fixed before Stripe is called (so a retry repeats it)."""

    action: str  # "capture" or "release"
    amount: int  # minor units to capture (0 for a release)
    reason: str  # "call", "late_cancellation", "no_show", "no_answer", "canceled", "nothing_owed", "under_minimum"


@dataclass(frozen=True)
class Consultation:
    app_id: str
    consultation_id: str
    client_phone: str
    expert_phone: str
    twilio_number: str
    language: str
    start_time: datetime
    end_time: datetime
    rate_per_minute: int
    currency: str
    rounding: RoundingRule
    max_minutes: int
    cancellation_fee: int
    cancellation_window_minutes: int
    pin: str
    stripe_customer: str
    stripe_payment_method: str
    created_at: datetime
    updated_at: datetime
    status: Status = Status.BOOKED
    payment: Payment = Payment.HELD
    payment_intent_id: str = ""
    hold_amount: int = 0
    hold_expires_at: datetime | None = None
    reauthorizations: int = 0
    version: int = 0
    call_sid: str | None = None
    dial_call_sid: str | None = None
    bridged_at: datetime | None = None
    time_limit_s: int | None = None
    warned: bool = False
    legs: dict[str, str] = field(default_factory=dict)  # CallSid → its latest status
    billed_seconds: int | None = None
    settlement: Settlement | None = None
    settle_lease_until: datetime | None = None
    settle_attempts: int = 0
    amount_captured: int | None = None
    status_reason: str | None = None

    # derived --------------------------------------------------------------------------------------------------
    @property
    def authorized_seconds(self) -> int:
        """Talk time the hold covers: whole minutes of the held amount, at most the booked maximum."""
        minutes = min(self.hold_amount // self.rate_per_minute, self.max_minutes) if self.rate_per_minute else 0
        return minutes * 60

    @property
    def callable(self) -> bool:
        return self.status is Status.BOOKED and self.payment is Payment.HELD

    def in_window(self, now: datetime) -> bool:
        return self.start_time <= now <= self.end_time

    def check_at(self) -> datetime | None:
        """When the reconciler should look at this record again; None once nothing is left to do."""
        if self.payment in PAYMENT_FINAL:
            return None
        if self.payment is Payment.SETTLING:
            return self.settle_lease_until or self.updated_at
        if self.status is Status.BOOKED:
            reauthorize_at = self.reauthorize_at()
            return min(self.end_time, reauthorize_at) if reauthorize_at else self.end_time
        if self.status in (Status.CALLING, Status.IN_CALL):
            started = self.bridged_at or self.updated_at
            return started + timedelta(seconds=self.time_limit_s or self.authorized_seconds) + CALL_GRACE
        return self.updated_at  # the call is over and nothing was claimed yet: settle at once

    def reauthorize_at(self) -> datetime | None:
        """When a new hold must replace this one: a day before it expires, if it would expire before a call at
        the end of the window could be captured. None when the hold covers the booking."""
        if self.hold_expires_at is None:
            return None
        latest_capture = self.end_time + timedelta(minutes=self.max_minutes) + EXPIRY_MARGIN
        return self.hold_expires_at - REAUTH_LEAD if self.hold_expires_at < latest_capture else None

    def with_changes(self, now: datetime, **changes: Any) -> Consultation:
        return replace(self, updated_at=now, version=self.version + 1, **changes)

    # settlement decisions (pure) ------------------------------------------------------------------------------
    def settlement_for_call(self, seconds: int) -> Settlement:
        billed = min(max(seconds, 0), self.authorized_seconds)
        amount = amount_for(billed, self.rate_per_minute, self.rounding, self.authorized_seconds // 60)
        return self._capture_or_release(min(amount, self.hold_amount), "call")

    def settlement_for_fee(self, reason: str) -> Settlement:
        return self._capture_or_release(min(self.cancellation_fee, self.hold_amount), reason)

    def _capture_or_release(self, amount: int, reason: str) -> Settlement:
        if amount <= 0:
            return Settlement("release", 0, "nothing_owed" if reason == "call" else reason)
        if amount < minimum_charge(self.currency):
            return Settlement("release", 0, "under_minimum")
        return Settlement("capture", amount, reason)

    def cancellation_is_late(self, now: datetime) -> bool:
        return now >= self.start_time - timedelta(minutes=self.cancellation_window_minutes)

    def hold_usable(self, now: datetime) -> bool:
        return self.hold_expires_at is None or now < self.hold_expires_at

    # storage form ---------------------------------------------------------------------------------------------
    def to_doc(self) -> str:
        data = asdict(self)
        for name, value in data.items():
            if isinstance(value, datetime):
                data[name] = value.isoformat()
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_doc(cls, doc: str) -> Consultation:
        data = json.loads(doc)
        for name in ("start_time", "end_time", "created_at", "updated_at", "hold_expires_at", "bridged_at",
                     "settle_lease_until"):  # fmt: skip
            if data.get(name):
                data[name] = datetime.fromisoformat(data[name])
        data["rounding"] = RoundingRule(data["rounding"])
        data["status"], data["payment"] = Status(data["status"]), Payment(data["payment"])
        if data.get("settlement"):
            data["settlement"] = Settlement(**data["settlement"])
        return cls(**data)


def new_pin() -> str:
    return f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"
