"""The journey state machine's one definition (kizuna.journey_state_machine), interpreted as local mode runs it
(kizuna.local.step_functions on the local scheduler and a virtual clock): a scripted journeys function answers the
wake-ups and plans, and the tests check what Step Functions would do with the same document — the Map over 16
shards, the Wait until the plan's next wake-up, continue-as-new, retries — and the state transitions it would bill.
The last test runs the real engine through it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import VirtualClock, iso
from kizuna.journey_state_machine import definition
from kizuna.local.journey_orchestrator import LocalJourneyOrchestrator, fast_forward
from kizuna.local.runtime_scheduler import LocalScheduler
from kizuna.local.step_functions import LocalStateMachine
from kizuna.services import journey_runs
from tests.unit.journey_harness import Setup, sms

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RUN = ("app", "journey", "r1")
LOOP = ["Shards", *["WakeShard"] * ENDPOINT_SHARDS, "Plan", "Next"]  # every wake-up's states


class ScriptedJourneys:
    """The journeys function's contract with the state machine, scripted: each plan answers the next entry of
    `plans` (a callable gets the plan event); wakes answer `next_wake(shard)`; `fail` raises on chosen calls."""

    def __init__(self, clock: VirtualClock, plans: list, next_wake=lambda shard: None, fail=lambda event: False):
        self.clock, self.plans, self.next_wake, self.fail = clock, list(plans), next_wake, fail
        self.calls: list[tuple[datetime, dict]] = []

    def __call__(self, event: dict, context) -> dict:
        self.calls.append((self.clock.now(), event))
        if self.fail(event):
            raise RuntimeError("DynamoDB throttled the wake-up")
        if event["action"] == "wake":
            return {"next_wake": self.next_wake(event["shard"])}
        answer = self.plans.pop(0)
        return answer(event) if callable(answer) else answer

    def of(self, action: str) -> list[tuple[datetime, dict]]:
        return [(at, e) for at, e in self.calls if e["action"] == action]


def engine(plans: list, **script) -> tuple[VirtualClock, LocalScheduler, LocalJourneyOrchestrator, ScriptedJourneys]:
    clock = VirtualClock(START)
    scheduler = LocalScheduler(clock, schedules=[])
    journeys = ScriptedJourneys(clock, plans, **script)
    return clock, scheduler, LocalJourneyOrchestrator(scheduler, journeys, clock), journeys


def later(**delta) -> dict:
    return {"done": False, "next_wake": iso(START + timedelta(**delta)), "continue": False}


def test_the_map_wakes_the_16_shards_and_the_plan_gets_their_answers():
    clock, scheduler, orchestrator, journeys = engine(
        [{"done": True}], next_wake=lambda shard: iso(START + timedelta(hours=shard)) if shard % 2 else None
    )
    orchestrator.start(*RUN)
    fast_forward(scheduler, clock, START)
    wakes = journeys.of("wake")
    assert [e["shard"] for _, e in wakes] == list(range(ENDPOINT_SHARDS))
    assert all(e == {"app_id": "app", "journey_id": "journey", "run_id": "r1", "action": "wake", "shard": e["shard"]}
               for _, e in wakes)  # fmt: skip
    [(_, planned)] = journeys.of("plan")
    assert planned["wakes"] == [iso(START + timedelta(hours=s)) if s % 2 else None for s in range(ENDPOINT_SHARDS)]
    assert (planned["loops"], planned["started_at"]) == (0, iso(START))


def test_the_execution_waits_until_next_wake_and_counts_the_loop():
    clock, scheduler, orchestrator, journeys = engine([later(days=1), later(days=3), {"done": True}])
    orchestrator.start(*RUN)
    fast_forward(scheduler, clock, START + timedelta(days=1) - timedelta(seconds=1))
    assert len(journeys.of("plan")) == 1  # still waiting
    fast_forward(scheduler, clock, START + timedelta(days=5))
    plans = journeys.of("plan")
    assert [at for at, _ in plans] == [START, START + timedelta(days=1), START + timedelta(days=3)]
    assert [e["loops"] for _, e in plans] == [0, 1, 2]
    assert {e["started_at"] for _, e in plans} == {iso(START)}
    [execution] = orchestrator.executions
    assert execution.status == "SUCCEEDED" and execution.stopped_at == START + timedelta(days=3)


def test_continue_starts_a_new_execution_with_loops_reset_which_wakes_at_once():
    clock, scheduler, orchestrator, journeys = engine(
        [later(days=1), {"done": False, "next_wake": iso(START + timedelta(days=2)), "continue": True},
         {"done": True}]
    )  # fmt: skip
    orchestrator.start(*RUN)
    fast_forward(scheduler, clock, START + timedelta(days=3))
    first, second = orchestrator.executions
    assert first.status == second.status == "SUCCEEDED"
    assert first.entered[-2:] == ["ContinueAsNew", "Continued"]
    continued_at = START + timedelta(days=1)
    assert second.started_at == continued_at
    assert second.input == {
        "app_id": "app", "journey_id": "journey", "run_id": "r1", "shards": list(range(ENDPOINT_SHARDS)),
        "loops": 0, "started_at": iso(continued_at), "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": first.arn,
    }  # fmt: skip
    plans = journeys.of("plan")
    assert [(at, e["loops"], e["started_at"]) for at, e in plans] == [
        (START, 0, iso(START)), (continued_at, 1, iso(START)), (continued_at, 0, iso(continued_at))
    ]  # fmt: skip


def test_done_succeeds_and_transitions_are_counted_as_step_functions_bills_them():
    clock, scheduler, orchestrator, journeys = engine([later(hours=6), {"done": True}])
    orchestrator.start(*RUN)
    fast_forward(scheduler, clock, START + timedelta(days=1))
    [execution] = orchestrator.executions
    assert execution.status == "SUCCEEDED"
    assert execution.entered == [*LOOP, "UntilNextWake", "CountLoop", *LOOP, "Done"]
    # A wake-up that waits is 21 transitions (Map, 16 tasks, plan, choice, wait, pass); the last is 20.
    assert execution.transitions == orchestrator.transitions == 21 + 20


def test_a_raised_error_is_retried_after_the_interval_and_each_retry_is_a_transition():
    failures = {"left": 2}

    def flaky(event: dict) -> bool:
        if event["action"] == "wake" and event["shard"] == 3 and failures["left"]:
            failures["left"] -= 1
            return True
        return False

    clock, scheduler, orchestrator, journeys = engine([{"done": True}], fail=flaky)
    orchestrator.start(*RUN)
    fast_forward(scheduler, clock, START + timedelta(minutes=1))
    shard_3 = [at for at, e in journeys.of("wake") if e["shard"] == 3]
    assert shard_3 == [START, START + timedelta(seconds=5), START + timedelta(seconds=15)]  # 5 s, then 10 s
    [execution] = orchestrator.executions
    assert execution.status == "SUCCEEDED" and execution.retries == 2
    assert execution.transitions == 20 + 2


def test_an_error_that_outlasts_its_retries_fails_the_execution():
    clock, scheduler, orchestrator, journeys = engine([], fail=lambda event: event["action"] == "wake")
    orchestrator.start(*RUN)
    fast_forward(scheduler, clock, START + timedelta(hours=1))
    [execution] = orchestrator.executions
    assert (execution.status, execution.error) == ("FAILED", "RuntimeError")
    assert len(journeys.of("wake")) == 1 + 4  # the first attempt and States.ALL's four retries, then the Map fails
    assert execution.stopped_at == START + timedelta(seconds=5 + 10 + 20 + 40)


def test_a_plan_missing_a_field_the_choice_reads_fails_with_states_runtime_and_no_retry():
    clock, scheduler, orchestrator, journeys = engine([{"next_wake": None}])
    orchestrator.start(*RUN)
    fast_forward(scheduler, clock, START + timedelta(minutes=1))
    [execution] = orchestrator.executions
    assert (execution.status, execution.error, execution.retries) == ("FAILED", "States.Runtime", 0)


def test_an_execution_waiting_past_a_year_times_out_as_a_standard_one():
    clock, scheduler, orchestrator, _ = engine([later(days=400)])
    orchestrator.start(*RUN)
    fast_forward(scheduler, clock, START + timedelta(days=500))
    [execution] = orchestrator.executions
    assert (execution.status, execution.stopped_at) == ("TIMED_OUT", START + timedelta(days=365))


def test_the_same_start_twice_is_one_execution():
    clock, scheduler, orchestrator, _ = engine([{"done": True}])
    orchestrator.start(*RUN)
    orchestrator.start(*RUN)
    fast_forward(scheduler, clock, START + timedelta(minutes=1))
    assert len(orchestrator.executions) == 1


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ({"Type": "Parallel", "Branches": [], "End": True}, "Parallel"),
        ({"Type": "Pass", "Catch": [], "End": True}, "Catch"),
        ({"Type": "Pass", "Parameters": {"x.$": "States.Format('{}', $.a)"}, "End": True}, "States.Format"),
        ({"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}, "sqs:sendMessage"),
    ],
)
def test_a_definition_using_what_the_interpreter_does_not_run_is_refused(state, why):
    clock = VirtualClock(START)
    with pytest.raises(ValueError, match="not interpreted locally"):
        LocalStateMachine("arn:aws:states:us-east-1:1:stateMachine:x", {"StartAt": "S", "States": {"S": state}},
                          timers=LocalScheduler(clock, schedules=[]), clock=clock, functions={})  # fmt: skip


def test_the_definition_interprets_as_is():
    clock = VirtualClock(START)
    LocalStateMachine("arn:aws:states:us-east-1:1:stateMachine:x", definition("arn:aws:lambda:f", "aws"),
                      timers=LocalScheduler(clock, schedules=[]), clock=clock, functions={})  # fmt: skip


def test_the_real_engine_through_the_interpreter_sends_waits_sends_and_completes():
    # Given the engine over in-memory ports, and the interpreter invoking it as the journeys function does
    s = Setup()
    scheduler = LocalScheduler(s.clock, schedules=[])

    def journeys_function(event: dict, context) -> dict:  # functions/journeys/handler.py, over these deps
        app_id, journey_id, run_id = event["app_id"], event["journey_id"], event["run_id"]
        if event["action"] == "wake":
            return {"next_wake": journey_runs.wake_shard(s.deps, app_id, journey_id, run_id, int(event["shard"]))}
        return journey_runs.plan(s.deps, app_id, journey_id, run_id, event["wakes"], event["loops"],
                                 event["started_at"])  # fmt: skip

    orchestrator = LocalJourneyOrchestrator(scheduler, journeys_function, s.clock)
    s.deps.orchestrator = orchestrator
    # When a journey SMS → wait a day → SMS is published and the scheduler runs for two days
    journey = s.publish(
        {"hello": sms("welcome", "wait"), "wait": {"Wait": {"WaitTime": {"WaitFor": "P1D"}, "NextActivity": "bye"}},
         "bye": sms("thanks")},
        "hello",
    )  # fmt: skip
    fast_forward(scheduler, s.clock, s.start + timedelta(days=2))
    # Then each endpoint got both messages, the second a day later, and the journey completed in one execution
    assert sorted(m.body for m in s.sent()) == ["ありがとう"] * 6 + ["ようこそ"] * 6
    assert {m.accepted_at for m in s.sent() if m.body == "ありがとう"} == {iso(s.start + timedelta(days=1))}
    assert s.journeys.get_journey(s.app_id, journey["Id"])["State"] == "COMPLETED"
    [execution] = orchestrator.executions
    assert execution.status == "SUCCEEDED" and execution.transitions == 21 + 20
