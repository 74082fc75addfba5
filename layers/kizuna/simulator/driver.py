"""The journey state machine's loop (infra/journeys.py) on a virtual clock, calling the production engine:

    wake every shard (journey_runs.wake_shard) → plan (journey_runs.plan) →
        done → stop · continue → a new execution (loops 0, started now), which wakes the shards at once ·
        otherwise → wait until next_wake (what happens meanwhile — sends, deliveries, replies — runs first) → loop

Tests use it to see what AWS would: how many executions a run chains, how many wake-ups it costs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import VirtualClock, iso
from kizuna.services import journey_runs

# A safety net: a journey waking every hour for 540 days wakes ~13,000 times.
MAX_WAKE_UPS = 100_000


@dataclass
class Execution:
    """What the state machine did for one start of a run (published or resumed) and the executions it chained."""

    started_at: datetime  # the current execution's start (the plan's `started_at`)
    executions: int = 1
    wake_ups: int = 0
    loops: int = 0  # of the current execution
    done: bool = False  # the plan said done (completed, no longer active, or a newer execution carries the run)
    spans: list[tuple[datetime, datetime]] = field(default_factory=list)  # (start, end) of each execution that ended


def run_state_machine(
    deps: journey_runs.JourneyDeps,
    clock: VirtualClock,
    app_id: str,
    journey_id: str,
    run_id: str,
    until: datetime,
    meanwhile: Callable[[datetime], None] | None = None,
) -> Execution:
    """Run an execution started now, and those it continues as, until the plan says done or the next wake-up is
    after `until` (the clock is then left at `until`). `meanwhile(moment)` runs what happens before a wake-up (the
    simulator's sender); it may move the clock, never past `moment`."""
    execution = Execution(started_at=clock.now())
    while execution.wake_ups < MAX_WAKE_UPS:
        wakes = [journey_runs.wake_shard(deps, app_id, journey_id, run_id, s) for s in range(ENDPOINT_SHARDS)]
        execution.wake_ups += 1
        planned = journey_runs.plan(deps, app_id, journey_id, run_id, wakes, execution.loops, iso(execution.started_at))
        if planned["done"]:
            execution.done = True
            execution.spans.append((execution.started_at, clock.now()))
            return execution
        if planned["continue"]:  # StartExecution of itself (loops 0); the new execution's Map runs at once
            execution.spans.append((execution.started_at, clock.now()))
            execution.executions += 1
            execution.started_at, execution.loops = clock.now(), 0
            continue
        next_wake = datetime.fromisoformat(planned["next_wake"].replace("Z", "+00:00"))
        if next_wake > until:
            advance_to(clock, until, meanwhile)
            return execution
        advance_to(clock, next_wake, meanwhile)
        execution.loops += 1
    raise RuntimeError(f"the journey woke up {MAX_WAKE_UPS} times without finishing")


def advance_to(clock: VirtualClock, moment: datetime, meanwhile: Callable[[datetime], None] | None = None) -> None:
    if meanwhile is not None:
        meanwhile(moment)
    if moment > clock.now():
        clock.advance(moment - clock.now())
