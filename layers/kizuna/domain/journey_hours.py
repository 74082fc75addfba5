"""When a journey may message a participant: Pinpoint's journey QuietTime, and its "advanced quiet time" — OpenHours
and ClosedDays, per channel, switched on by `SendingSchedule: true` — all read in the participant's own time zone.

- `QuietTime` {Start, End} ("HH:MM", may cross midnight): no message inside it (kizuna.domain.quiet_time).
- `OpenHours` {SMS|EMAIL|VOICE|CUSTOM|WHATSAPP: {MONDAY..SUNDAY: [{StartTime, EndTime}]}}: a channel that has open
  hours sends only inside one of that weekday's rules (a day without rules is closed). A rule whose EndTime is not
  after its StartTime runs past midnight into the next day (FRIDAY 22:00–02:00 ends Saturday 02:00); EndTime
  "24:00" is the end of the day. WHATSAPP (Kizuna's channel) follows the SMS rules unless it has its own.
- `ClosedDays` {channel: [{Name, StartDateTime, EndDateTime}]}: no message from StartDateTime until EndDateTime. A
  timestamp with an offset (or Z) is that instant; one without is a wall clock in the participant's zone.

`next_send_time` is the first instant at or after `now` outside all of them (now itself when the message may go at
once). Wall clocks follow daylight saving: 09:00 in America/New_York is 14:00Z in January and 13:00Z in July; a wall
clock skipped by a spring-forward change lands just after the change (as campaign schedules and quiet time do).
Every instant is compared in UTC (two datetimes sharing a ZoneInfo would otherwise compare as wall clocks).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from kizuna.domain.quiet_time import quiet_until

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")  # date.weekday() order
CHANNELS = ("SMS", "EMAIL", "VOICE", "PUSH", "CUSTOM", "WHATSAPP")
HORIZON = timedelta(days=400)  # no open instant within this: the message is never sendable
MAX_STEPS = 2000
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)\Z")
DAY_MINUTES = 24 * 60
_NEVER = datetime.max.replace(tzinfo=UTC)

Rule = tuple[int, int]  # (start, end) in minutes after local midnight; end <= start runs into the next day


@dataclass(frozen=True)
class SendingWindow:
    """The restrictions on one channel of a journey (empty: the message may always go)."""

    quiet: tuple[str, str] | None = None
    open_hours: Mapping[int, tuple[Rule, ...]] | None = None  # weekday (0 = Monday) -> rules; None: no restriction
    closed: tuple[tuple[str, str], ...] = ()  # (StartDateTime, EndDateTime) as written

    @property
    def unrestricted(self) -> bool:
        return self.quiet is None and self.open_hours is None and not self.closed


def window_for(
    journey: Mapping[str, Any], channel: str, fallback_quiet: Mapping[str, Any] | None = None
) -> SendingWindow:
    """The journey's restrictions for messages on `channel`: its QuietTime (else `fallback_quiet`, the app's), and,
    when `SendingSchedule` is true, that channel's OpenHours and ClosedDays (WHATSAPP falls back to SMS's)."""
    quiet_doc = journey.get("QuietTime") or fallback_quiet or {}
    start, end = quiet_doc.get("Start"), quiet_doc.get("End")
    readable = parse_hhmm(start) is not None and parse_hhmm(end) is not None
    quiet = (start, end) if readable and start != end else None
    if journey.get("SendingSchedule") is not True:
        return SendingWindow(quiet)
    open_doc, closed_doc = journey.get("OpenHours") or {}, journey.get("ClosedDays") or {}
    open_rules = _channel(open_doc, channel)
    open_hours = None
    if open_rules is not None:
        open_hours = {
            DAYS.index(day): tuple(rule for r in rules or [] if (rule := _rule(r)) is not None)
            for day, rules in open_rules.items()
            if day in DAYS
        }
    # Malformed values (which the review refuses before activation) are left out rather than stopping the engine.
    closed = tuple(
        (r["StartDateTime"], r["EndDateTime"])
        for r in _channel(closed_doc, channel) or []
        if parse_moment(r.get("StartDateTime")) and parse_moment(r.get("EndDateTime"))
    )
    return SendingWindow(quiet, open_hours, closed)


def next_send_time(now: datetime, window: SendingWindow, tz: tzinfo) -> datetime | None:
    """The first instant at or after `now` (aware) when a message may go in zone `tz`, in UTC; None when there is
    none within HORIZON (e.g. open hours on no day at all)."""
    moment = now.astimezone(UTC)
    if window.unrestricted:
        return moment
    closed = [_closed_span(start, end, tz) for start, end in window.closed]
    limit = moment + HORIZON
    for _ in range(MAX_STEPS):
        if moment >= limit:
            return None
        later = _after_closed(moment, closed)
        if later is None and window.open_hours is not None:
            later = _next_open(moment, window.open_hours, tz)
            if later is _NEVER:
                return None
        if later is None and window.quiet is not None:
            ends = quiet_until(moment, window.quiet[0], window.quiet[1], tz)  # type: ignore[arg-type]
            if ends is not None and ends <= moment:  # in the repeated autumn hour: the second occurrence of the end
                ends = ends.replace(fold=1)
            later = ends.astimezone(UTC) if ends is not None and ends > moment else None
        if later is None:
            return moment
        moment = later  # type: ignore[assignment]
    return None


# -- reading the documents ----------------------------------------------------------------------------------------


def parse_hhmm(value: Any, allow_end_of_day: bool = False) -> int | None:
    """Minutes after midnight for "HH:MM" (00:00..23:59, and 24:00 when allowed); None when malformed."""
    if allow_end_of_day and value == "24:00":
        return DAY_MINUTES
    match = _HHMM.match(value) if isinstance(value, str) else None
    return int(match[1]) * 60 + int(match[2]) if match else None


def parse_moment(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (naive: a wall clock, aware: an instant); None when malformed."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def schedule_problems(journey: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(code, message naming the field) for every malformed QuietTime, OpenHours and ClosedDays value."""
    problems: list[tuple[str, str]] = []
    quiet = journey.get("QuietTime") or {}
    for name in ("Start", "End"):
        if quiet.get(name) is not None and parse_hhmm(quiet[name]) is None:
            problems.append(("BAD_QUIET_TIME", f"QuietTime.{name} must be 24-hour HH:MM; got {quiet[name]!r}"))
    if bool(quiet.get("Start")) != bool(quiet.get("End")):
        problems.append(("BAD_QUIET_TIME", "QuietTime needs both Start and End"))
    open_doc = journey.get("OpenHours") or {}
    for channel, days in open_doc.items():
        field = f"OpenHours.{channel}"
        if channel not in CHANNELS:
            problems.append(("BAD_OPEN_HOURS", f"{field}: not a channel ({', '.join(CHANNELS)})"))
            continue
        if not any(rules for rules in (days or {}).values()):
            problems.append(("BAD_OPEN_HOURS", f"{field} has no rules on any day: its messages could never go"))
        for day, rules in (days or {}).items():
            if day not in DAYS:
                problems.append(("BAD_OPEN_HOURS", f"{field}.{day}: not a day ({', '.join(DAYS)})"))
                continue
            for i, rule in enumerate(rules or []):
                problems += _rule_problems(rule or {}, f"{field}.{day}[{i}]")
    closed_doc = journey.get("ClosedDays") or {}
    for channel, rules in closed_doc.items():
        field = f"ClosedDays.{channel}"
        if channel not in CHANNELS:
            problems.append(("BAD_CLOSED_DAYS", f"{field}: not a channel ({', '.join(CHANNELS)})"))
            continue
        for i, rule in enumerate(rules or []):
            start, end = parse_moment((rule or {}).get("StartDateTime")), parse_moment((rule or {}).get("EndDateTime"))
            for name, parsed in (("StartDateTime", start), ("EndDateTime", end)):
                if parsed is None:
                    problems.append(("BAD_CLOSED_DAYS", f"{field}[{i}].{name} must be an ISO 8601 date and time "
                                     f"(2026-12-31T00:00:00); got {(rule or {}).get(name)!r}"))  # fmt: skip
            if start is not None and end is not None and _comparable(end, start) <= _comparable(start, end):
                problems.append(("BAD_CLOSED_DAYS", f"{field}[{i}].EndDateTime must be after its StartDateTime"))
    return problems


