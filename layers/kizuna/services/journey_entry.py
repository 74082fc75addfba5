"""Event-started journeys: PutEvents enters the endpoints whose events match an ACTIVE journey's EventStartCondition.

PutEvents hands its accepted events (event-stream shape) to `on_events` within the request, as it does for EVENT
campaigns. The app's live journeys with an event start are in the custom-event index (one query per request,
kizuna.services.journey_engagement.event_index_entry); for each whose `EventFilter.Dimensions` an event matches:

- the endpoint must exist, be sendable (ACTIVE, not opted out) and, when `SegmentId` is named, be in that segment;
  each matching event of an existing endpoint counts as ENDPOINT_PRODUCED, and one that does not enter for these
  reasons as ENDPOINT_OPT_OUT, ENDPOINT_INACTIVE or FILTERED_OUT_BY_SEGMENT (a later event of the same endpoint in
  the request: DUPLICATE_ENDPOINT), once per event;
- the journey must be open: inside its `Schedule`, read with `LocalTime` in the endpoint's own zone (an event
  before the journey's start or after its end there enters no one and counts nothing; Pinpoint offered LocalTime to
  segment journeys only);
- the entry rules decide (kizuna.domain.journey_entry): a first entry, a re-entry the limits allow, or a refusal
  (still in the journey; the cap or the interval), counted once per event in the run's execution metrics;
- an entrant is moved through its first steps at once, by the engine's own move (kizuna.services.journey_moves.move:
  the same sends, quiet time and counts as a wake-up), so its first message is queued within the request;
- if it then waits, the run's loop must wake by then: the run's wake record asks for it and starts an execution of
  the run when the sleeping one would wake later (kizuna.services.journey_wakes).

Replays are no-ops: the entry key is the event id, kept on the participant, so an SDK retry of the same request
finds the endpoint entered by that event (and asks for its wake-up again, in case the first attempt failed there);
its messages have the ids they had. Two requests entering one endpoint at once: the participant write is
conditional on the revision read, so one wins and the other reads again (and is refused: the endpoint is in).
An endpoint enters at most once per request and journey (its first matching event).

`segment_updated` (UpdateSegment) wakes the loop of every ACTIVE journey that starts from the segment with
RefreshOnSegmentUpdate: that wake-up sees the segment's new Version and enters its new members
(kizuna.services.journey_segment_entry).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.domain.journey_entry import (
    DUPLICATE,
    FILTERED_OUT,
    PRODUCED,
    REFUSALS,
    decide,
    event_key,
    event_start_of,
    filtered_out,
    rules_of,
    segment_start_of,
)
from kizuna.domain.journey_schedule import window_of
from kizuna.domain.journey_steps import entrant
from kizuna.domain.segments import Predicate, compile_event_dimensions
from kizuna.domain.sharding import endpoint_shard
from kizuna.errors import KizunaError
from kizuna.ports_journeys import ParticipantsMoved
from kizuna.services import journey_wakes
from kizuna.services.journey_deps import JourneyDeps
from kizuna.services.journey_moves import enter, entry_time
from kizuna.services.segments import is_member

logger = Logger(child=True)

MOVE_ATTEMPTS = 3
JOURNEY_PAGE = 100


def on_events(deps: JourneyDeps, app_id: str, events: Sequence[dict[str, Any]]) -> int:
    """Enter the endpoints whose accepted events start an ACTIVE journey of the app; returns how many entered."""
    starts = [e for e in deps.journeys.event_journeys(app_id) if e.get("Start")]
    if not starts or not events:
        return 0
    entered = 0
    for entry in starts:
        matches = _event_filter(json.dumps(entry["Start"].get("EventFilter") or {}, sort_keys=True))
        hits = [e for e in events if (e.get("client") or {}).get("client_id") and matches(e)]
        if hits:
            entered += _enter(deps, app_id, entry["Id"], hits)
    return entered


def segment_updated(deps: JourneyDeps, app_id: str, segment_id: str) -> int:
    """After UpdateSegment: wake the loops of the ACTIVE journeys refreshed on this segment's updates; returns how
    many journeys were asked to wake."""
    now, woken, token = deps.clock.now(), 0, None
    while True:
        page, token = deps.journeys.list_journeys(app_id, JOURNEY_PAGE, token)
        for journey in page:
            if (
                journey.get("State") == "ACTIVE"
                and journey.get("RunId")
                and journey.get("RefreshOnSegmentUpdate")
                and segment_start_of(journey) == segment_id
            ):
                journey_wakes.want(
                    deps.participants, deps.orchestrator, app_id, journey["Id"], journey["RunId"], now, now
                )
                woken += 1
        if not token:
            return woken


def _enter(deps: JourneyDeps, app_id: str, journey_id: str, hits: list[dict[str, Any]]) -> int:
    journey = deps.journeys.get_journey(app_id, journey_id)
    start = event_start_of(journey or {})
    if journey is None or start is None or journey.get("State") != "ACTIVE" or not journey.get("RunId"):
        return 0  # a paused journey takes no one in; its index entry stays for its waiting participants' events
    now = deps.clock.now()
    window = window_of(journey)
    if window.first_start and now < window.first_start:
        return 0  # not open yet (with LocalTime: in no zone)
    if window.last_end and now >= window.last_end:
        return 0  # over: its loop marks it completed
    segment = None
    if start.get("SegmentId"):
        segment = deps.segments.get_segment(app_id, start["SegmentId"])
        if segment is None:
            logger.warning("journey start segment is gone", extra={"journey_id": journey_id})
            return 0
    first: dict[str, str] = {}  # endpoint id -> its first matching event id in the request
    others: list[tuple[str, str]] = []  # (endpoint id, event id) of its later matching events: de-duplicated
    for event in hits:
        endpoint_id = event["client"]["client_id"]
        if first.setdefault(endpoint_id, event["event_id"]) != event["event_id"]:
            others.append((endpoint_id, event["event_id"]))
    found = deps.endpoints.get_endpoints(app_id, sorted(first))
    members, left_out = {}, []  # left out: (endpoint id, event id, why)
    for endpoint_id, endpoint in found.items():
        if endpoint_id not in first:
            continue
        why = filtered_out(endpoint)
        if why is None and segment is not None and not is_member(deps.segments, app_id, segment, endpoint, now=now):
            why = FILTERED_OUT
        if why is None and entry_time(window, endpoint, now) != now:
            continue  # LocalTime: the journey is not open in the endpoint's zone, the event does not apply to it
        if why is None:
            members[endpoint_id] = endpoint
        else:
            left_out.append((endpoint_id, first[endpoint_id], why))
    left_out += [(endpoint_id, event_id, DUPLICATE) for endpoint_id, event_id in others if endpoint_id in found]
    for endpoint_id, event_id, why in left_out:  # once per event: a replayed request counts nothing twice
        deps.participants.count_once(app_id, journey_id, journey["RunId"], endpoint_shard(endpoint_id),
                                     event_key(endpoint_id, event_id), {PRODUCED: 1, why: 1}, now)  # fmt: skip
    by_shard: dict[int, list[str]] = {}
    for endpoint_id in sorted(members):
        by_shard.setdefault(endpoint_shard(endpoint_id), []).append(endpoint_id)
    entered, wake = 0, None
    for shard, endpoint_ids in by_shard.items():
        keys = {endpoint_id: event_key(endpoint_id, first[endpoint_id]) for endpoint_id in endpoint_ids}
        count, shard_wake = _enter_shard(deps, journey, shard, keys, members, now)
        entered += count
        wake = min(w for w in (wake, shard_wake) if w) if shard_wake else wake
    if wake is not None:  # someone waits: the run's loop must wake by then
        journey_wakes.want(deps.participants, deps.orchestrator, app_id, journey_id, journey["RunId"], wake, now)
    return entered


def _enter_shard(
    deps: JourneyDeps,
    journey: dict[str, Any],
    shard: int,
    keys: dict[str, str],
    endpoints: dict[str, dict[str, Any]],
    now: datetime,
) -> tuple[int, datetime | None]:
    """Enter one shard's endpoints (endpoint id -> entry key); returns how many entered and the earliest wake-up of
    those now waiting (entered now, or by the same event before)."""
    app_id, journey_id, run_id = journey["ApplicationId"], journey["Id"], journey["RunId"]
    rules = rules_of(journey)
    for attempt in range(MOVE_ATTEMPTS):
        known = deps.participants.get_many(app_id, journey_id, shard, list(keys))
        entering, waiting, refused = [], [], Counter[tuple[str, str]]()
        for endpoint_id, key in keys.items():
            existing = known.get(endpoint_id)
            decision = decide(rules, existing, key, now)
            if decision == "ENTER":
                entering.append(entrant(journey, endpoint_id, key, now, existing))
            elif decision == "SAME" and existing is not None:
                waiting.append(existing)  # a retry: ask for its wake-up again, in case that failed the first time
            elif decision in REFUSALS:
                refused[(key, REFUSALS[decision])] += 1
        try:
            moved = enter(deps, journey, run_id, shard, entering, endpoints, now)
            break
        except ParticipantsMoved:  # another request entered one of them meanwhile: read them again
            if attempt == MOVE_ATTEMPTS - 1:
                raise
    for (key, metric), amount in refused.items():
        deps.participants.count_once(app_id, journey_id, run_id, shard, key, {metric: amount, PRODUCED: amount}, now)
    wakes = [p.wake_at for p in (*moved, *waiting) if p.status == "WAITING" and p.wake_at is not None]
    return len(entering), min(wakes, default=None)


@lru_cache(maxsize=256)
def _event_filter(event_filter: str) -> Predicate:
    """Compiled once per filter (its JSON text is the key: filters are dicts); one the grammar refuses (the review
    checks it before publishing) matches nothing."""
    try:
        return compile_event_dimensions(json.loads(event_filter).get("Dimensions") or {},
                                        "EventStartCondition.EventFilter.Dimensions")  # fmt: skip
    except KizunaError as exc:
        logger.warning("journey event start unreadable", extra={"reason": exc.message})
        return lambda _event: False
