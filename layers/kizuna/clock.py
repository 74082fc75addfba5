"""The clock port: every "now" in Kizuna comes from here, so schedules and journeys can be simulated."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware current instant (UTC)."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class VirtualClock:
    """A clock that only moves when told to; `sleep` advances it instead of blocking."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        with self._lock:
            self._now += step
            return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


class OffsetClock:
    """The system clock plus an offset that only grows: time runs as usual and `advance` jumps it forward. Local
    mode's journey engine can run on one (`LocalKizuna(journey_clock=...)`), so a demo fast-forwards a two-week
    journey in seconds while everything that must agree with the wall clock (request signatures, Twilio's and
    moto's timers) keeps it."""

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta | float) -> datetime:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta():
            raise ValueError("an OffsetClock only moves forward")
        with self._lock:
            self._offset += step
            return datetime.now(UTC) + self._offset

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def epoch_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def iso(moment: datetime) -> str:
    """Pinpoint's timestamp form: ISO 8601 with milliseconds and a Z suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