def _rule_problems(rule: Mapping[str, Any], field: str) -> list[tuple[str, str]]:
    start = parse_hhmm(rule.get("StartTime"))
    end = parse_hhmm(rule.get("EndTime"), allow_end_of_day=True)
    problems = []
    if start is None:
        problems.append(("BAD_OPEN_HOURS", f"{field}.StartTime must be 24-hour HH:MM; got {rule.get('StartTime')!r}"))
    if end is None:
        problems.append(("BAD_OPEN_HOURS", f"{field}.EndTime must be 24-hour HH:MM (or 24:00); got "
                         f"{rule.get('EndTime')!r}"))  # fmt: skip
    if start is not None and end is not None and start == end:
        problems.append(("BAD_OPEN_HOURS", f"{field}: StartTime and EndTime are the same ({rule.get('StartTime')})"))
    return problems


def _comparable(moment: datetime, other: datetime) -> datetime:
    """Compare a naive and an aware timestamp as wall clocks (the zone is the participant's, unknown here)."""
    return moment.replace(tzinfo=None) if (moment.tzinfo is None) != (other.tzinfo is None) else moment


def _channel(doc: Mapping[str, Any], channel: str) -> Any:
    if channel in doc:
        return doc[channel]
    return doc.get("SMS") if channel == "WHATSAPP" else None


