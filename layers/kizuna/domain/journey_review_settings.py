"""Review before publish, the journey-wide settings (kizuna.domain.journey_review runs these checks with the others):
the start condition, the schedule (with LocalTime, as each zone reads it), the sending limits, quiet time, open hours,
closed days and the schedule's time zone, and the recommendations about the journey as a whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from kizuna.domain.campaign_schedule import resolve_zone
from kizuna.domain.journey_activities import MAX_DURATION, activity_kind, parse_timestamp
from kizuna.domain.journey_entry import entry_findings
from kizuna.domain.journey_hours import schedule_problems
from kizuna.domain.journey_schedule import window_of
from kizuna.errors import KizunaError

if TYPE_CHECKING:  # journey_review runs these checks: a runtime import would be circular
    from kizuna.domain.journey_review import Catalog, Review

# Pinpoint's JourneyLimits ranges (DailyCap and TotalCap: 0 = no limit); MessagesPerSecond as the campaigns'.
LIMIT_RANGES = {"DailyCap": (0, 100), "TotalCap": (0, 100), "MessagesPerSecond": (1, 20_000)}
TIMEFRAME_RANGES = {"Cap": (0, 100), "Days": (0, 30)}  # JourneyTimeframeCap: 0 = no limit


def check_start_condition(journey: dict[str, Any], catalog: Catalog, review: Review) -> None:
    condition = journey.get("StartCondition") or {}
    segment = (condition.get("SegmentStartCondition") or {}).get("SegmentId")
    event = condition.get("EventStartCondition") or {}
    if not segment and not event:
        review.error("NO_START_CONDITION", "StartCondition names a segment (SegmentStartCondition) or an event "
                     "(EventStartCondition)")  # fmt: skip
    if segment and event:
        review.error("BAD_START_CONDITION", "StartCondition holds a segment or an event start, not both")
    for segment_id in (segment, event.get("SegmentId")):
        if segment_id and not catalog.segment_exists(segment_id):
            review.error("UNKNOWN_SEGMENT", f"StartCondition segment {segment_id!r} does not exist")
    if event and not ((event.get("EventFilter") or {}).get("Dimensions") or {}).get("EventType"):
        review.error("NO_EVENT_TYPE", "EventStartCondition.EventFilter.Dimensions.EventType names the event types")
    for code, message in entry_findings(journey):  # re-entry limits, segment refresh, the event filter
        review.error(code, message)


def check_schedule(journey: dict[str, Any], now: datetime, review: Review) -> None:
    schedule = journey.get("Schedule") or {}
    begin = parse_timestamp(schedule["StartTime"]) if schedule.get("StartTime") else now
    end = parse_timestamp(schedule["EndTime"]) if schedule.get("EndTime") else None
    if schedule.get("StartTime") and begin is None or schedule.get("EndTime") and end is None:
        review.error("BAD_SCHEDULE", "Schedule.StartTime and Schedule.EndTime are ISO 8601 timestamps")
        return
    window = window_of(journey)
    if window.local:  # wall clocks: compare them as the participants will read them
        begin, end = window.start or now.astimezone(window.zone).replace(tzinfo=None), window.end
    if end is not None and begin is not None:
        if end <= begin:
            review.error("BAD_SCHEDULE", "Schedule.EndTime is before its StartTime")
        elif end - begin > MAX_DURATION:
            review.error("TOO_LONG", "Schedule runs for more than 540 days")
        last_end = window.last_end  # with LocalTime, in the last zone to reach it
        if last_end is not None and last_end <= now:
            review.error("BAD_SCHEDULE", "Schedule.EndTime has passed" + (" in every time zone" if journey.get(
                "LocalTime") is True else ""))  # fmt: skip
    if journey.get("LocalTime") is True and not (schedule.get("StartTime") or schedule.get("EndTime")):
        review.recommend("LOCAL_TIME_WITHOUT_SCHEDULE", "LocalTime reads Schedule.StartTime and EndTime on each "
                         "participant's wall clock; this journey has neither, so it changes nothing")  # fmt: skip


def check_sending(journey: dict[str, Any], review: Review) -> None:
    """Limits, quiet time, open hours, closed days and the zone participants without one are read in."""
    limits = journey.get("Limits") or {}
    for name, (low, high) in LIMIT_RANGES.items():
        value = limits.get(name)
        if value is not None and not _whole(value, low, high):
            review.error("BAD_LIMITS", f"Limits.{name} must be a whole number from {low} to {high}; got {value!r}")
    timeframe = limits.get("TimeframeCap")
    if timeframe is not None and not isinstance(timeframe, dict):
        review.error("BAD_LIMITS", f"Limits.TimeframeCap is {{Cap, Days}}; got {timeframe!r}")
    elif timeframe:
        for name, (low, high) in TIMEFRAME_RANGES.items():
            value = timeframe.get(name)
            if value is not None and not _whole(value, low, high):
                review.error("BAD_LIMITS", f"Limits.TimeframeCap.{name} must be a whole number from {low} to {high}; "
                             f"got {value!r}")  # fmt: skip
        if bool(timeframe.get("Cap")) != bool(timeframe.get("Days")):
            review.recommend("TIMEFRAME_CAP_OFF", "Limits.TimeframeCap applies only with both Cap and Days above 0 "
                             "(at most Cap messages in any Days days); with either 0 or unset it is off")  # fmt: skip
    for code, message in schedule_problems(journey):
        review.error(code, message)
    try:
        resolve_zone((journey.get("Schedule") or {}).get("Timezone"))
    except KizunaError as exc:
        review.error("BAD_SCHEDULE", exc.message)
    advanced = [*(journey.get("OpenHours") or {}).values(), *(journey.get("ClosedDays") or {}).values()]
    if any(advanced) and journey.get("SendingSchedule") is not True:
        review.recommend("SENDING_SCHEDULE_OFF", "OpenHours and ClosedDays apply only with SendingSchedule: true; "
                         "without it they are ignored")  # fmt: skip


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def add_recommendations(journey: dict[str, Any], activities: dict[str, dict[str, Any]], review: Review) -> None:
    if not (journey.get("Schedule") or {}).get("EndTime"):
        review.recommend("NO_END_TIME", "Set Schedule.EndTime: without it the journey runs until it is stopped")
    quiet = journey.get("QuietTime") or {}
    if not (quiet.get("Start") and quiet.get("End")):
        review.recommend("NO_QUIET_TIME", "Set QuietTime so that no one is messaged at night")
    if not any(activity_kind(a) == "Holdout" for a in activities.values()):
        review.recommend("NO_HOLDOUT", "Add a Holdout activity to measure what the journey changes")
