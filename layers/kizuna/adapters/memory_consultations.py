"""In-memory fakes of the consultation ports, for unit tests (no sockets).

`InMemoryPayments` behaves like Stripe where the services depend on it: a capture above the authorized amount,
a second capture, or a capture of a canceled intent is refused (PaymentRefused, as Stripe's 400); idempotency keys
are honoured only when `honour_idempotency_keys` (off by default, like localstripe). Faults are injectable.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from kizuna.domain.consultations import Consultation
from kizuna.ports_consultations import (
    CallState,
    PaymentDeclined,
    PaymentIntentState,
    PaymentRefused,
    PaymentUnavailable,
    RevenueDelta,
)


class InMemoryConsultationStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Consultation] = {}
        self.call_events: dict[tuple[str, str], dict[tuple[str, str], dict[str, str]]] = {}
        self.provider_events: set[tuple[str, str]] = set()
        self.revenue_rows: Counter[tuple[str, str, str]] = Counter()
        self.revenue_counts: Counter[tuple[str, str, str]] = Counter()
        self.fail_next_save = 0  # raise on the next N saves (a crash before the write)
        self._lock = threading.RLock()

    def create(self, consultation: Consultation) -> bool:
        with self._lock:
            key = (consultation.app_id, consultation.consultation_id)
            if key in self.items:
                return False
            self.items[key] = consultation
            return True

    def get(self, app_id: str, consultation_id: str) -> Consultation | None:
        with self._lock:
            return self.items.get((app_id, consultation_id))

    def save(self, consultation: Consultation, revenue: RevenueDelta | None = None) -> bool:
        with self._lock:
            if self.fail_next_save > 0:
                self.fail_next_save -= 1
                raise RuntimeError("injected crash before the write")
            key = (consultation.app_id, consultation.consultation_id)
            stored = self.items.get(key)
            if stored is None or stored.version != consultation.version - 1:
                return False
            self.items[key] = consultation
            if revenue is not None:
                row = (consultation.app_id, revenue.day.isoformat(), revenue.currency)
                self.revenue_rows[row] += revenue.amount
                self.revenue_counts[row] += 1
            return True

    def list(self, app_id: str, limit: int, token: str | None) -> tuple[list[Consultation], str | None]:
        with self._lock:
            found = sorted((c for (a, _), c in self.items.items() if a == app_id), key=lambda c: c.consultation_id)
        start = int(token) if token else 0
        page = found[start : start + limit]
        return page, str(start + limit) if start + limit < len(found) else None

    def _callable(self, match: Any, now: datetime) -> Consultation | None:
        with self._lock:
            found = [c for c in self.items.values() if c.callable and c.in_window(now) and match(c)]
        return max(found, key=lambda c: c.start_time) if found else None

    def find_by_caller(self, twilio_number: str, caller: str, now: datetime) -> Consultation | None:
        return self._callable(lambda c: c.twilio_number == twilio_number and c.client_phone == caller, now)

    def find_by_pin(self, twilio_number: str, pin: str, now: datetime) -> Consultation | None:
        return self._callable(lambda c: c.twilio_number == twilio_number and c.pin == pin, now)

    def find_by_call(self, call_sid: str) -> Consultation | None:
        with self._lock:
            return next((c for c in self.items.values() if c.call_sid == call_sid), None)

    def pin_in_use(self, twilio_number: str, pin: str, start: datetime, end: datetime) -> bool:
        with self._lock:
            return any(
                c.callable and c.twilio_number == twilio_number and c.pin == pin and c.start_time <= end
                and c.end_time >= start
                for c in self.items.values()
            )  # fmt: skip

    def due(self, now: datetime, limit: int) -> list[Consultation]:
        with self._lock:
            found = [c for c in self.items.values() if (at := c.check_at()) is not None and at <= now]
        return found[:limit]

    def record_call_event(self, app_id: str, consultation_id: str, params: dict[str, str], now: datetime) -> bool:
        with self._lock:
            log = self.call_events.setdefault((app_id, consultation_id), {})
            key = (params.get("CallSid", ""), params.get("CallStatus", ""))
            if key in log:
                return False
            log[key] = dict(params)
            return True

    def call_log(self, app_id: str, consultation_id: str) -> list[dict[str, str]]:
        with self._lock:
            return list(self.call_events.get((app_id, consultation_id), {}).values())

    def provider_event_seen(self, provider: str, event_id: str) -> bool:
        with self._lock:
            return (provider, event_id) in self.provider_events

    def claim_provider_event(self, provider: str, event_id: str, now: datetime) -> bool:
        with self._lock:
            if (provider, event_id) in self.provider_events:
                return False
            self.provider_events.add((provider, event_id))
            return True

    def revenue(self, app_id: str, start: date, end: date) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"day": day, "currency": currency, "amount": amount, "count": self.revenue_counts[(a, day, currency)]}
                for (a, day, currency), amount in self.revenue_rows.items()
                if a == app_id and start.isoformat() <= day <= end.isoformat()
            ]


@dataclass
class _Intent:
    state: PaymentIntentState
    captured: bool = False


@dataclass
class InMemoryPayments:
    clock: Any
    hold_days: int = 7
    honour_idempotency_keys: bool = False
    declined_methods: set[str] = field(default_factory=lambda: {"pm_card_chargeCustomerFail"})
    unavailable_next: int = 0  # the next N calls fail as if Stripe could not be reached
    crash_after_capture: int = 0  # the next N captures succeed at "Stripe", then raise before returning
    during_capture: Any = None  # called while a capture is in flight (another writer acting meanwhile)
    intents: dict[str, _Intent] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    captures: int = 0  # captures that Stripe performed
    _keys: dict[str, PaymentIntentState] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def _fault(self, kind: str) -> None:
        self.calls[kind] += 1
        if self.unavailable_next > 0:
            self.unavailable_next -= 1
            raise PaymentUnavailable("injected: Stripe unreachable")

    def place_hold(self, amount, currency, customer, payment_method, idempotency_key, metadata, off_session=False):  # noqa: ANN001, ANN201
        self._fault("create")
        if self.honour_idempotency_keys and idempotency_key in self._keys:
            return self._keys[idempotency_key]
        if payment_method in self.declined_methods:
            raise PaymentDeclined("card_declined", "Your card was declined.")
        intent_id = f"pi_fake{next(self._ids)}"
        state = PaymentIntentState(
            intent_id, "requires_capture", amount, 0, currency, self.clock.now() + timedelta(days=self.hold_days)
        )
        self.intents[intent_id] = _Intent(state)
        self._keys[idempotency_key] = state
        return state

    def capture(self, payment_intent_id: str, amount: int, idempotency_key: str) -> PaymentIntentState:
        self._fault("capture")
        if self.honour_idempotency_keys and idempotency_key in self._keys:
            return self._keys[idempotency_key]
        intent = self.intents[payment_intent_id]
        if intent.state.status != "requires_capture" or amount > intent.state.amount:
            raise PaymentRefused(f"cannot capture {amount} of a {intent.state.status} intent")
        intent.state = replace(intent.state, status="succeeded", amount_captured=amount)
        self.captures += 1
        if self.during_capture is not None:
            self.during_capture()
        self._keys[idempotency_key] = intent.state
        if self.crash_after_capture > 0:
            self.crash_after_capture -= 1
            raise RuntimeError("injected crash after the capture, before it was recorded")
        return intent.state

    def cancel(self, payment_intent_id: str, idempotency_key: str) -> PaymentIntentState:
        self._fault("cancel")
        intent = self.intents[payment_intent_id]
        if intent.state.status not in ("requires_capture", "requires_payment_method"):
            raise PaymentRefused(f"cannot cancel a {intent.state.status} intent")
        intent.state = replace(intent.state, status="canceled", cancellation_reason="requested_by_customer")
        return intent.state

    def retrieve(self, payment_intent_id: str) -> PaymentIntentState:
        self._fault("retrieve")
        return self.intents[payment_intent_id].state

    def expire(self, payment_intent_id: str) -> None:
        """What Stripe does when an authorization lapses: the intent is canceled, reason "automatic"."""
        intent = self.intents[payment_intent_id]
        intent.state = replace(intent.state, status="canceled", cancellation_reason="automatic")


@dataclass
class InMemoryCallControl:
    states: dict[str, CallState] = field(default_factory=dict)
    redirects: list[tuple[str, str]] = field(default_factory=list)
    hangups: list[str] = field(default_factory=list)

    def redirect(self, call_sid: str, twiml: str) -> bool:
        state = self.states.get(call_sid)
        if state is not None and state.status in ("completed", "busy", "no-answer", "failed", "canceled"):
            return False
        self.redirects.append((call_sid, twiml))
        return True

    def hang_up(self, call_sid: str) -> None:
        self.hangups.append(call_sid)

    def fetch(self, call_sid: str) -> CallState:
        return self.states[call_sid]

    def children(self, parent_call_sid: str) -> list[CallState]:
        return [s for s in self.states.values() if s.parent_call_sid == parent_call_sid]


@dataclass
class InMemoryCallTimers:
    scheduled: list[tuple[str, str, str, datetime]] = field(default_factory=list)

    def schedule(self, app_id: str, consultation_id: str, timers: list[tuple[str, datetime]], now: datetime) -> None:
        self.scheduled.extend((app_id, consultation_id, kind, due) for kind, due in timers)