def _rule(rule: Mapping[str, Any]) -> Rule | None:
    start, end = parse_hhmm(rule.get("StartTime")), parse_hhmm(rule.get("EndTime"), allow_end_of_day=True)
    return (start, end) if start is not None and end is not None and start != end else None


# -- the calendar -------------------------------------------------------------------------------------------------


def _wall(day: date, minutes: int, tz: tzinfo) -> datetime:
    """The UTC instant of wall clock `minutes` after midnight of `day` in `tz` (1440 is the next midnight)."""
    day = day + timedelta(days=minutes // DAY_MINUTES)
    minutes %= DAY_MINUTES
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=tz).astimezone(UTC)


def _next_open(moment: datetime, open_hours: Mapping[int, tuple[Rule, ...]], tz: tzinfo) -> datetime | None:
    """None when `moment` is inside open hours, else the start of the next open interval (_NEVER: there is none)."""
    today = moment.astimezone(tz).date()
    starts = []
    for offset in range(-1, 9):  # yesterday's rule may run past midnight; a week ahead covers every weekday
        day = today + timedelta(days=offset)
        for start, end in open_hours.get(day.weekday(), ()):
            begins = _wall(day, start, tz)
            ends = _wall(day, end if end > start else end + DAY_MINUTES, tz)
            if begins <= moment < ends:
                return None
            if begins > moment:
                starts.append(begins)
    return min(starts) if starts else _NEVER


def _closed_span(start: str, end: str, tz: tzinfo) -> tuple[datetime, datetime]:
    return _instant(start, tz), _instant(end, tz)


def _instant(value: str, tz: tzinfo) -> datetime:
    moment = parse_moment(value)
    assert moment is not None  # window_for keeps well-formed closed days only
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz, fold=0)
    return moment.astimezone(UTC)


def _after_closed(moment: datetime, closed: list[tuple[datetime, datetime]]) -> datetime | None:
    ends = [end for start, end in closed if start <= moment < end]
    return max(ends) if ends else None
