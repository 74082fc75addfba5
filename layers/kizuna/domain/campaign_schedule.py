"""A campaign's Schedule (Pinpoint's `Schedule` shape): when its runs happen, in which zone, and for whom.

Parsing rules:
- StartTime is required: "IMMEDIATE" (the parse's `now`) or ISO 8601. A StartTime without an offset is a wall-clock
  time in Timezone; one with an offset is converted to its wall clock there. Times are kept to whole seconds.
- A new schedule may not start more than 15 minutes in the past (Pinpoint rejects it); `allow_past` re-parses a
  stored one. EndTime is optional, even for recurring campaigns, and must be after StartTime.
- Frequency defaults to ONCE. IN_APP_EVENT is refused (Kizuna has no in-app channel); EVENT needs an EventFilter
  object, whose contents are validated elsewhere.
- Timezone is Pinpoint's fixed offset ("UTC", "UTC+09", "UTC-03:30": no daylight saving) or an IANA name
  ("America/New_York": follows daylight saving). Missing means UTC.

Runs are named by a run key: their nominal wall clock in the schedule's zone, "2026-01-05T09:00:00", which sorts in
run order. Recurrence follows that wall clock: DAILY keeps 09:00 local across DST changes, WEEKLY keeps the weekday,
MONTHLY keeps the start's day of month clamped to each month's last day (31 Jan, 28 Feb, 31 Mar). HOURLY is every
60 minutes of absolute time from the start. A wall clock skipped by a DST jump happens shifted forward by the jump
(02:30 on a spring-forward day is 03:30), as zoneinfo's fold=0 gives; a repeated wall clock (fall back) happens once,
at its first occurrence, so an HOURLY run that lands on the second occurrence is skipped. A run at or after EndTime
does not happen.

IsLocalTime (Pinpoint's "deliver at the recipient's local time") delivers each run at its wall clock in each
recipient's own zone, in waves. A recipient without a zone, or with one we cannot read, gets the schedule's Timezone:
callers pass `schedule.timezone` for them. EndTime is compared with the run's instant in the schedule's zone.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kizuna.errors import BadRequest

FREQUENCIES = ("ONCE", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "EVENT", "IN_APP_EVENT")
IMMEDIATE = "IMMEDIATE"
PAST_TOLERANCE = timedelta(minutes=15)
# No zone on Earth is ahead of UTC+14 (Pacific/Kiritimati), so a run's wall clock happens there first.
EARLIEST_ZONE = timezone(timedelta(hours=14))

_FIXED = re.compile(r"UTC(?:([+-])(\d{1,2})(?::(\d{2}))?)?")
_HHMM = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class CampaignSchedule:
    frequency: str
    start: datetime  # UTC instant of the first run
    start_wall: datetime  # naive: the first run's nominal wall clock in `zone`, which recurrences keep
    end: datetime | None  # UTC; runs at or after it do not happen
    timezone: str  # as given (or "UTC"); what recipients without a zone are delivered in
    zone: tzinfo
    is_immediate: bool = False
    is_local_time: bool = False
    quiet_start: str | None = None
    quiet_end: str | None = None
    event_filter: dict[str, Any] | None = dataclass_field(default=None, hash=False)


def resolve_zone(name: str | None, field_name: str = "Schedule.Timezone") -> tzinfo:
    """Pinpoint's fixed offsets ("UTC+05:30") as fixed offsets, anything else as an IANA name."""
    if name is not None and not isinstance(name, str):
        raise BadRequest(f"{field_name} must be a string")
    if not name:
        return UTC
    fixed = _FIXED.fullmatch(name)
    if fixed:
        sign, hours, minutes = fixed.groups()
        offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
        if offset > timedelta(hours=14) or int(minutes or 0) >= 60:
            raise BadRequest(f"{field_name} is not a valid UTC offset: {name}")
        return timezone(-offset if sign == "-" else offset) if offset else UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(
            f"{field_name} must be UTC, UTC+HH[:MM], UTC-HH[:MM] or an IANA time zone name, got {name!r}"
        ) from None


