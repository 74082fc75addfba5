"""What the consultation services need, built by wiring.consultation_deps (real adapters) or by tests (fakes).

Providers are built on first use: the voice webhook answers most requests from DynamoDB alone, so it pays for the
stripe SDK (and the Stripe secret) only when a call is settled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kizuna.clock import Clock
from kizuna.ports import AppStore, EventSink
from kizuna.ports_consultations import CallControl, CallTimers, ConsultationStore, Payments


def _missing(name: str) -> Callable[[], Any]:
    def fail() -> Any:
        raise RuntimeError(f"this function has no {name} configured")

    return fail


@dataclass
class ConsultationDeps:
    store: ConsultationStore
    events: EventSink
    clock: Clock
    payments_factory: Callable[[], Payments] = field(default_factory=lambda: _missing("payment provider"))
    calls_factory: Callable[[], CallControl] = field(default_factory=lambda: _missing("call control"))
    timers: CallTimers | None = None
    apps: AppStore | None = None
    default_twilio_number: Callable[[], str | None] = lambda: None
    _payments: Payments | None = field(default=None, init=False, repr=False)
    _calls: CallControl | None = field(default=None, init=False, repr=False)

    @property
    def payments(self) -> Payments:
        if self._payments is None:
            self._payments = self.payments_factory()
        return self._payments

    @property
    def calls(self) -> CallControl:
        if self._calls is None:
            self._calls = self.calls_factory()
        return self._calls
