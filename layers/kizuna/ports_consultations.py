"""Ports for billed consultations: their store, the payment provider (Stripe), call control (Twilio) and call
timers. Adapters: adapters/dynamo_consultations.py, adapters/stripe_payments.py, adapters/twilio_calls.py,
adapters/sqs_call_timers.py; in-memory fakes in adapters/memory_consultations.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from kizuna.domain.consultations import Consultation


@dataclass(frozen=True)
class RevenueDelta:
    """Added to the app's daily revenue aggregate in the same transaction as the settlement that earned it."""

    day: date
    currency: str
    amount: int


class ConsultationStore(Protocol):
    def create(self, consultation: Consultation) -> bool:
        """Write a new record; False if one with that id exists."""
        ...

    def get(self, app_id: str, consultation_id: str) -> Consultation | None: ...

    def save(self, consultation: Consultation, revenue: RevenueDelta | None = None) -> bool:
        """Write `consultation` if the stored version is `consultation.version - 1` (False: someone else won),
        atomically with `revenue` when given."""
        ...

    def list(self, app_id: str, limit: int, token: str | None) -> tuple[list[Consultation], str | None]: ...

    def find_by_caller(self, twilio_number: str, caller: str, now: datetime) -> Consultation | None:
        """The callable consultation (BOOKED, hold in place) of this caller on this number whose window holds now."""
        ...

    def find_by_pin(self, twilio_number: str, pin: str, now: datetime) -> Consultation | None: ...

    def find_by_call(self, call_sid: str) -> Consultation | None:
        """The consultation whose caller's call this is."""
        ...

    def pin_in_use(self, twilio_number: str, pin: str, start: datetime, end: datetime) -> bool:
        """Whether a callable consultation on the number with this PIN has a window overlapping [start, end]."""
        ...

    def due(self, now: datetime, limit: int) -> list[Consultation]:
        """Records whose check_at has passed (the reconciler's work list)."""
        ...

    def record_call_event(self, app_id: str, consultation_id: str, params: dict[str, str], now: datetime) -> bool:
        """Store one status callback's parameters; False when this (CallSid, CallStatus) was stored before."""
        ...

    def call_log(self, app_id: str, consultation_id: str) -> list[dict[str, str]]: ...

    def provider_event_seen(self, provider: str, event_id: str) -> bool: ...

    def claim_provider_event(self, provider: str, event_id: str, now: datetime) -> bool:
        """First sight of a provider's event id (Stripe evt_...): True once, False for every replay."""
        ...

    def revenue(self, app_id: str, start: date, end: date) -> list[dict[str, Any]]:
        """Daily aggregates in [start, end]: {"day", "currency", "amount", "count"}."""
        ...


@dataclass(frozen=True)
class PaymentIntentState:
    id: str
    status: str  # Stripe's: requires_capture, succeeded, canceled, requires_payment_method, processing, ...
    amount: int
    amount_captured: int
    currency: str
    capture_before: datetime | None = None
    cancellation_reason: str | None = None


class PaymentDeclined(Exception):
    """The card refused the hold; `reason` is the card's message, safe to show to the caller."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


class PaymentUnavailable(Exception):
    """Stripe could not be reached or answered 5xx/429: the outcome is unknown, retry with the same key."""


class PaymentRefused(Exception):
    """Stripe refused the request as it stands (invalid state, bad parameters)."""


class Payments(Protocol):
    def place_hold(
        self,
        amount: int,
        currency: str,
        customer: str,
        payment_method: str,
        idempotency_key: str,
        metadata: dict[str, str],
        off_session: bool = False,
    ) -> PaymentIntentState: ...
    def capture(self, payment_intent_id: str, amount: int, idempotency_key: str) -> PaymentIntentState: ...
    def cancel(self, payment_intent_id: str, idempotency_key: str) -> PaymentIntentState: ...
    def retrieve(self, payment_intent_id: str) -> PaymentIntentState: ...


@dataclass(frozen=True)
class CallState:
    sid: str
    status: str
    duration: int | None
    parent_call_sid: str | None = None


class CallControl(Protocol):
    def redirect(self, call_sid: str, twiml: str) -> bool:
        """Give a live call new TwiML; False if the call has already ended."""
        ...

    def hang_up(self, call_sid: str) -> None: ...
    def fetch(self, call_sid: str) -> CallState: ...
    def children(self, parent_call_sid: str) -> Sequence[CallState]: ...


class CallTimers(Protocol):
    def schedule(
        self, app_id: str, consultation_id: str, timers: Sequence[tuple[str, datetime]], now: datetime
    ) -> None:
        """Wake the timer function for each (kind, due) — kind "warn" or "cut" — of the consultation at due."""
        ...
