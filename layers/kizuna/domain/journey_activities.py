"""How a journey's activity documents read: the kind each holds, where it leads, how long it keeps a participant,
and the paths through them (what the review checks, and what the engine walks: kizuna.domain.journey_steps).

Durations are ISO 8601 (`P1D`, `PT2H`), timestamps ISO 8601 with a zone (a zoneless one is read as UTC, as Pinpoint
read it); a value that does not parse reads as None, and the review reports it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

MAX_DURATION = timedelta(days=540)  # a journey's schedule, any wait, and any path of waits
MESSAGE_KINDS = ("SMS", "EMAIL", "CUSTOM", "VOICE", "WHATSAPP")  # VOICE and WHATSAPP are Kizuna's extensions
FLOW_KINDS = ("Wait", "ConditionalSplit", "MultiCondition", "RandomSplit", "Holdout")
UNSUPPORTED_KINDS = ("PUSH", "ContactCenter")

_DURATION = TypeAdapter(timedelta)


def activity_kind(activity: dict[str, Any]) -> str | None:
    """The one kind an activity document holds (None when it holds none or several)."""
    kinds = [k for k in (*MESSAGE_KINDS, *FLOW_KINDS, *UNSUPPORTED_KINDS) if activity.get(k) is not None]
    return kinds[0] if len(kinds) == 1 else None


def next_activities(activity: dict[str, Any]) -> list[str]:
    """The activity ids a participant may move to from `activity`, in branch order."""
    kind = activity_kind(activity)
    body = (activity.get(kind) or {}) if kind else {}
    if kind == "ConditionalSplit":
        targets = [body.get("TrueActivity"), body.get("FalseActivity")]
    elif kind == "MultiCondition":
        targets = [b.get("NextActivity") for b in body.get("Branches") or []] + [body.get("DefaultActivity")]
    elif kind == "RandomSplit":
        targets = [b.get("NextActivity") for b in body.get("Branches") or []]
    else:
        targets = [body.get("NextActivity")]
    return [t for t in targets if t]


def wait_of(activity: dict[str, Any], start: datetime) -> timedelta | None:
    """How long a participant stays in the activity at most (a Wait, or a split's evaluation wait); None: no wait
    or an unreadable one (reported by the review)."""
    kind = activity_kind(activity)
    body = (activity.get(kind) or {}) if kind else {}
    wait = body.get("WaitTime") if kind == "Wait" else body.get("EvaluationWaitTime")
    if not wait:
        return None
    if wait.get("WaitFor"):
        return parse_duration(wait["WaitFor"])
    if wait.get("WaitUntil"):
        until = parse_timestamp(wait["WaitUntil"])
        return max(until - start, timedelta()) if until else None
    return None


def reachable(first: str, activities: dict[str, dict[str, Any]]) -> set[str]:
    seen, stack = {first}, [first]
    while stack:
        for target in next_activities(activities[stack.pop()]):
            if target in activities and target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def find_loops(first: str, activities: dict[str, dict[str, Any]]) -> list[list[str]]:
    """One loop (as the path around it) per back edge found from the start activity."""
    loops: list[list[str]] = []
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(activity_id: str) -> None:
        path.append(activity_id)
        on_path.add(activity_id)
        for target in next_activities(activities[activity_id]):
            if target not in activities:
                continue
            if target in on_path:
                loops.append(path[path.index(target) :])
            elif target not in done:
                visit(target)
        on_path.discard(activity_id)
        path.pop()
        done.add(activity_id)

    visit(first)
    return loops


def longest_wait(
    activity_id: str, activities: dict[str, dict[str, Any]], start: datetime, memo: dict[str, timedelta]
) -> timedelta:
    """The longest sum of waits along any path from `activity_id` (the graph has no loops here)."""
    if activity_id not in memo:
        activity = activities[activity_id]
        after = [longest_wait(t, activities, start, memo) for t in next_activities(activity) if t in activities]
        memo[activity_id] = (wait_of(activity, start) or timedelta()) + max(after, default=timedelta())
    return memo[activity_id]


def parse_duration(value: Any) -> timedelta | None:
    """An ISO 8601 duration (P1D, PT1H, ...) as a timedelta; None: absent or unreadable."""
    if not isinstance(value, str) or not value.startswith("P"):
        return None
    try:
        return _DURATION.validate_python(value)
    except ValidationError:
        return None


def parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # Pinpoint reads a zoneless time as UTC
