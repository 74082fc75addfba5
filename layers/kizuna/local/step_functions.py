"""A small Amazon States Language interpreter for local mode: the subset the journey state machine
(kizuna.journey_state_machine) uses, run on the local scheduler so that its waits fast-forward with a virtual clock.

- States: Task (`lambda:invoke` of a registered function with Parameters → Payload, ResultSelector, ResultPath and
  Retry; `states:startExecution` of this state machine, which starts a new interpreted execution), Map (INLINE:
  ItemsPath, ItemSelector, ItemProcessor, MaxConcurrency, ResultPath), Choice (Variable with BooleanEquals,
  StringEquals, NumericEquals or IsPresent; Default), Wait (TimestampPath or Seconds), Pass (Parameters), Succeed.
  A definition using anything else is refused when the machine is created, so the two runners cannot drift apart.
- Paths, payload templates, ResultPath, Choice rules and Wait times evaluate as kizuna.local.states_language says.
- Billing: one state transition per state entered (an Inline Map's inner states once per iteration; the iterations
  themselves are not charged) and one per retry, the way Step Functions Standard bills them
  (https://aws.amazon.com/step-functions/pricing/, "Transitions" in the Step Functions developer guide).
- A Lambda error's name is its exception's class name; Retry matches it (States.ALL: any error but States.Runtime
  and States.DataLimitExceeded), waits IntervalSeconds × BackoffRate^attempt on the scheduler, and counts a
  transition. Payloads over 256 KiB fail with States.DataLimitExceeded. An execution whose wait would outlast a
  year from its start times out then, as a Standard one does.

Map iterations run one after another: MaxConcurrency only bounds AWS's parallelism, and a wake-up's result does not
depend on its shard's turn.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from kizuna.clock import Clock, iso
from kizuna.local import states_language as asl
from kizuna.local.states_language import LAMBDA_INVOKE, StatesError

log = logging.getLogger(__name__)

EXECUTION_LIFETIME = timedelta(days=365)


class Timers(Protocol):  # kizuna.local.runtime_scheduler.LocalScheduler
    def at(self, moment: datetime, target: Any, payload: dict | None = None, name: str | None = None) -> str: ...


@dataclass
class Execution:
    arn: str
    name: str
    input: Any
    started_at: datetime
    status: str = "RUNNING"  # SUCCEEDED | FAILED | TIMED_OUT
    entered: list[str] = field(default_factory=list)  # every state entered, in order (Map inner states included)
    retries: int = 0
    output: Any = None
    error: str | None = None
    cause: str | None = None
    stopped_at: datetime | None = None

    @property
    def transitions(self) -> int:
        """State transitions as Step Functions Standard bills them: each state entered and each retry."""
        return len(self.entered) + self.retries


class LocalStateMachine:
    def __init__(
        self,
        arn: str,
        definition: dict[str, Any],
        *,
        timers: Timers,
        clock: Clock,
        functions: Mapping[str, Callable[[Any], Any]],
    ) -> None:
        asl.check(definition, "the definition")
        self.arn, self.name = arn, arn.rsplit(":", 1)[-1]
        self.definition = definition
        self.executions: dict[str, Execution] = {}
        self._timers, self._clock, self._functions = timers, clock, dict(functions)
        self._lock = threading.Lock()

    @property
    def transitions(self) -> int:
        """Every execution's state transitions (what a month of these runs would be billed for)."""
        with self._lock:
            return sum(e.transitions for e in self.executions.values())

    def start_execution(self, execution_input: Any, name: str | None = None) -> Execution:
        """As StartExecution: the execution begins on the scheduler at once. The same name with the same input
        while running returns that execution; otherwise a known name is ExecutionAlreadyExists."""
        name = name or str(uuid.uuid4())
        data = asl.json_copy(execution_input)
        with self._lock:
            known = self.executions.get(name)
            if known is not None:
                if known.status == "RUNNING" and known.input == data:
                    return known
                raise StatesError("ExecutionAlreadyExists", f"execution {name} already exists")
            arn = f"{self.arn.replace(':stateMachine:', ':execution:')}:{name}"
            execution = self.executions[name] = Execution(arn, name, data, self._clock.now())
        steps = self._states(execution, self.definition, data, None)
        self._timers.at(execution.started_at, lambda _e, _c: self._step(execution, steps), name=arn)
        return execution

    # -- running ------------------------------------------------------------------------------------------------

    def _step(self, execution: Execution, steps: Generator[datetime, None, Any]) -> None:
        """Run the execution until it waits (then resume on the scheduler) or ends."""
        try:
            moment = next(steps)
        except StopIteration as done:
            self._end(execution, "SUCCEEDED", output=done.value)
            return
        except StatesError as exc:
            self._end(execution, "FAILED", error=exc.error, cause=exc.cause)
            return
        except Exception as exc:  # a fault of the interpreter itself: the execution fails, visibly
            log.exception("execution %s: interpreter fault", execution.name)
            self._end(execution, "FAILED", error="States.Runtime", cause=repr(exc))
            return
        deadline = execution.started_at + EXECUTION_LIFETIME
        if moment > deadline:
            self._timers.at(deadline, lambda _e, _c: self._time_out(execution, steps), name=execution.arn)
        else:
            self._timers.at(moment, lambda _e, _c: self._step(execution, steps), name=execution.arn)

    def _time_out(self, execution: Execution, steps: Generator[datetime, None, Any]) -> None:
        steps.close()
        self._end(execution, "TIMED_OUT", error="States.Timeout", cause="the execution lived a year")

    def _end(self, execution: Execution, status: str, **outcome: Any) -> None:
        execution.status, execution.stopped_at = status, self._clock.now()
        execution.output, execution.error, execution.cause = (outcome.get(k) for k in ("output", "error", "cause"))
        if status != "SUCCEEDED":  # what the state machine's alarm reports in AWS
            log.error("execution %s %s: %s %s", execution.name, status, execution.error, execution.cause)

    def _states(
        self, execution: Execution, machine: dict[str, Any], data: Any, item: dict[str, Any] | None
    ) -> Generator[datetime, None, Any]:
        """Run `machine` (the state machine or a Map's ItemProcessor) from its StartAt; yields the moments it waits
        until and returns its output."""
        name = machine["StartAt"]
        while True:
            state, entered = machine["States"][name], self._clock.now()
            execution.entered.append(name)
            context = self._context(execution, name, entered, item)
            kind = state["Type"]
            if kind == "Succeed":
                return data
            if kind == "Choice":
                name = asl.choose(state, data)
                continue
            if kind == "Pass":
                data = asl.output(data, state, context, asl.parameters(state, data, context))
            elif kind == "Wait":
                until = asl.wait_until(state, data, entered)
                if until > self._clock.now():
                    yield until
            elif kind == "Task":
                result = yield from self._task(execution, state, data, context)
                data = asl.output(data, state, context, result)
            else:  # Map
                results = []
                for index, value in enumerate(asl.array_of(asl.evaluate(state["ItemsPath"], data, context), state)):
                    iteration = {"Index": index, "Value": value}
                    selector = state.get("ItemSelector")
                    item_input = value if selector is None else asl.resolve(
                        selector, data, self._context(execution, name, entered, iteration)
                    )  # fmt: skip
                    results.append((yield from self._states(execution, state["ItemProcessor"], item_input, iteration)))
                data = asl.output(data, state, context, results)
            if state.get("End"):
                return data
            name = state["Next"]

    def _task(
        self, execution: Execution, state: dict[str, Any], data: Any, context: dict[str, Any]
    ) -> Generator[datetime, None, Any]:
        parameters = asl.parameters(state, data, context)
        retriers = state.get("Retry", [])
        attempts = [0] * len(retriers)
        while True:
            try:
                return self._call(state["Resource"], parameters)
            except StatesError as exc:
                index = next((i for i, r in enumerate(retriers) if asl.matches(r["ErrorEquals"], exc.error)), None)
                if index is None or attempts[index] >= retriers[index].get("MaxAttempts", 3):
                    raise
                retrier = retriers[index]
                delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** attempts[index]
                attempts[index] += 1
                execution.retries += 1  # each retry is a billed transition
                log.warning("execution %s: %s, retry %d in %s s", execution.name, exc, attempts[index], delay)
                yield self._clock.now() + timedelta(seconds=delay)

    def _call(self, resource: str, parameters: dict[str, Any]) -> Any:
        if resource.endswith(LAMBDA_INVOKE):
            function = self._functions.get(parameters["FunctionName"])
            if function is None:
                raise StatesError("Lambda.ResourceNotFoundException", f"no function {parameters['FunctionName']}")
            payload = asl.json_copy(parameters.get("Payload", {}))
            try:
                answer = function(payload)
            except Exception as exc:  # as Lambda reports an unhandled error: errorType = the exception's class
                log.warning("function %s raised", parameters["FunctionName"], exc_info=True)
                raise StatesError(type(exc).__name__, str(exc)) from exc
            return {"ExecutedVersion": "$LATEST", "Payload": asl.json_copy(answer), "StatusCode": 200}
        # states:startExecution (only this state machine is known here)
        if parameters.get("StateMachineArn") != self.arn:
            raise StatesError("StepFunctions.StateMachineDoesNotExistException", str(parameters.get("StateMachineArn")))
        given = parameters.get("Input", {})
        started = self.start_execution(json.loads(given) if isinstance(given, str) else given, parameters.get("Name"))
        return {"ExecutionArn": started.arn, "StartDate": iso(started.started_at)}

    def _context(
        self, execution: Execution, state: str, entered: datetime, item: dict[str, Any] | None
    ) -> dict[str, Any]:
        context = {
            "Execution": {"Id": execution.arn, "Name": execution.name, "Input": execution.input,
                          "StartTime": iso(execution.started_at)},
            "StateMachine": {"Id": self.arn, "Name": self.name},
            "State": {"Name": state, "EnteredTime": iso(entered)},
        }  # fmt: skip
        return context | ({"Map": {"Item": item}} if item is not None else {})
