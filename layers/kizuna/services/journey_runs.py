"""The journey engine's loop: wake a run's participants that are due, and say when to wake next. Step Functions (or
the local orchestrator) calls `wake_shard` for each of the 16 endpoint shards, then `plan`, then sleeps until the
`next_wake` it returns; so a journey costs one loop per wake-up, whatever its size.

- Entry: a segment-start journey's wake-up of a shard first enrols the segment's members as its entry rules say
  (kizuna.services.journey_segment_entry); an entry that outlasts SHARD_BUDGET carries on at the next wake-up.
  Event-started journeys are entered from PutEvents (kizuna.services.journey_entry); their plans keep the run's wake
  record, so that an entry made while the loop sleeps wakes it in time (kizuna.services.journey_wakes), and they run
  until their end time however long no one waits.
- Moving: the due participants move through their steps, sending what they reach, in batches of DUE_BATCH
  (kizuna.services.journey_moves: the sends, the counts, the conditions, held messages).
- `Schedule` (kizuna.domain.journey_schedule): the first wake-up is at StartTime. With `LocalTime`, StartTime and
  EndTime are wall clocks in each participant's zone: the run wakes at the earliest zone's start, enrols everyone,
  and each participant waits until the journey opens in its zone (participants of one zone wake together, so the
  wake-ups grow with the zones, not the participants); once it has closed in a participant's zone, that participant
  neither enters nor moves, and the run ends at the latest zone's end.
- A run ends when no participant waits (the journey becomes COMPLETED), at `Schedule.EndTime`, or when the journey
  is no longer ACTIVE (a resumed journey starts its loop again on the same run, and the execution that was waiting
  when it was paused ends at its next plan instead of looping beside the new one).
- An execution never waits past `JOURNEY_EXECUTION_MAX_DAYS` after it started: a longer wait (up to 539 days) is
  cut there, and that wake-up continues as a new execution, inside Standard's one-year limit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.catalog import ENDPOINT_SHARDS, JOURNEY_EXECUTION_MAX_DAYS, JOURNEY_LOOPS_PER_EXECUTION
from kizuna.clock import iso
from kizuna.domain.journey_entry import enters_outside_the_loop
from kizuna.domain.journey_schedule import window_of
from kizuna.services import journey_engagement as engagement
from kizuna.services import journey_wakes
from kizuna.services.journey_deps import JourneyDeps
from kizuna.services.journey_moves import move
from kizuna.services.journey_segment_entry import enter_segment

logger = Logger(child=True)

DUE_BATCH = 500
# A wake-up of one shard stops taking due participants after this long (the rest are still due at the next loop).
SHARD_BUDGET = timedelta(seconds=240)


def start(deps: JourneyDeps, journey: dict[str, Any]) -> None:
    """After a journey became ACTIVE (published or resumed): start its run's wake-up loop."""
    if deps.orchestrator is not None and journey.get("RunId"):
        deps.orchestrator.start(journey["ApplicationId"], journey["Id"], journey["RunId"])


def wake_shard(deps: JourneyDeps, app_id: str, journey_id: str, run_id: str, shard: int) -> str | None:
    """Enrol (once) and move the shard's due participants; returns the shard's next wake-up (ISO) or None."""
    journey = _active(deps, app_id, journey_id, run_id)
    if journey is None:
        return None
    now = deps.clock.now()
    window = window_of(journey)  # with LocalTime, open from the earliest zone's start to the latest zone's end
    if window.last_end and now >= window.last_end:
        return None
    if window.first_start and now < window.first_start:
        return iso(window.first_start)
    started = deps.clock.now()
    refresh_at = enter_segment(deps, journey, run_id, shard, now, started + SHARD_BUDGET)
    while deps.clock.now() - started < SHARD_BUDGET:
        due = deps.participants.due(app_id, journey_id, shard, now, DUE_BATCH)
        if not due:
            break
        found = deps.endpoints.get_endpoints(app_id, [p.endpoint_id for p in due])
        move(deps, journey, run_id, shard, due, found, now)
    upcoming = min((t for t in (deps.participants.next_wake(app_id, journey_id, shard), refresh_at) if t), default=None)
    return iso(upcoming) if upcoming else None


