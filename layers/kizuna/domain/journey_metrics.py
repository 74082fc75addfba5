"""Journey execution metrics: what one participant's move adds to its run's counters, and the `Metrics` maps that
Pinpoint's GetJourney(Run)Execution(Activity)Metrics answer from those counters.

Counters are flat names in one namespace per run (kizuna.ports_journeys.Tally):
- `ENDPOINT_ENTERED`, `ENDPOINT_LEFT`            participants who entered the journey, and who left it (the end of a
                                                 path, held out, or their endpoint deleted)
- `ACTIVE_ENDPOINT_REJECTED`,                     entries refused: the endpoint was still in the journey, or the
  `REENTRY_CAP_EXCEEDED`                         re-entry limits (cap, interval) held it back (domain.journey_entry)
- `ENDPOINT_PRODUCED`, `ENDPOINT_OPT_OUT`,        what the start produced before any filter, and what it filtered
  `ENDPOINT_INACTIVE`, `FILTERED_OUT_BY_SEGMENT`, out (domain.journey_entry): produced = entered + filtered out +
  `DUPLICATE_ENDPOINT`                           refused
- `<activity id>|<metric>`                       an activity's: `ENTERED` (reached it), `COMPLETED` (a wait, or a
                                                 holdout they passed), `HOLDOUT`, `TOTAL` and `Branch_<n>` (the path a
                                                 split chose, from 1), and a message activity's send outcome: `SUCCESS`
                                                 or the refusal's delivery status (`OPT_OUT`, `PERMANENT_FAILURE`, ...)

Counts only ever grow, and each is written with the participant state that records its move, so nothing here is
recomputed from the participants. What Pinpoint reports that is not a counter is derived when read: participants
still in a journey are `ENDPOINT_ACTIVE`, or `CANCELLED` / `ENDED` once the journey was cancelled / has ended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from kizuna.domain.journey_activities import activity_kind
from kizuna.domain.journey_entry import ENTRY_METRICS
from kizuna.domain.journey_steps import Participant, Step

ENTERED, LEFT = "ENDPOINT_ENTERED", "ENDPOINT_LEFT"
REFUSED = ("ACTIVE_ENDPOINT_REJECTED", "REENTRY_CAP_EXCEEDED")  # answered once counted
ENTRY_FILTERS = ENTRY_METRICS  # what entry produced and filtered out: answered once counted
LEFT_STATUSES = ("FINISHED", "HELD_OUT")
# Pinpoint's ActivityType for each activity kind.
ACTIVITY_TYPES = {
    "SMS": "MESSAGE", "EMAIL": "MESSAGE", "VOICE": "MESSAGE", "WHATSAPP": "MESSAGE", "CUSTOM": "MESSAGE",
    "PUSH": "MESSAGE", "Wait": "WAIT", "Holdout": "HOLDOUT", "ConditionalSplit": "CONDITIONAL_SPLIT",
    "MultiCondition": "MULTI_CONDITIONAL_SPLIT", "RandomSplit": "RANDOM_SPLIT", "ContactCenter": "CONTACT_CENTER",
}  # fmt: skip
# The metrics every activity of a type answers, zero until counted (others appear once counted).
BASE_METRICS = {
    "MESSAGE": ("ENTERED", "SUCCESS", "OPT_OUT", "PERMANENT_FAILURE", "TEMPORARY_FAILURE"),
    "WAIT": ("ENTERED", "COMPLETED"),
    "HOLDOUT": ("ENTERED", "HOLDOUT", "COMPLETED"),
    "CONDITIONAL_SPLIT": ("ENTERED", "TOTAL"),
    "MULTI_CONDITIONAL_SPLIT": ("ENTERED", "TOTAL"),
    "RANDOM_SPLIT": ("ENTERED", "TOTAL"),
}


def counter(activity_id: str, metric: str) -> str:
    return f"{activity_id}|{metric}"


def send_outcome(result: Mapping[str, Any]) -> str:
    """A message activity's metric for one endpoint's send result (SendMessages' EndpointResult shape)."""
    status = result.get("DeliveryStatus") or "UNKNOWN_FAILURE"
    return "SUCCESS" if status == "SUCCESSFUL" else status


def move_counts(
    before: Participant | None, after: Participant, steps: Iterable[Step], outcomes: Mapping[str, str]
) -> Counter[str]:
    """What one participant's move adds: `before` is None for a participant entering the journey; `steps` are what
    advance_traced walked; `outcomes` the send outcome of each message activity it passed."""
    counts: Counter[str] = Counter()
    if before is None:
        counts[ENTERED] += 1
    if after.status in LEFT_STATUSES and (before is None or before.status not in LEFT_STATUSES):
        counts[LEFT] += 1
    counts.update(counter(activity_id, metric) for activity_id, metric in steps)
    counts.update(counter(activity_id, outcome) for activity_id, outcome in outcomes.items())
    return counts


def journey_metrics(counts: Mapping[str, int], state: str) -> dict[str, str]:
    """GetJourney(Run)ExecutionMetrics' Metrics for a journey in `state`."""
    entered, left = counts.get(ENTERED, 0), counts.get(LEFT, 0)
    remaining = max(entered - left, 0)
    cancelled = remaining if state == "CANCELLED" else 0
    ended = remaining if state in ("COMPLETED", "CLOSED") else 0
    metrics = {
        ENTERED: entered,
        "ENDPOINT_ACTIVE": remaining - cancelled - ended,
        LEFT: left,
        "CANCELLED": cancelled,
        "ENDED": ended,
    } | {name: counts[name] for name in (*REFUSED, *ENTRY_FILTERS) if counts.get(name)}
    return {name: str(value) for name, value in metrics.items()}


def activity_type(activity: Mapping[str, Any]) -> str:
    kind = activity_kind(dict(activity)) or ""
    return ACTIVITY_TYPES.get(kind, kind.upper() or "UNKNOWN")


def activity_metrics(activity_id: str, activity: Mapping[str, Any], counts: Mapping[str, int]) -> dict[str, str]:
    """GetJourney(Run)ExecutionActivityMetrics' Metrics: the activity type's metrics, each split path's
    `Branch_<n>`, and any other counter the activity has."""
    kind_type = activity_type(activity)
    names = list(BASE_METRICS.get(kind_type, ("ENTERED",)))
    names += [f"Branch_{n}" for n in range(1, _paths(activity) + 1)]
    prefix = counter(activity_id, "")
    names += sorted(n[len(prefix) :] for n in counts if n.startswith(prefix) and n[len(prefix) :] not in names)
    return {name: str(counts.get(counter(activity_id, name), 0)) for name in names}


def _paths(activity: Mapping[str, Any]) -> int:
    kind = activity_kind(dict(activity))
    branches = len(((activity.get(kind) or {}) if kind else {}).get("Branches") or [])
    if kind == "ConditionalSplit":
        return 2  # Branch_1: the condition was met (TrueActivity); Branch_2: it was not
    if kind == "MultiCondition":
        return branches + 1  # its branches, then the default (else) path
    return branches if kind == "RandomSplit" else 0