def _instant(wall: datetime, tz: tzinfo) -> datetime:
    # fold=0: a skipped wall clock is read with the offset before the jump (so lands after it), a repeated one is
    # its first occurrence. The UTC round trip normalises it.
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _wall(moment: datetime, tz: tzinfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None, microsecond=0)


def _key(wall: datetime) -> str:
    return wall.isoformat(timespec="seconds")


def _time(doc: dict[str, Any], name: str, field_name: str, tz: tzinfo) -> tuple[datetime, datetime] | None:
    """(UTC instant, nominal wall clock) of an ISO 8601 member, or None when absent."""
    value = doc.get(name)
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(value).replace(microsecond=0)
    except (TypeError, ValueError):
        raise BadRequest(f"{field_name}.{name} must be ISO 8601 (e.g. 2026-01-05T09:00:00Z), got {value!r}") from None
    wall = parsed if parsed.tzinfo is None else _wall(parsed, tz)
    return _instant(wall, tz), wall


def parse_schedule(
    doc: dict[str, Any], now: datetime, field: str = "Schedule", allow_past: bool = False
) -> CampaignSchedule:
    """Validate a Schedule document at `now` (aware); messages name the member under `field`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(doc, dict):
        raise BadRequest(f"{field} must be an object")
    frequency = doc.get("Frequency") or "ONCE"
    if frequency not in FREQUENCIES:
        raise BadRequest(f"{field}.Frequency must be one of {', '.join(FREQUENCIES)}, got {frequency!r}")
    if frequency == "IN_APP_EVENT":
        raise BadRequest(f"{field}.Frequency IN_APP_EVENT is not supported: Kizuna has no in-app channel")
    tz_name = doc.get("Timezone") or "UTC"
    tz = resolve_zone(tz_name, f"{field}.Timezone")
    is_local = doc.get("IsLocalTime", False)
    if not isinstance(is_local, bool):
        raise BadRequest(f"{field}.IsLocalTime must be a boolean")

    immediate = doc.get("StartTime") == IMMEDIATE
    if immediate:
        start_wall = _wall(now, tz)
        start = _instant(start_wall, tz)
    else:
        parsed = _time(doc, "StartTime", field, tz)
        if parsed is None:
            raise BadRequest(f"{field}.StartTime is required ({IMMEDIATE} or ISO 8601)")
        start, start_wall = parsed
        # Pinpoint refuses past starts; the tolerance absorbs clock skew and the time a request takes to compose.
        if not allow_past and start < now - PAST_TOLERANCE:
            raise BadRequest(f"{field}.StartTime must not be more than 15 minutes in the past")
    end_parsed = _time(doc, "EndTime", field, tz)
    end = end_parsed[0] if end_parsed else None
    if end is not None and end <= start:
        raise BadRequest(f"{field}.EndTime must be after {field}.StartTime")

    quiet = doc.get("QuietTime") or {}
    if not isinstance(quiet, dict):
        raise BadRequest(f"{field}.QuietTime must be an object")
    quiet_start, quiet_end = quiet.get("Start") or None, quiet.get("End") or None
    for name, value in (("Start", quiet_start), ("End", quiet_end)):  # both or neither: half a window means nothing
        if (quiet_start or quiet_end) and not (isinstance(value, str) and _HHMM.fullmatch(value)):
            raise BadRequest(f"{field}.QuietTime.{name} must be HH:MM (00:00 to 23:59), got {value!r}")

    event_filter = doc.get("EventFilter")
    if event_filter is not None and not isinstance(event_filter, dict):
        raise BadRequest(f"{field}.EventFilter must be an object")
    if frequency == "EVENT" and event_filter is None:
        raise BadRequest(f"{field}.EventFilter is required when {field}.Frequency is EVENT")

    return CampaignSchedule(
        frequency=frequency,
        start=start,
        start_wall=start_wall,
        end=end,
        timezone=tz_name,
        zone=tz,
        is_immediate=immediate,
        is_local_time=is_local,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        event_filter=event_filter,
    )


def _nth_wall(schedule: CampaignSchedule, n: int) -> datetime:
    """The nominal wall clock of run n (n >= 0) of a DAILY, WEEKLY or MONTHLY schedule."""
    wall = schedule.start_wall
    if schedule.frequency == "DAILY":
        return wall + timedelta(days=n)
    if schedule.frequency == "WEEKLY":
        return wall + timedelta(weeks=n)
    months = wall.year * 12 + wall.month - 1 + n
    year, month = divmod(months, 12)
    # Clamp per month from the start's day, never from the previous run's, so 31 Jan -> 28 Feb -> 31 Mar.
    day = min(wall.day, calendar.monthrange(year, month + 1)[1])
    return wall.replace(year=year, month=month + 1, day=day)


def _first_index(schedule: CampaignSchedule, day: date) -> int:
    """A run index no later than the first run on `day`, found arithmetically so far-future look-ups stay O(1)."""
    start = schedule.start_wall.date()
    if schedule.frequency == "DAILY":
        return max(0, (day - start).days)
    if schedule.frequency == "WEEKLY":
        return max(0, (day - start).days // 7)
    return max(0, (day.year - start.year) * 12 + day.month - start.month)


def _next_run(schedule: CampaignSchedule, after: datetime | None) -> tuple[str, datetime] | None:
    if schedule.frequency == "EVENT":
        return None
    if after is None or schedule.start > after:
        return _key(schedule.start_wall), schedule.start
    if schedule.frequency == "ONCE":
        return None
    if schedule.frequency == "HOURLY":
        n = (after - schedule.start) // _HOUR + 1
        while True:
            moment = schedule.start + n * _HOUR
            wall = _wall(moment, schedule.zone)
            if _instant(wall, schedule.zone) == moment:  # else the second occurrence of a repeated wall clock
                return _key(wall), moment
            n += 1
    # Two days' margin below after's local date covers DST shifts of a run's wall clock across midnight.
    n = _first_index(schedule, after.astimezone(schedule.zone).date() - timedelta(days=2))
    while True:
        wall = _nth_wall(schedule, n)
        moment = _instant(wall, schedule.zone)
        if moment > after:
            return _key(wall), moment
        n += 1


def run_key_after(schedule: CampaignSchedule, after: datetime | None = None) -> str | None:
    """The first run strictly after `after` (None: the first run of all), or None if there is none."""
    found = _next_run(schedule, after)
    if found is None or (schedule.end is not None and found[1] >= schedule.end):
        return None
    return found[0]


def _recipient_zone(schedule: CampaignSchedule, name: str | None) -> tzinfo:
    try:
        return resolve_zone(name) if name else schedule.zone
    except BadRequest:
        return schedule.zone  # an endpoint's unreadable zone is treated like a missing one


def run_instant(schedule: CampaignSchedule, run_key: str, zone: str | None = None) -> datetime:
    """When a run happens (UTC): in the schedule's zone, or for IsLocalTime in the recipient's `zone`."""
    tz = _recipient_zone(schedule, zone) if schedule.is_local_time else schedule.zone
    return _instant(datetime.fromisoformat(run_key), tz)


def local_time_waves(
    schedule: CampaignSchedule, run_key: str, zones: Iterable[str]
) -> list[tuple[datetime, frozenset[str]]]:
    """Recipient zone names grouped by the instant the run happens for them, earliest first."""
    waves: dict[datetime, set[str]] = {}
    for name in zones:
        waves.setdefault(run_instant(schedule, run_key, name), set()).add(name)
    return sorted(((moment, frozenset(names)) for moment, names in waves.items()), key=lambda wave: wave[0])


def earliest_wave_instant(schedule: CampaignSchedule, run_key: str) -> datetime:
    """The first instant any recipient can be due for this run, so a planner can start in time."""
    if not schedule.is_local_time:
        return run_instant(schedule, run_key)
    return _instant(datetime.fromisoformat(run_key), EARLIEST_ZONE)
