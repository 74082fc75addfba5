"""How a sleeping journey loop learns that someone entered: the run's wake record.

A run's loop is a Step Functions execution that sleeps in a Wait state until its planned wake-up, and nothing can
shorten a Wait (SendTaskSuccess only answers task tokens). Event-started journeys (and RefreshOnSegmentUpdate) gain
participants while it sleeps: PutEvents moves an entrant through its first steps at once (kizuna.services.
journey_entry), and its next step may fall before the loop wakes. So each such run keeps one record
(ParticipantStore.loop_state; every write a swap conditional on its version):

- `wake_at`/`by`: when a loop of the run plans to wake next, and which plan ("<started_at>#<loops>") said so;
- `want`: the earliest wake-up that entries made outside the loop asked for.

An entry asks for a wake-up (`want`): it folds its time into `want`; if no loop is running or due by then, it also
marks a loop as starting now and starts a new execution of the run (the orchestrator). A plan (`settle`) folds `want`
into its own next wake-up and clears it; if another loop is already planned to wake no later than this one would, this
execution ends instead (that loop reads every shard, and the wants, when it wakes), so a poke costs one loop and
executions do not pile up. The swaps close the races: a want added while a loop runs makes that loop's plan read it.

The trade-off, against the alternatives: an extra execution per entry whose next step falls before the sleeping loop's
wake-up (rare in steady state — later entrants mostly wake after the earlier ones), instead of a loop that polls every
few seconds (a wake-up ≈ 40 state transitions, ~$40 a day at one per 2 s) or one execution per participant. A loop
superseded while asleep ends at its own wake-up (one more loop). Participants are never moved twice whatever loops
run: each move is conditional on the participant's revision.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from kizuna.ports_journeys import JourneyOrchestrator, LoopState, ParticipantStore

logger = Logger(child=True)

# A loop due within this of the wanted time moves the participant then (a second late at most).
SLACK = timedelta(seconds=1)
# A loop marked as waking this long ago and not planned since has failed (a loop takes minutes at most).
STALE = timedelta(minutes=30)
ATTEMPTS = 8
POKED = "poke"


class Covered:
    """`settle`'s answer when another loop wakes first: this execution ends."""


COVERED = Covered()


def want(
    store: ParticipantStore,
    orchestrator: JourneyOrchestrator | None,
    app_id: str,
    journey_id: str,
    run_id: str,
    at: datetime,
    now: datetime,
) -> bool:
    """An entry outside the loop needs the run to wake by `at`; returns whether a new execution was started."""
    for _ in range(ATTEMPTS):
        state = store.loop_state(app_id, journey_id, run_id)
        wanted = min(state.want, at) if state.want else at
        soon = state.wake_at is not None and now - STALE <= state.wake_at <= at + SLACK
        new = replace(state, want=wanted) if soon else LoopState(wake_at=now, by=POKED, want=wanted)
        if soon and state.want == wanted:
            return False  # asked for already
        if store.swap_loop_state(app_id, journey_id, run_id, state, new):
            break
    else:
        raise RuntimeError("the journey run's wake record kept changing")
    if soon or orchestrator is None:
        return False
    try:
        orchestrator.start(app_id, journey_id, run_id)
    except Exception:
        # Undo the mark, so that the retry this failure asks for (PutEvents answers 500) starts a loop again.
        current = store.loop_state(app_id, journey_id, run_id)
        if current.version == state.version + 1 and current.by == POKED:
            store.swap_loop_state(app_id, journey_id, run_id, current, replace(current, wake_at=state.wake_at,
                                                                                by=state.by))  # fmt: skip
        raise
    logger.info("journey loop started for an entry", extra={"journey_id": journey_id, "wake_at": at.isoformat()})
    return True


def settle(
    store: ParticipantStore,
    app_id: str,
    journey_id: str,
    run_id: str,
    wake: datetime | None,
    now: datetime,
    me: str,
    continuing: bool = False,
    resumed_at: datetime | None = None,
    latest: datetime | None = None,
) -> datetime | None | Covered:
    """A plan's next wake-up `wake` (None: nothing to wake for) with the run's wants folded in: the time to wake, None
    (the loop ends), or COVERED (another loop wakes first; this execution ends). `me` names the plan
    ("<started_at>#<loops>"); `continuing`: the execution hands over to a new one that starts at once; `resumed_at`:
    the journey was resumed then, so a loop of an execution started before it ends at its plan and covers nothing;
    `latest`: the execution wakes by then whatever it waits for (its horizon)."""
    for _ in range(ATTEMPTS):
        state = store.loop_state(app_id, journey_id, run_id)
        planned = min((t for t in (wake, state.want) if t is not None), default=None)
        if planned is not None:
            planned = max(min(planned, latest) if latest else planned, now)
        other = state.wake_at if state.by != me and _alive(state.by, resumed_at) else None
        if other is not None and now < other and (planned is None or other <= planned):
            return COVERED
        if planned is None:
            new = LoopState()
        elif continuing:  # the next execution starts now and plans for itself
            new = LoopState(wake_at=now, by=POKED)
        else:
            new = LoopState(wake_at=planned, by=me)
        if store.swap_loop_state(app_id, journey_id, run_id, state, new):
            return planned
    raise RuntimeError("the journey run's wake record kept changing")


def plan_name(started_at: str, loops: int) -> str:
    return f"{started_at}#{loops}"


def _alive(by: str | None, resumed_at: datetime | None) -> bool:
    if by is None or by == POKED or resumed_at is None:
        return True
    started = by.rsplit("#", 1)[0]
    try:
        return datetime.fromisoformat(started.replace("Z", "+00:00")) >= resumed_at
    except ValueError:
        return True
