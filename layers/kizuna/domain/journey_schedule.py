"""When a journey is open to a participant: its `Schedule` {StartTime, EndTime, Timezone}, and with `LocalTime: true`
(Pinpoint's "use recipient's local time") the same schedule read on each participant's own wall clock.

- Without LocalTime, StartTime and EndTime are instants (a timestamp without an offset is UTC, as the review reads
  it): the journey opens and closes at the same moment for everyone.
- With LocalTime, they are wall clocks: a timestamp with an offset (boto3 always sends one, in UTC) is first read in
  `Schedule.Timezone` (Pinpoint's "starting UTC offset", UTC when absent), one without is that wall clock as
  written. So `StartTime: 2026-12-05T00:00:00Z` with `Timezone: UTC+09` is 09:00 on 5 December, which reaches
  participants in Tokyo at 09:00 JST and those in New York at 09:00 EST, fourteen hours later. A participant's zone
  is chosen by the caller (kizuna.services.journey_sends.recipient_zone: Demographic.Timezone, else its phone
  number's, else `Schedule.Timezone`).

Wall clocks follow daylight saving: a skipped wall clock lands just after the jump and a repeated one is its first
occurrence (as campaign schedules read them). No zone is ahead of UTC+14 or behind UTC-12, so the journey opens for
someone at `first_start` (the start wall clock at UTC+14) and has closed for everyone at `last_end` (the end wall
clock at UTC-12): the run's first wake-up and its end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from kizuna.domain.campaign_schedule import resolve_zone
from kizuna.errors import KizunaError

EARLIEST_ZONE = timezone(timedelta(hours=14))  # Pacific/Kiritimati
LATEST_ZONE = timezone(timedelta(hours=-12))  # Etc/GMT+12


@dataclass(frozen=True)
class JourneyWindow:
    """A journey's schedule. `start`/`end` are aware instants, or naive wall clocks when `local`."""

    start: datetime | None
    end: datetime | None
    local: bool
    zone: tzinfo  # Schedule.Timezone: the wall clocks' zone, and the zone of participants without one

    def start_for(self, tz: tzinfo) -> datetime | None:
        """When the journey opens for a participant in `tz` (UTC; None: it has no start time)."""
        return self._at(self.start, tz)

    def end_for(self, tz: tzinfo) -> datetime | None:
        """When the journey closes for a participant in `tz` (UTC; None: it has no end time)."""
        return self._at(self.end, tz)

    @property
    def first_start(self) -> datetime | None:
        """The earliest instant the journey opens for anyone."""
        return self._at(self.start, EARLIEST_ZONE)

    @property
    def last_end(self) -> datetime | None:
        """The instant the journey has closed for everyone."""
        return self._at(self.end, LATEST_ZONE)

    def ended_for(self, tz: tzinfo, now: datetime) -> bool:
        end = self.end_for(tz)
        return end is not None and now >= end

    def _at(self, moment: datetime | None, tz: tzinfo) -> datetime | None:
        if moment is None:
            return None
        if not self.local:
            return moment
        # fold=0: a skipped wall clock is read with the offset before the jump (so it lands after it), a repeated
        # one is its first occurrence; the UTC round trip normalises it.
        return moment.replace(tzinfo=tz, fold=0).astimezone(UTC)


def window_of(journey: Mapping[str, Any]) -> JourneyWindow:
    """The journey's schedule (a published journey passed the review, so its values are readable; an unreadable
    one is left out rather than stopping the engine)."""
    schedule = journey.get("Schedule") or {}
    local = journey.get("LocalTime") is True
    try:
        zone = resolve_zone(schedule.get("Timezone"))
    except KizunaError:
        zone = UTC
    return JourneyWindow(
        _moment(schedule.get("StartTime"), local, zone), _moment(schedule.get("EndTime"), local, zone), local, zone
    )


def _moment(value: Any, local: bool, zone: tzinfo) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if local:
        return moment.astimezone(zone).replace(tzinfo=None) if moment.tzinfo else moment
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
