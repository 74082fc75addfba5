"""Quiet time: the hours of a recipient's own day when promotional messages wait (Pinpoint's QuietTime).

QuietTime {Start, End} are "HH:MM" in the recipient's time zone; a window may cross midnight (22:00–08:00). The
recipient's zone is the endpoint's Demographic.Timezone, else the one its phone number implies, else the app's
fallback zone (UTC unless the caller passes one). Start == End means no quiet time.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    try:
        return ZoneInfo(name or fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


def quiet_until(now: datetime, start: str | None, end: str | None, tz: ZoneInfo) -> datetime | None:
    """When quiet time ends if `now` falls inside it (an aware datetime), else None."""
    if not start or not end or start == end:
        return None
    local = now.astimezone(tz)
    begin, finish = _hhmm(start), _hhmm(end)
    today = local.date()

    def at(day: datetime.date, moment: time) -> datetime:  # type: ignore[name-defined]
        # Wall-clock time in the zone; a moment skipped by a DST jump lands just after the jump.
        return datetime.combine(day, moment, tzinfo=tz)

    current = local.time()
    if begin < finish:  # same-day window, e.g. 12:00–14:00
        return at(today, finish) if begin <= current < finish else None
    # Window across midnight, e.g. 22:00–08:00
    if current >= begin:
        return at(today + timedelta(days=1), finish)
    if current < finish:
        return at(today, finish)
    return None
