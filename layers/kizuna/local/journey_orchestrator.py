"""The journey state machine's loop in local mode, on the local scheduler: each loop invokes the journeys function
(the same handler Step Functions invokes) for every shard and for the plan, then schedules itself at the next
wake-up. The scheduler reads the clock port, so a simulation fast-forwards through a 540-day journey."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from kizuna.adapters.journey_orchestrators import execution_input
from kizuna.catalog import FUNCTIONS
from kizuna.clock import Clock
from kizuna.local.lambda_context import LocalLambdaContext


class LocalJourneyOrchestrator:
    """The state machine's loop on the local scheduler: each loop invokes the journeys function for every shard and
    for the plan, then schedules itself at the next wake-up (on the clock port, so a simulation fast-forwards)."""

    def __init__(self, scheduler: Any, invoke: Callable[[dict, Any], Any], clock: Clock) -> None:
        self._scheduler = scheduler
        self._invoke = invoke
        self._clock = clock

    def start(self, app_id: str, journey_id: str, run_id: str) -> None:
        state = execution_input(app_id, journey_id, run_id, self._clock.now())
        self._scheduler.at(self._clock.now(), lambda _event, _context: self._loop(state), name=_name(state))

    def _loop(self, state: dict[str, Any]) -> None:
        context = LocalLambdaContext("journeys", FUNCTIONS["journeys"].timeout_s)
        wakes = [
            self._invoke({**state, "action": "wake", "shard": shard}, context)["next_wake"] for shard in state["shards"]
        ]
        planned = self._invoke({**state, "action": "plan", "wakes": wakes}, context)
        if planned["done"]:
            return
        state = {**state, "loops": state["loops"] + 1}
        moment = datetime.fromisoformat(planned["next_wake"].replace("Z", "+00:00"))
        self._scheduler.cancel(_name(state))
        self._scheduler.at(moment, lambda _event, _context: self._loop(state), name=_name(state))


def _name(state: dict[str, Any]) -> str:
    return f"journey-{state['journey_id']}-{state['run_id']}"


def _name(state: dict[str, Any]) -> str:
    return f"journey-{state['journey_id']}-{state['run_id']}"
