"""The JourneyOrchestrator port in local mode: the journey state machine that Step Functions runs in AWS — the same
Amazon States Language document, kizuna.journey_state_machine — interpreted on the local scheduler
(kizuna.local.step_functions). Its tasks invoke the journeys function's handler in-process; its Wait states and
retry intervals are one-time schedules on the clock port, so a simulation fast-forwards through a 540-day journey;
a continue-as-new starts a new interpreted execution. `transitions` counts what Step Functions would bill."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from kizuna.adapters.journey_orchestrators import execution_input
from kizuna.catalog import FUNCTIONS
from kizuna.clock import Clock, VirtualClock
from kizuna.journey_state_machine import definition
from kizuna.local.lambda_context import LOCAL_ACCOUNT_ID, LocalLambdaContext, local_region
from kizuna.local.states_language import StatesError
from kizuna.local.step_functions import Execution, LocalStateMachine

STATE_MACHINE_NAME = "kizuna-journeys"


class LocalJourneyOrchestrator:
    def __init__(self, scheduler: Any, invoke: Callable[[dict, Any], Any], clock: Clock) -> None:
        region = local_region()
        function_arn = f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:journeys"
        self._invoke, self._clock = invoke, clock
        self.state_machine = LocalStateMachine(
            f"arn:aws:states:{region}:{LOCAL_ACCOUNT_ID}:stateMachine:{STATE_MACHINE_NAME}",
            definition(function_arn, "aws"),
            timers=scheduler,
            clock=clock,
            functions={function_arn: self._journeys},
        )

    def start(self, app_id: str, journey_id: str, run_id: str) -> None:
        now = self._clock.now()
        # As StepFunctionsOrchestrator: one execution name per (run, start), a retried start is the same execution.
        name = f"{journey_id}-{run_id}-{now:%Y%m%d%H%M%S}"
        try:
            self.state_machine.start_execution(execution_input(app_id, journey_id, run_id, now), name)
        except StatesError as exc:
            if exc.error != "ExecutionAlreadyExists":
                raise

    @property
    def transitions(self) -> int:
        return self.state_machine.transitions

    @property
    def executions(self) -> list[Execution]:
        return list(self.state_machine.executions.values())

    def _journeys(self, event: dict) -> Any:
        spec = FUNCTIONS["journeys"]
        return self._invoke(event, LocalLambdaContext("journeys", spec.timeout_s, spec.memory_mb))


def fast_forward(
    scheduler: Any, clock: VirtualClock, until: datetime, meanwhile: Callable[[datetime], None] | None = None
) -> None:
    """Fire everything due on the scheduler up to `until`, moving a virtual clock to each moment in turn;
    `meanwhile(moment)` runs first (what happens before that moment: sends, deliveries) and may move the clock, never
    past it. The clock is left at `until`."""
    while (due := scheduler.next_due()) is not None and due <= until:
        if meanwhile is not None:
            meanwhile(due)
        if due > clock.now():
            clock.advance(due - clock.now())
        scheduler.run_due()
    if meanwhile is not None:
        meanwhile(until)
    if until > clock.now():
        clock.advance(until - clock.now())
