"""Per-endpoint activity: sessions and cohort retention, counted exactly from one small state item per endpoint.

Definitions (docs/analytics.md repeats them):
- A session is a `_session.start` event, except one that starts at most SESSION_GAP_MS after a `_session.stop` of
  the same endpoint: that is the same session resuming (the app went to the background briefly). Events may arrive
  out of order; a stop that arrives after the start it precedes takes that start's count back.
- An endpoint is new on the first UTC day it reported an app event in the 90-day window (its cohort day).
- N-day retention of cohort day D: of the endpoints new on D, the share active again on day D+N (N = 7, 14, 30).

The state keeps the first day, the active days up to first+30 (all retention needs), and the last few session
starts and stops; every change yields counter deltas (measure, day, ±1) that the aggregator adds to the app's day
totals. Recomputing a cohort's contribution before and after each event keeps the counts exact even when an
earlier event arrives late and moves the endpoint to an earlier cohort.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from kizuna.domain.analytics_events import DAY_MS, AnalyticsEvent
from kizuna.domain.analytics_rules import RETENTION_DAYS

SESSION_GAP_MS = 5_000
RECENT = 16  # session starts and stops remembered, enough for any plausible reordering within a batch
_EPOCH = date(1970, 1, 1)
RETENTION_HORIZON = max(RETENTION_DAYS)

Delta = tuple[str, date, float]  # (measure, day, amount)


def day_number(timestamp_ms: int) -> int:
    return timestamp_ms // DAY_MS


def day_of_number(number: int) -> date:
    return _EPOCH + timedelta(days=number)


@dataclass
class EndpointActivity:
    first_day: int | None = None
    active_days: list[int] = field(default_factory=list)  # sorted, within [first_day, first_day + 30]
    starts: list[list[Any]] = field(default_factory=list)  # [timestamp_ms, counted] sorted by time
    stops: list[int] = field(default_factory=list)  # sorted
    last_active_day: int | None = None

    def apply(self, event: AnalyticsEvent) -> list[Delta]:
        """Fold one app event in; returns the counter deltas it causes."""
        deltas = self._activity(day_number(event.timestamp_ms))
        if event.event_type == "_session.start":
            deltas += self._start(event.session_start_ms or event.timestamp_ms)
        elif event.event_type == "_session.stop":
            deltas += self._stop(event.session_stop_ms or event.timestamp_ms)
        return deltas

    # -- cohorts and retention --------------------------------------------------------------------------------

    def _activity(self, day: int) -> list[Delta]:
        self.last_active_day = max(day, self.last_active_day if self.last_active_day is not None else day)
        before = self._contribution()
        if self.first_day is None or day < self.first_day:
            self.first_day = day
        if day not in self.active_days:
            self.active_days.append(day)
            self.active_days.sort()
        horizon = self.first_day + RETENTION_HORIZON
        self.active_days = [d for d in self.active_days if d <= horizon]
        after = self._contribution()
        return _difference(before, after)

    def _contribution(self) -> dict[tuple[str, int], float]:
        if self.first_day is None:
            return {}
        counts = {("endpoints.new", self.first_day): 1.0}
        active = set(self.active_days)
        for n in RETENTION_DAYS:
            if self.first_day + n in active:
                counts[(f"endpoints.retained.{n}", self.first_day)] = 1.0
        return counts

    # -- sessions ---------------------------------------------------------------------------------------------

    def _start(self, at: int) -> list[Delta]:
        resumes = any(0 <= at - stop <= SESSION_GAP_MS for stop in self.stops)
        self.starts.append([at, not resumes])
        self.starts.sort(key=lambda s: s[0])
        self.starts = self.starts[-RECENT:]
        return [] if resumes else [("sessions", _day(at), 1.0)]

    def _stop(self, at: int) -> list[Delta]:
        self.stops.append(at)
        self.stops.sort()
        self.stops = self.stops[-RECENT:]
        deltas: list[Delta] = []
        for start in self.starts:
            if start[1] and 0 < start[0] - at <= SESSION_GAP_MS:
                start[1] = False  # counted as new before this earlier stop arrived: it resumes a session
                deltas.append(("sessions", _day(start[0]), -1.0))
        return deltas

    # -- storage ----------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "first": self.first_day,
            "days": list(self.active_days),
            "starts": [[int(s[0]), bool(s[1])] for s in self.starts],
            "stops": list(self.stops),
            "last": self.last_active_day,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EndpointActivity:
        if not data:
            return cls()
        return cls(
            first_day=int(data["first"]) if data.get("first") is not None else None,
            active_days=[int(d) for d in data.get("days", [])],
            starts=[[int(s[0]), bool(s[1])] for s in data.get("starts", [])],
            stops=[int(s) for s in data.get("stops", [])],
            last_active_day=int(data["last"]) if data.get("last") is not None else None,
        )


def _day(timestamp_ms: int) -> date:
    return day_of_number(day_number(timestamp_ms))


def _difference(before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]) -> list[Delta]:
    deltas: list[Delta] = []
    for key in sorted(set(before) | set(after)):
        change = after.get(key, 0.0) - before.get(key, 0.0)
        if change:
            deltas.append((key[0], day_of_number(key[1]), change))
    return deltas
