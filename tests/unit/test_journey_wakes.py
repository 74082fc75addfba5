"""The run's wake record (kizuna.services.journey_wakes) as two executions and PutEvents meet it: an entry wakes a
sleeping run by starting one execution, a loop that is running reads the entry's wish at its plan, the execution a
poke superseded ends at its own wake-up, two loops waking together settle on one, a failed loop is noticed, and a
loop from before a resume covers nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kizuna.adapters.memory_participants import InMemoryOrchestrator, InMemoryParticipantStore
from kizuna.services.journey_wakes import COVERED, STALE, settle, want

T0 = datetime(2026, 12, 1, tzinfo=UTC)
RUN = ("app", "j1", "r1")


def world() -> tuple[InMemoryParticipantStore, InMemoryOrchestrator]:
    return InMemoryParticipantStore(), InMemoryOrchestrator()


def test_an_entry_wakes_a_run_sleeping_past_its_next_step_with_one_execution_that_then_carries_the_run():
    store, orchestrator = world()
    assert settle(store, *RUN, T0 + timedelta(days=10), T0, "A#0") == T0 + timedelta(days=10)  # A sleeps 10 days
    later = T0 + timedelta(hours=1)
    assert want(store, orchestrator, *RUN, later + timedelta(days=1), later) is True
    assert want(store, orchestrator, *RUN, later + timedelta(days=2), later) is False  # a loop is starting already
    assert len(orchestrator.starts) == 1
    # The new execution P plans: the entrant's wake-up (day 1) comes before A's (day 10), so P carries the run.
    assert settle(store, *RUN, T0 + timedelta(days=10), later, "P#0") == later + timedelta(days=1)
    # At day 1 P wakes and plans day 10 (A's participants): P now wakes then; A, waking then too, ends.
    day1 = later + timedelta(days=1)
    assert settle(store, *RUN, T0 + timedelta(days=10), day1, "P#1") == T0 + timedelta(days=10)
    assert settle(store, *RUN, T0 + timedelta(days=20), T0 + timedelta(days=10), "A#1") is not COVERED
    assert settle(store, *RUN, T0 + timedelta(days=20), T0 + timedelta(days=10), "P#2") is COVERED  # one loop left


def test_an_entry_while_a_loop_runs_starts_nothing_and_that_loops_plan_wakes_for_it():
    store, orchestrator = world()
    settle(store, *RUN, T0, T0 - timedelta(days=1), "A#0")  # A planned to wake at T0, and is running now
    assert want(store, orchestrator, *RUN, T0 + timedelta(hours=2), T0 + timedelta(seconds=5)) is False
    assert orchestrator.starts == []
    assert settle(store, *RUN, T0 + timedelta(days=3), T0 + timedelta(seconds=30), "A#1") == T0 + timedelta(hours=2)
    assert store.loop_state(*RUN).want is None  # read once


def test_an_entry_after_the_loop_due_soon_asks_it_and_a_covered_execution_leaves_the_wish_for_it():
    store, orchestrator = world()
    settle(store, *RUN, T0 + timedelta(hours=1), T0, "A#0")
    assert want(store, orchestrator, *RUN, T0 + timedelta(hours=3), T0) is False  # A wakes before it is needed
    # An execution started for another reason, whose next wake-up is later than A's, ends and leaves the wish.
    assert settle(store, *RUN, T0 + timedelta(hours=5), T0 + timedelta(minutes=1), "B#0") is COVERED
    assert settle(store, *RUN, None, T0 + timedelta(hours=1), "A#1") == T0 + timedelta(hours=3)


def test_a_loop_marked_running_long_ago_has_failed_and_the_next_entry_starts_one():
    store, orchestrator = world()
    settle(store, *RUN, T0, T0 - timedelta(hours=1), "A#0")
    assert want(store, orchestrator, *RUN, T0 + STALE, T0 + STALE + timedelta(minutes=1)) is True
    assert len(orchestrator.starts) == 1


def test_a_loop_with_nothing_to_do_ends_and_clears_the_record_so_the_next_entry_starts_one():
    store, orchestrator = world()
    assert settle(store, *RUN, None, T0, "A#0") is None
    assert want(store, orchestrator, *RUN, T0 + timedelta(days=1), T0 + timedelta(hours=1)) is True


def test_a_loop_of_an_execution_from_before_a_resume_covers_nothing():
    store, _ = world()
    stamp = "2026-12-01T00:00:00.000Z"
    settle(store, *RUN, T0 + timedelta(days=5), T0, f"{stamp}#0")  # the execution that was waiting when paused
    resumed = T0 + timedelta(days=1)
    resumed_stamp = "2026-12-02T00:00:00.000Z"
    planned = settle(store, *RUN, T0 + timedelta(days=6), resumed, f"{resumed_stamp}#0", resumed_at=resumed)
    assert planned == T0 + timedelta(days=6)  # not covered by the old execution, which ends at its plan


def test_a_continuing_execution_hands_the_run_to_its_successor_at_once():
    store, _ = world()
    assert settle(store, *RUN, T0 + timedelta(days=2), T0, "A#300", continuing=True) == T0 + timedelta(days=2)
    assert settle(store, *RUN, T0 + timedelta(days=2), T0 + timedelta(seconds=3), "C#0") == T0 + timedelta(days=2)


def test_a_failed_start_undoes_its_mark_so_the_retry_starts_one():
    store = InMemoryParticipantStore()

    class Refusing(InMemoryOrchestrator):
        def start(self, app_id: str, journey_id: str, run_id: str) -> None:
            raise RuntimeError("ThrottlingException")

    settle(store, *RUN, T0 + timedelta(days=10), T0, "A#0")
    try:
        want(store, Refusing(), *RUN, T0 + timedelta(days=1), T0)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the failure reaches PutEvents, which answers 500")
    orchestrator = InMemoryOrchestrator()
    assert want(store, orchestrator, *RUN, T0 + timedelta(days=1), T0 + timedelta(seconds=1)) is True