def plan(
    deps: JourneyDeps, app_id: str, journey_id: str, run_id: str, wakes: list[str | None], loops: int, started_at: str
) -> dict[str, Any]:
    """After every shard woke: done, or the next wake-up and whether the execution should continue as a new one."""
    journey = _active(deps, app_id, journey_id, run_id)
    upcoming = [_instant(w) for w in wakes if w]
    if journey is None:
        return {"done": True}
    resumed = journey.get("ResumedAt")
    if resumed and _instant(started_at) < _instant(resumed):
        return {"done": True}  # paused and resumed while this execution waited: the resumed one carries the run
    if enters_outside_the_loop(journey):
        return _plan_open(deps, journey, run_id, upcoming, loops, started_at)
    if not upcoming:
        _complete(deps, journey)
        return {"done": True}
    now = deps.clock.now()
    next_wake = max(min(upcoming), now)
    end = window_of(journey).last_end
    if end and next_wake >= end:
        _complete(deps, journey)
        return {"done": True}
    horizon = _instant(started_at) + timedelta(days=JOURNEY_EXECUTION_MAX_DAYS)
    if now >= horizon:
        return {"done": False, "next_wake": iso(next_wake), "continue": True}
    # A wait may not outlast the execution (Standard: one year): wake at the horizon, then continue as a new one.
    next_wake = min(next_wake, horizon)
    return {"done": False, "next_wake": iso(next_wake), "continue": loops >= JOURNEY_LOOPS_PER_EXECUTION}


def _plan_open(
    deps: JourneyDeps, journey: dict[str, Any], run_id: str, upcoming: list[datetime], loops: int, started_at: str
) -> dict[str, Any]:
    """The plan of a journey entered while its loop sleeps (event-started, RefreshOnSegmentUpdate): it runs until its
    Schedule.EndTime (or until stopped) however long no one waits, and its wake-ups go through the run's wake record,
    which folds in the wake-ups entries asked for and ends this execution if another loop wakes first."""
    now = deps.clock.now()
    end = window_of(journey).last_end
    if end and now >= end:
        _complete(deps, journey)
        return {"done": True}
    wake = min([*upcoming, *([end] if end else [])], default=None)  # at the end time, it completes
    horizon = _instant(started_at) + timedelta(days=JOURNEY_EXECUTION_MAX_DAYS)
    continuing = now >= horizon or loops >= JOURNEY_LOOPS_PER_EXECUTION
    resumed = _instant(journey["ResumedAt"]) if journey.get("ResumedAt") else None
    me = journey_wakes.plan_name(started_at, loops)
    planned = journey_wakes.settle(
        deps.participants, journey["ApplicationId"], journey["Id"], run_id, wake, now, me, continuing, resumed, horizon
    )
    if not isinstance(planned, datetime):  # nothing to wake for (the next entry starts a loop), or another loop will
        return {"done": True}
    return {"done": False, "next_wake": iso(planned), "continue": continuing}


def run_loop(deps: JourneyDeps, app_id: str, journey_id: str, run_id: str) -> dict[str, Any]:
    """One loop of the state machine in-process (local mode, tests): every shard, then the plan."""
    wakes = [wake_shard(deps, app_id, journey_id, run_id, shard) for shard in range(ENDPOINT_SHARDS)]
    return plan(deps, app_id, journey_id, run_id, wakes, 0, iso(deps.clock.now()))


def _active(deps: JourneyDeps, app_id: str, journey_id: str, run_id: str) -> dict[str, Any] | None:
    journey = deps.journeys.get_journey(app_id, journey_id)
    if journey is None or journey.get("State") != "ACTIVE" or journey.get("RunId") != run_id:
        return None
    return journey


def _complete(deps: JourneyDeps, journey: dict[str, Any]) -> None:
    done = {
        **journey,
        "State": "COMPLETED",
        "Version": journey["Version"] + 1,
        "LastModifiedDate": iso(deps.clock.now()),
    }
    if not deps.journeys.put_journey(journey["ApplicationId"], done, journey["Version"]):
        logger.info("journey changed meanwhile; not marked completed", extra={"journey_id": journey["Id"]})
        return
    engagement.index_journey(deps.journeys, done, deps.clock.now())  # its custom events are kept no longer


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
