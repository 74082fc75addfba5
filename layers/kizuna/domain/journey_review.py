"""Review before publish: what stops a journey from being activated (errors) and what a careful marketer would change
(recommendations), each naming the activity it is about.

Pinpoint refused some of these at activation with one opaque message; Kizuna reports all of them at once, through
the `POST .../journeys/{id}/validate` extension and again when the journey is activated.

Errors: a missing or unknown start activity, next activities that do not exist, activities no path reaches, loops
that never wait (a participant would spin through them), more than 40 activities, a journey longer than 540 days
(its schedule, a wait, or the longest path of waits), message activities without a known template, unknown
segments, conditions on a message activity that is not one, malformed splits and holdouts, activity kinds
Kizuna does not run (PUSH, ContactCenter), malformed CUSTOM activities, limits, quiet time, open hours, closed days
and schedule time zone. Recommendations: no end time, no quiet time, no holdout, OpenHours or ClosedDays without
`SendingSchedule: true` (which they need to apply), LocalTime without a Schedule start or end, a TimeframeCap
missing its Cap or Days (it is off).

This module holds the findings, the activities' and the graph's checks; the journey-wide settings' checks and the
recommendations are in kizuna.domain.journey_review_settings, how activity documents read in
kizuna.domain.journey_activities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from kizuna.domain import journey_review_settings as settings
from kizuna.domain.custom_delivery import journey_activity_problems
from kizuna.domain.journey_activities import (
    MAX_DURATION,
    MESSAGE_KINDS,
    UNSUPPORTED_KINDS,
    activity_kind,
    find_loops,
    longest_wait,
    next_activities,
    parse_duration,
    parse_timestamp,
    reachable,
    wait_of,
)

MAX_ACTIVITIES = 40
MAX_MULTI_CONDITION_BRANCHES = 4
MAX_RANDOM_SPLIT_BRANCHES = 5
MAX_ACTIVITY_ID_CHARS = 100
TEMPLATE_TYPE = {"SMS": "SMS", "EMAIL": "EMAIL", "VOICE": "VOICE", "CUSTOM": None, "WHATSAPP": "WHATSAPP"}

Severity = Literal["ERROR", "RECOMMENDATION"]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    message: str
    activity: str | None = None  # the activity id it is about; None: the journey as a whole

    def as_dict(self) -> dict[str, str]:
        return {"Severity": self.severity, "Code": self.code, "Message": self.message} | (
            {"Activity": self.activity} if self.activity else {}
        )


@dataclass
class Review:
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "ERROR"]

    @property
    def recommendations(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "RECOMMENDATION"]

    def error(self, code: str, message: str, activity: str | None = None) -> None:
        self.findings.append(Finding("ERROR", code, message, activity))

    def recommend(self, code: str, message: str, activity: str | None = None) -> None:
        self.findings.append(Finding("RECOMMENDATION", code, message, activity))


@dataclass(frozen=True)
class Catalog:
    """What the journey may refer to: `template_exists(name, type)` and `segment_exists(id)`."""

    template_exists: Callable[[str, str | None], bool]
    segment_exists: Callable[[str], bool]


def review_journey(journey: dict[str, Any], catalog: Catalog, now: datetime) -> Review:
    review = Review()
    activities: dict[str, dict[str, Any]] = journey.get("Activities") or {}
    start = _schedule_start(journey, now)
    _check_size_and_ids(activities, review)
    _check_each_activity(activities, catalog, start, review)
    _check_graph(journey, activities, start, review)
    settings.check_start_condition(journey, catalog, review)
    settings.check_schedule(journey, now, review)
    settings.check_sending(journey, review)
    settings.add_recommendations(journey, activities, review)
    review.findings = unique(review.findings)
    return review


# -- the checks --------------------------------------------------------------------------------------------------


def _check_size_and_ids(activities: dict[str, dict[str, Any]], review: Review) -> None:
    if len(activities) > MAX_ACTIVITIES:
        review.error("TOO_MANY_ACTIVITIES", f"The journey has {len(activities)} activities; the limit is 40")
    for activity_id in activities:
        if not activity_id.isalnum() or len(activity_id) > MAX_ACTIVITY_ID_CHARS:
            review.error(
                "BAD_ACTIVITY_ID", "Activity ids are 1 to 100 letters and digits", activity_id[:MAX_ACTIVITY_ID_CHARS]
            )


def _check_each_activity(
    activities: dict[str, dict[str, Any]], catalog: Catalog, start: datetime, review: Review
) -> None:
    for activity_id, activity in activities.items():
        kind = activity_kind(activity)
        if kind is None:
            review.error("NO_KIND", "An activity holds exactly one of SMS, EMAIL, CUSTOM, VOICE, WHATSAPP, Wait, "
                         "ConditionalSplit, MultiCondition, RandomSplit or Holdout", activity_id)  # fmt: skip
            continue
        if kind in UNSUPPORTED_KINDS:
            review.error("UNSUPPORTED_ACTIVITY", f"Kizuna does not run {kind} activities", activity_id)
            continue
        body = activity[kind]
        if kind in MESSAGE_KINDS:
            _check_message(kind, body, catalog, activity_id, review)
        elif kind == "Wait":
            _check_wait(body.get("WaitTime"), "Wait.WaitTime", start, activity_id, review, required=True)
        elif kind in ("ConditionalSplit", "MultiCondition"):
            _check_conditions(kind, body, activities, catalog, start, activity_id, review)
        elif kind == "RandomSplit":
            _check_random_split(body, activity_id, review)
        elif kind == "Holdout":
            percentage = body.get("Percentage")
            if not isinstance(percentage, int) or not 1 <= percentage <= 100:
                review.error("BAD_HOLDOUT", "Holdout.Percentage must be 1 to 100", activity_id)


def _check_message(kind: str, body: dict[str, Any], catalog: Catalog, activity_id: str, review: Review) -> None:
    name = body.get("TemplateName")
    if kind == "CUSTOM":
        if not body.get("DeliveryUri"):
            review.error("NO_DELIVERY_URI", "A CUSTOM activity names the webhook it posts to (CUSTOM.DeliveryUri)",
                         activity_id)  # fmt: skip
        for problem in journey_activity_problems(body):
            review.error("BAD_CUSTOM", problem, activity_id)
        return
    if not name:
        review.error("NO_TEMPLATE", f"A {kind} activity names the message template it sends (TemplateName)",
                     activity_id)  # fmt: skip
    elif not catalog.template_exists(name, TEMPLATE_TYPE[kind]):
        review.error("UNKNOWN_TEMPLATE", f"{kind} template {name!r} does not exist", activity_id)


def _check_conditions(
    kind: str,
    body: dict[str, Any],
    activities: dict[str, dict[str, Any]],
    catalog: Catalog,
    start: datetime,
    activity_id: str,
    review: Review,
) -> None:
    _check_wait(body.get("EvaluationWaitTime"), f"{kind}.EvaluationWaitTime", start, activity_id, review)
    if kind == "ConditionalSplit":
        conditions = (body.get("Condition") or {}).get("Conditions") or []
        if not conditions:
            review.error("NO_CONDITION", "ConditionalSplit.Condition.Conditions is empty", activity_id)
        if not body.get("TrueActivity") and not body.get("FalseActivity"):
            review.error("NO_BRANCH", "A ConditionalSplit leads somewhere (TrueActivity or FalseActivity)",
                         activity_id)  # fmt: skip
    else:
        branches = body.get("Branches") or []
        if not 1 <= len(branches) <= MAX_MULTI_CONDITION_BRANCHES:
            review.error("BAD_BRANCHES", "MultiCondition.Branches holds 1 to 4 branches (plus DefaultActivity)",
                         activity_id)  # fmt: skip
        conditions = [b.get("Condition") or {} for b in branches]
    for condition in conditions:
        _check_condition(condition, activities, catalog, activity_id, review)


def _check_condition(
    condition: dict[str, Any],
    activities: dict[str, dict[str, Any]],
    catalog: Catalog,
    activity_id: str,
    review: Review,
) -> None:
    segment_id = (condition.get("SegmentCondition") or {}).get("SegmentId")
    if segment_id and not catalog.segment_exists(segment_id):
        review.error("UNKNOWN_SEGMENT", f"Segment {segment_id!r} does not exist", activity_id)
    event = condition.get("EventCondition") or {}
    message_activity = event.get("MessageActivity")
    if message_activity and activity_kind(activities.get(message_activity) or {}) not in MESSAGE_KINDS:
        review.error("BAD_MESSAGE_CONDITION",
                     f"EventCondition.MessageActivity {message_activity!r} is not a message activity of this journey",
                     activity_id)  # fmt: skip
    if event and not message_activity:
        event_type = (event.get("Dimensions") or {}).get("EventType") or {}
        if (event_type.get("DimensionType") or "INCLUSIVE") != "INCLUSIVE" or not event_type.get("Values"):
            review.error("NO_EVENT_TYPE", "An EventCondition on custom events names its event types "
                         "(Dimensions.EventType, INCLUSIVE): only events of named types are kept",
                         activity_id)  # fmt: skip
    if not (segment_id or event or condition.get("SegmentDimensions")):
        review.error("EMPTY_CONDITION", "A condition holds an EventCondition, SegmentCondition or SegmentDimensions",
                     activity_id)  # fmt: skip


def _check_random_split(body: dict[str, Any], activity_id: str, review: Review) -> None:
    branches = body.get("Branches") or []
    if not 1 <= len(branches) <= MAX_RANDOM_SPLIT_BRANCHES:
        review.error("BAD_BRANCHES", "RandomSplit.Branches holds 1 to 5 branches", activity_id)
    shares = [b.get("Percentage") for b in branches]
    if any(not isinstance(s, int) or s < 0 for s in shares) or sum(s for s in shares if isinstance(s, int)) != 100:
        review.error("BAD_PERCENTAGES", "RandomSplit branch percentages are whole numbers that add up to 100",
                     activity_id)  # fmt: skip


def _check_wait(
    wait: dict[str, Any] | None, field: str, start: datetime, activity_id: str, review: Review, required: bool = False
) -> None:
    if not wait:
        if required:
            review.error("NO_WAIT", f"{field} holds WaitFor (an ISO 8601 duration) or WaitUntil", activity_id)
        return
    if bool(wait.get("WaitFor")) == bool(wait.get("WaitUntil")):
        review.error("BAD_WAIT", f"{field} holds exactly one of WaitFor and WaitUntil", activity_id)
        return
    if wait.get("WaitFor"):
        length = parse_duration(wait["WaitFor"])
        if length is None:
            review.error("BAD_WAIT", f"{field}.WaitFor must be an ISO 8601 duration such as P1D or PT2H; got "
                         f"{wait['WaitFor']!r}", activity_id)  # fmt: skip
        elif length > MAX_DURATION:
            review.error("TOO_LONG", f"{field}.WaitFor is longer than 540 days", activity_id)
        return
    until = parse_timestamp(wait["WaitUntil"])
    if until is None:
        review.error("BAD_WAIT", f"{field}.WaitUntil must be an ISO 8601 timestamp", activity_id)
    elif until - start > MAX_DURATION:
        review.error("TOO_LONG", f"{field}.WaitUntil is more than 540 days after the journey starts", activity_id)


def _check_graph(
    journey: dict[str, Any], activities: dict[str, dict[str, Any]], start: datetime, review: Review
) -> None:
    first = journey.get("StartActivity")
    if not first:
        review.error("NO_START_ACTIVITY", "StartActivity names the journey's first activity")
    elif first not in activities:
        review.error("UNKNOWN_ACTIVITY", f"StartActivity {first!r} is not one of the journey's activities")
    for activity_id, activity in activities.items():
        for target in next_activities(activity):
            if target not in activities:
                review.error("UNKNOWN_ACTIVITY", f"Next activity {target!r} does not exist", activity_id)
    if first not in activities:
        return
    reached = reachable(first, activities)
    for activity_id in activities:
        if activity_id not in reached:
            review.error("UNREACHABLE", "No path from the start activity reaches this activity", activity_id)
    loops = find_loops(first, activities)
    for loop in loops:
        if not any(wait_of(activities[a], start) for a in loop):
            review.error("LOOP_WITHOUT_WAIT", "A loop through " + " → ".join(loop) + " never waits", loop[0])
    if loops and not (journey.get("Schedule") or {}).get("EndTime"):
        review.error("LOOP_WITHOUT_END", "A journey with a loop needs Schedule.EndTime (at most 540 days ahead)")
    elif not loops:
        longest = longest_wait(first, activities, start, {})
        if longest > MAX_DURATION:
            review.error("TOO_LONG", f"The longest path waits {longest.days} days; the limit is 540")


def _schedule_start(journey: dict[str, Any], now: datetime) -> datetime:
    start = parse_timestamp((journey.get("Schedule") or {}).get("StartTime"))
    return start or now


def unique(findings: Iterable[Finding]) -> list[Finding]:
    """The findings without repeats, in order (one cause can be met through several paths)."""
    return list(dict.fromkeys(findings))
