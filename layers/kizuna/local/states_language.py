"""The Amazon States Language as the local interpreter (kizuna.local.step_functions) reads it: which definitions it
runs (`check` refuses the rest when a machine is created), and how a state's paths, payload templates, ResultPath,
Choice rules and Wait times evaluate against its input.

- Paths: `$`, `$.a.b`, `$.a[0]`, `$.a[*].b`, the context object (`$$.Execution.Id`, `$$.StateMachine.Id`,
  `$$.State.EnteredTime`, `$$.Map.Item.Value`, ...) and the intrinsic States.MathAdd. A path that is not in the input
  fails the execution with States.Runtime, as in Step Functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

LAMBDA_INVOKE = ":states:::lambda:invoke"
START_EXECUTION = ":states:::states:startExecution"
MAX_PAYLOAD_BYTES = 256 * 1024
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


def check(machine: dict[str, Any], where: str) -> None:
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
            check(state["ItemProcessor"], f"{where}: {name}'s item processor")
        for template in (state.get("Parameters"), state.get("ItemSelector"), state.get("ResultSelector")):
            _check_intrinsics(template, f"{where}: state {name}")


def _check_intrinsics(template: Any, where: str) -> None:
    if isinstance(template, dict):
        for key, value in template.items():
            found = _INTRINSIC.match(value) if key.endswith(".$") and isinstance(value, str) else None
            if found and found.group(1) != "MathAdd":
                raise ValueError(f"{where}: States.{found.group(1)} is not interpreted locally")
            _check_intrinsics(value, where)


def parameters(state: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
    return resolve(state["Parameters"], data, context) if "Parameters" in state else data


def resolve(template: Any, data: Any, context: dict[str, Any]) -> Any:
    """A payload template (Parameters, ItemSelector, ResultSelector): keys ending in `.$` take a path's value."""
    if isinstance(template, dict):
        return {
            key[:-2] if key.endswith(".$") else key: (
                evaluate(value, data, context) if key.endswith(".$") else resolve(value, data, context)
            )
            for key, value in template.items()
        }
    if isinstance(template, list):
        return [resolve(value, data, context) for value in template]
    return template


def evaluate(expression: str, data: Any, context: dict[str, Any]) -> Any:
    if expression.startswith("States."):
        return _intrinsic(expression, data, context)
    if expression.startswith("$$"):
        return _path(expression[1:], context, expression)
    return _path(expression, data, expression)


def _intrinsic(expression: str, data: Any, context: dict[str, Any]) -> Any:
    found = _INTRINSIC.match(expression)
    args = [a.strip() for a in found.group(2).split(",")] if found else []
    values = [evaluate(a, data, context) if a.startswith("$") else json.loads(a) for a in args]
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


def output(data: Any, state: dict[str, Any], context: dict[str, Any], result: Any) -> Any:
    """A state's output: the result through ResultSelector, placed into its input by ResultPath."""
    if "ResultSelector" in state:
        result = resolve(state["ResultSelector"], result, context)
    target = state.get("ResultPath", "$")
    if target is None:
        return data
    if target == "$":
        return result
    if not isinstance(data, dict):
        raise StatesError("States.Runtime", f"ResultPath {target} needs an object input")
    output = json_copy(data)
    *parents, last = target[2:].split(".")
    place = output
    for name in parents:
        place = place.setdefault(name, {})
    place[last] = result
    return output


def choose(state: dict[str, Any], data: Any) -> str:
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


def wait_until(state: dict[str, Any], data: Any, entered: datetime) -> datetime:
    if "Seconds" in state:
        return entered + timedelta(seconds=state["Seconds"])
    value = _path(state["TimestampPath"], data, state["TimestampPath"])
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise StatesError("States.Runtime", f"{state['TimestampPath']} is not a timestamp: {value!r}") from None


def array_of(value: Any, state: dict[str, Any]) -> list[Any]:
    if not isinstance(value, list):
        raise StatesError("States.Runtime", f"ItemsPath {state['ItemsPath']} is not an array")
    return value


def matches(errors: list[str], error: str) -> bool:
    return error in errors or ("States.ALL" in errors and error not in UNCATCHABLE)


def json_copy(value: Any) -> Any:
    """What crosses a state boundary is JSON (and at most 256 KiB), as in Step Functions."""
    text = json.dumps(value)
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise StatesError("States.DataLimitExceeded", f"{len(text.encode())} bytes exceed 256 KiB")
    return json.loads(text)
