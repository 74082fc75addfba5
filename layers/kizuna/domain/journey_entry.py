"""Who may enter a journey, and when again: the entry rules of a journey document, decided without I/O.

- Event-started journeys (`StartCondition.EventStartCondition`): an endpoint enters when it reports an event that
  matches `EventFilter.Dimensions` (the segment grammar's event filter, as EVENT campaigns use it), if it is in
  `SegmentId` when one is named. `FilterType` (SYSTEM or ENDPOINT) names the kind of event; both match on the event.
- Re-entry (`Limits`): `EndpointReentryCap` is how many times an endpoint may enter the journey in all (Pinpoint's
  field: 1 to 100, 0 for no limit); without it an endpoint enters once, as Pinpoint's console default left re-entry
  off. `EndpointReentryInterval` (ISO 8601, e.g. PT1H) is the least time between two entries of an endpoint.
- An endpoint still in the journey (waiting, or between steps) is not entered again: Pinpoint's
  ACTIVE_ENDPOINT_REJECTED; one refused by the cap or the interval is REENTRY_CAP_EXCEEDED.
- Segment refresh: `RefreshFrequency` (ISO 8601, at least PT1H) re-evaluates the start segment that often and enters
  the members not entered yet (and, re-entry allowing, those who left); `RefreshOnSegmentUpdate` does it when the
  segment changes (a new Version).

What entry produced and filtered is counted too, with Pinpoint's run metrics: `ENDPOINT_PRODUCED` (each member the
start segment produced, or each matching event of an existing endpoint, before any filter), `ENDPOINT_OPT_OUT` and
`ENDPOINT_INACTIVE` (not sendable), `FILTERED_OUT_BY_SEGMENT` (an event-started journey's `SegmentId` left it out)
and `DUPLICATE_ENDPOINT` (a second matching event of the endpoint in one request). So ENDPOINT_PRODUCED is the sum
of the entries and of every reason not to enter.

Every entry has a key — `event:<endpoint>:<event id>`, `segment` for the first entry of a segment journey,
`refresh:<instant>` for a refresh — kept on the participant (its latest few), so a replay of the same entry (an SDK
retry of PutEvents, a retried wake-up) is recognised and enters no one twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from kizuna.domain.journey_activities import parse_duration
from kizuna.domain.segments import compile_event_dimensions
from kizuna.errors import KizunaError

if TYPE_CHECKING:  # journey_steps reads the review, which reads this module
    from kizuna.domain.journey_steps import Participant

MAX_REENTRY_CAP = 100
MIN_REFRESH = timedelta(hours=1)
ACTIVE_REJECTED, CAP_EXCEEDED = "ACTIVE_ENDPOINT_REJECTED", "REENTRY_CAP_EXCEEDED"
Decision = Literal["ENTER", "SAME", "ACTIVE", "CAP", "INTERVAL"]
# The execution metric a refused entry adds to (Pinpoint's fields); the interval is a re-entry limit too.
REFUSALS: dict[str, str] = {"ACTIVE": ACTIVE_REJECTED, "CAP": CAP_EXCEEDED, "INTERVAL": CAP_EXCEEDED}
PRODUCED, OPTED_OUT, INACTIVE = "ENDPOINT_PRODUCED", "ENDPOINT_OPT_OUT", "ENDPOINT_INACTIVE"
FILTERED_OUT, DUPLICATE = "FILTERED_OUT_BY_SEGMENT", "DUPLICATE_ENDPOINT"
ENTRY_METRICS = (PRODUCED, OPTED_OUT, INACTIVE, FILTERED_OUT, DUPLICATE)


@dataclass(frozen=True)
class EntryRules:
    cap: int  # entries in all; 0: no limit
    interval: timedelta | None  # least time between two entries
    refresh: timedelta | None  # RefreshFrequency (segment-started journeys)
    on_segment_update: bool  # RefreshOnSegmentUpdate


def rules_of(journey: dict[str, Any]) -> EntryRules:
    """The journey's entry rules (a published journey passed the review, so its values are readable)."""
    limits = journey.get("Limits") or {}
    cap = limits.get("EndpointReentryCap")
    segment_start = segment_start_of(journey) is not None
    return EntryRules(
        cap=1 if cap is None else int(cap),
        interval=parse_duration(limits.get("EndpointReentryInterval")),
        refresh=parse_duration(journey.get("RefreshFrequency")) if segment_start else None,
        on_segment_update=bool(journey.get("RefreshOnSegmentUpdate")) and segment_start,
    )


