"""A small Amazon States Language interpreter for local mode: the subset the journey state machine
(kizuna.journey_state_machine) uses, run on the local scheduler so that its waits fast-forward with a virtual clock.

- States: Task (`lambda:invoke` of a registered function with Parameters → Payload, ResultSelector, ResultPath and
  Retry; `states:startExecution` of this state machine, which starts a new interpreted execution), Map (INLINE:
  ItemsPath, ItemSelector, ItemProcessor, MaxConcurrency, ResultPath), Choice (Variable with BooleanEquals,
  StringEquals, NumericEquals or IsPresent; Default), Wait (TimestampPath or Seconds), Pass (Parameters), Succeed.
  A definition using anything else is refused when the machine is created, so the two runners cannot drift apart.
- Paths: `$`, `$.a.b`, `$.a[0]`, `$.a[*].b`, the context object (`$$.Execution.Id`, `$$.StateMachine.Id`,
  `$$.State.EnteredTime`, `$$.Map.Item.Value`, ...) and the intrinsic States.MathAdd. A path that is not in the input
  fails the execution with States.Runtime, as in Step Functions.
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
import re
import threading
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from kizuna.clock import Clock, iso

log = logging.getLogger(__name__)

LAMBDA_INVOKE = ":states:::lambda:invoke"
START_EXECUTION = ":states:::states:startExecution"
MAX_PAYLOAD_BYTES = 256 * 1024
EXECUTION_LIFETIME = timedelta(days=365)
UNCATCHABLE = frozenset({"States.Runtime", "States.DataLimitExceeded"})
COMMON_FIELDS = frozenset({"Type", "Comment", "Next", "End"})
FIELDS = {
    "Task": {"Resource", "Parameters", "ResultSelector", "ResultPath", "Retry"},
    "Map": {"ItemsPath", "ItemSelector", "ItemProcessor", "MaxConcurrency", "ResultPath"},
    "Choice": {"Choices", "Default"},
    "Wait": {"TimestampPath", "Seconds"},
    "Pass": {"Parameters"},
    "Succeed": set(),
}
COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "BooleanEquals": lambda value, wanted: isinstance(value, bool) and value == wanted,
    "StringEquals": lambda value, wanted: isinstance(value, str) and value == wanted,
    "NumericEquals": lambda value, wanted: (
        isinstance(value, int | float) and not isinstance(value, bool) and value == wanted
    ),
}
RETRIER_FIELDS = frozenset({"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate"})
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")
_INTRINSIC = re.compile(r"^States\.(\w+)\((.*)\)$")
_RESULT_PATH = re.compile(r"^\$(\.\w+)*$")


class StatesError(Exception):
    """An error as Step Functions names it (States.Runtime, a Lambda exception's class name, ...)."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error, self.cause = error, cause


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
        _check(definition, "the definition")
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
        data = _json_copy(execution_input)
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
                name = _choose(state, data)
                continue
            if kind == "Pass":
                data = _output(data, state, context, _parameters(state, data, context))
            elif kind == "Wait":
                until = _wait_until(state, data, entered)
                if until > self._clock.now():
                    yield until
            elif kind == "Task":
                result = yield from self._task(execution, state, data, context)
                data = _output(data, state, context, result)
            else:  # Map
                results = []
                for index, value in enumerate(_array(_evaluate(state["ItemsPath"], data, context), state)):
                    iteration = {"Index": index, "Value": value}
                    selector = state.get("ItemSelector")
                    item_input = value if selector is None else _resolve(
                        selector, data, self._context(execution, name, entered, iteration)
                    )  # fmt: skip
                    results.append((yield from self._states(execution, state["ItemProcessor"], item_input, iteration)))
                data = _output(data, state, context, results)
            if state.get("End"):
                return data
            name = state["Next"]

    def _task(
        self, execution: Execution, state: dict[str, Any], data: Any, context: dict[str, Any]
    ) -> Generator[datetime, None, Any]:
        parameters = _parameters(state, data, context)
        retriers = state.get("Retry", [])
        attempts = [0] * len(retriers)
        while True:
            try:
                return self._call(state["Resource"], parameters)
            except StatesError as exc:
                index = next((i for i, r in enumerate(retriers) if _matches(r["ErrorEquals"], exc.error)), None)
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
            payload = _json_copy(parameters.get("Payload", {}))
            try:
                answer = function(payload)
            except Exception as exc:  # as Lambda reports an unhandled error: errorType = the exception's class
                log.warning("function %s raised", parameters["FunctionName"], exc_info=True)
                raise StatesError(type(exc).__name__, str(exc)) from exc
            return {"ExecutedVersion": "$LATEST", "Payload": _json_copy(answer), "StatusCode": 200}
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


# -- the language -----------------------------------------------------------------------------------------------


def _check(machine: dict[str, Any], where: str) -> None:
    """Refuse what this interpreter does not run (rather than running it differently from Step Functions)."""
    states = machine.get("States") or {}
    if machine.get("StartAt") not in states:
        raise ValueError(f"{where}: StartAt names no state")
    for name, state in states.items():
        kind = state.get("Type")
        unknown = set(state) - COMMON_FIELDS - FIELDS.get(kind, set())
        if kind not in FIELDS or unknown:
            raise ValueError(f"{where}: state {name}: {kind} with {sorted(unknown)} is not interpreted locally")
        targets = [state.get("Next"), state.get("Default"), *(c.get("Next") for c in state.get("Choices", []))]
        if any(t is not None and t not in states for t in targets):
            raise ValueError(f"{where}: state {name} goes to a state that does not exist")
        if kind == "Task" and not state["Resource"].endswith((LAMBDA_INVOKE, START_EXECUTION)):
            raise ValueError(f"{where}: state {name}: resource {state['Resource']} is not interpreted locally")
        if state.get("ResultPath", "$") is not None and not _RESULT_PATH.match(state.get("ResultPath", "$")):
            raise ValueError(f"{where}: state {name}: ResultPath {state['ResultPath']} is not interpreted locally")
        if any(set(r) - RETRIER_FIELDS for r in state.get("Retry", [])):
            raise ValueError(f"{where}: state {name}: a retrier field is not interpreted locally")
        for rule in state.get("Choices", []):
            if set(rule) - {"Variable", "Next", "IsPresent", *COMPARATORS}:
                raise ValueError(f"{where}: state {name}: a choice rule is not interpreted locally")
        if kind == "Map":
            if (state["ItemProcessor"].get("ProcessorConfig") or {}).get("Mode", "INLINE") != "INLINE":
                raise ValueError(f"{where}: state {name}: only an INLINE Map is interpreted locally")
            _check(state["ItemProcessor"], f"{where}: {name}'s item processor")
        for template in (state.get("Parameters"), state.get("ItemSelector"), state.get("ResultSelector")):
            _check_intrinsics(template, f"{where}: state {name}")


def _check_intrinsics(template: Any, where: str) -> None:
    if isinstance(template, dict):
        for key, value in template.items():
            found = _INTRINSIC.match(value) if key.endswith(".$") and isinstance(value, str) else None
            if found and found.group(1) != "MathAdd":
                raise ValueError(f"{where}: States.{found.group(1)} is not interpreted locally")
            _check_intrinsics(value, where)


def _parameters(state: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
    return _resolve(state["Parameters"], data, context) if "Parameters" in state else data


def _resolve(template: Any, data: Any, context: dict[str, Any]) -> Any:
    """A payload template (Parameters, ItemSelector, ResultSelector): keys ending in `.$` take a path's value."""
    if isinstance(template, dict):
        return {
            key[:-2] if key.endswith(".$") else key: (
                _evaluate(value, data, context) if key.endswith(".$") else _resolve(value, data, context)
            )
            for key, value in template.items()
        }
    if isinstance(template, list):
        return [_resolve(value, data, context) for value in template]
    return template


def _evaluate(expression: str, data: Any, context: dict[str, Any]) -> Any:
    if expression.startswith("States."):
        return _intrinsic(expression, data, context)
    if expression.startswith("$$"):
        return _path(expression[1:], context, expression)
    return _path(expression, data, expression)


def _intrinsic(expression: str, data: Any, context: dict[str, Any]) -> Any:
    found = _INTRINSIC.match(expression)
    args = [a.strip() for a in found.group(2).split(",")] if found else []
    values = [_evaluate(a, data, context) if a.startswith("$") else json.loads(a) for a in args]
    if not found or found.group(1) != "MathAdd" or len(values) != 2 or not all(type(v) is int for v in values):
        raise StatesError("States.Runtime", f"cannot evaluate {expression}")
    return values[0] + values[1]


def _path(expression: str, value: Any, shown: str) -> Any:
    if not expression.startswith("$"):
        raise StatesError("States.Runtime", f"{shown} is not a path")
    rest, steps = expression[1:], []
    while rest:
        step = _STEP.match(rest)
        if step is None:
            raise StatesError("States.Runtime", f"the JSONPath {shown} is not interpreted locally")
        steps.append(step.groups())
        rest = rest[step.end() :]
    return _walk(value, steps, shown)


def _walk(value: Any, steps: list[tuple[str | None, str | None]], shown: str) -> Any:
    for position, (name, index) in enumerate(steps):
        if index == "*":
            if not isinstance(value, list):
                raise StatesError("States.Runtime", f"the JSONPath {shown} could not be found in the input")
            found = []
            for element in value:  # as Jayway JsonPath: elements without the rest of the path are left out
                try:
                    found.append(_walk(element, steps[position + 1 :], shown))
                except StatesError:
                    continue
            return found
        if name is not None and isinstance(value, dict) and name in value:
            value = value[name]
        elif index is not None and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            raise StatesError("States.Runtime", f"the JSONPath {shown} could not be found in the input")
    return value


def _output(data: Any, state: dict[str, Any], context: dict[str, Any], result: Any) -> Any:
    """A state's output: the result through ResultSelector, placed into its input by ResultPath."""
    if "ResultSelector" in state:
        result = _resolve(state["ResultSelector"], result, context)
    target = state.get("ResultPath", "$")
    if target is None:
        return data
    if target == "$":
        return result
    if not isinstance(data, dict):
        raise StatesError("States.Runtime", f"ResultPath {target} needs an object input")
    output = _json_copy(data)
    *parents, last = target[2:].split(".")
    place = output
    for name in parents:
        place = place.setdefault(name, {})
    place[last] = result
    return output


def _choose(state: dict[str, Any], data: Any) -> str:
    for rule in state["Choices"]:
        variable = rule["Variable"]
        if "IsPresent" in rule:
            try:
                _path(variable, data, variable)
                present = True
            except StatesError:
                present = False
            if present == rule["IsPresent"]:
                return rule["Next"]
            continue
        value = _path(variable, data, variable)  # absent: States.Runtime, as Step Functions
        [comparator] = [k for k in rule if k in COMPARATORS]
        if COMPARATORS[comparator](value, rule[comparator]):
            return rule["Next"]
    if "Default" not in state:
        raise StatesError("States.NoChoiceMatched", "no choice rule matched and there is no Default")
    return state["Default"]


def _wait_until(state: dict[str, Any], data: Any, entered: datetime) -> datetime:
    if "Seconds" in state:
        return entered + timedelta(seconds=state["Seconds"])
    value = _path(state["TimestampPath"], data, state["TimestampPath"])
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise StatesError("States.Runtime", f"{state['TimestampPath']} is not a timestamp: {value!r}") from None


def _array(value: Any, state: dict[str, Any]) -> list[Any]:
    if not isinstance(value, list):
        raise StatesError("States.Runtime", f"ItemsPath {state['ItemsPath']} is not an array")
    return value


def _matches(errors: list[str], error: str) -> bool:
    return error in errors or ("States.ALL" in errors and error not in UNCATCHABLE)


def _json_copy(value: Any) -> Any:
    """What crosses a state boundary is JSON (and at most 256 KiB), as in Step Functions."""
    text = json.dumps(value)
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise StatesError("States.DataLimitExceeded", f"{len(text.encode())} bytes exceed 256 KiB")
    return json.loads(text)