def event_start_of(journey: dict[str, Any]) -> dict[str, Any] | None:
    """The journey's EventStartCondition (None: not event-started)."""
    return (journey.get("StartCondition") or {}).get("EventStartCondition") or None


def segment_start_of(journey: dict[str, Any]) -> str | None:
    return ((journey.get("StartCondition") or {}).get("SegmentStartCondition") or {}).get("SegmentId") or None


def enters_outside_the_loop(journey: dict[str, Any]) -> bool:
    """Whether participants may enter while the run's loop sleeps (PutEvents, a segment update): such a journey keeps
    its loop's wake-up in the run's wake record (kizuna.services.journey_wakes) and runs until its end time."""
    return event_start_of(journey) is not None or rules_of(journey).on_segment_update


def decide(rules: EntryRules, existing: Participant | None, key: str, now: datetime) -> Decision:
    """Whether an endpoint (its participant record, if it has one) enters now by the entry `key`."""
    if existing is None:
        return "ENTER"
    if key in existing.entered_by:
        return "SAME"  # a replay of the entry that put it there
    if existing.status in ("ACTIVE", "WAITING"):
        return "ACTIVE"
    if rules.cap and existing.entries >= rules.cap:
        return "CAP"
    last = existing.entered_at or existing.arrived_at
    if rules.interval and now < last + rules.interval:
        return "INTERVAL"
    return "ENTER"


def filtered_out(endpoint: dict[str, Any]) -> str | None:
    """Why an endpoint the start produced may not enter, as Pinpoint's metric (None: it is sendable)."""
    if endpoint.get("OptOut", "NONE") != "NONE":
        return OPTED_OUT
    if endpoint.get("EndpointStatus", "ACTIVE") != "ACTIVE":
        return INACTIVE
    return None


def event_key(endpoint_id: str, event_id: str) -> str:
    return f"event:{endpoint_id}:{event_id}"


def entry_findings(journey: dict[str, Any]) -> list[tuple[str, str]]:
    """The review's errors about entry, as (code, message): re-entry limits, segment refresh, the event filter."""
    found: list[tuple[str, str]] = []
    limits = journey.get("Limits") or {}
    cap = limits.get("EndpointReentryCap")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or not 0 <= cap <= MAX_REENTRY_CAP):
        found.append(("BAD_REENTRY", f"Limits.EndpointReentryCap is 0 (no limit) to {MAX_REENTRY_CAP}; got {cap!r}"))
    interval = limits.get("EndpointReentryInterval")
    if interval is not None and not (parse_duration(interval) or timedelta()) > timedelta():
        found.append(("BAD_REENTRY", f"Limits.EndpointReentryInterval is an ISO 8601 duration such as PT1H; got "
                      f"{interval!r}"))  # fmt: skip
    refresh = journey.get("RefreshFrequency")
    if refresh is not None:
        every = parse_duration(refresh)
        if every is None or every < MIN_REFRESH:
            found.append(("BAD_REFRESH", f"RefreshFrequency is an ISO 8601 duration of at least PT1H; got {refresh!r}"))
        elif segment_start_of(journey) is None:
            found.append(("BAD_REFRESH", "RefreshFrequency re-evaluates the start segment: it needs a "
                          "SegmentStartCondition"))  # fmt: skip
    on_update = journey.get("RefreshOnSegmentUpdate")
    if on_update is not None and not isinstance(on_update, bool):
        found.append(("BAD_REFRESH", f"RefreshOnSegmentUpdate is true or false; got {on_update!r}"))
    elif on_update and segment_start_of(journey) is None:
        found.append(("BAD_REFRESH", "RefreshOnSegmentUpdate re-evaluates the start segment: it needs a "
                      "SegmentStartCondition"))  # fmt: skip
    event = event_start_of(journey) or {}
    if event:  # (FilterType, required and SYSTEM or ENDPOINT, is checked with Pinpoint's shapes on every write)
        try:
            compile_event_dimensions((event.get("EventFilter") or {}).get("Dimensions") or {},
                                     "EventStartCondition.EventFilter.Dimensions")  # fmt: skip
        except KizunaError as exc:
            found.append(("BAD_START_CONDITION", exc.message))
    return found
