"""CloudFormation's intrinsic functions, evaluated the way the stack would have evaluated them, so that a resource's
properties become the literal values Kizuna's API is sent.

What a reference is worth:
- a parameter: `--parameter NAME=VALUE`, else its Default; pseudo parameters (AWS::StackName, AWS::Region, ...)
  likewise, with the stack name and region of the migration;
- another Pinpoint resource of the template: the id Kizuna gives it (known once apply created it; until then a
  placeholder such as `<GetAtt Segment.SegmentId>`), and the resource is recorded as a dependency. A template's
  `Ref` is its TemplateName, known at once (template names are the same in Kizuna);
- an AWS::PinpointEmail configuration set or identity: its Name (what `Ref` returns);
- anything else (a Kinesis stream, an IAM role, an import): only what `--parameter Logical=...` or
  `--parameter Logical.Attribute=...` says; otherwise it is *missing*, and a human has to give it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PINPOINT = "AWS::Pinpoint::"
TEMPLATE_TYPES = ("SmsTemplate", "EmailTemplate", "PushTemplate", "InAppTemplate", "VoiceTemplate")
NAMED_BY_REF = ("AWS::PinpointEmail::ConfigurationSet", "AWS::PinpointEmail::Identity")
PSEUDO = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NotificationARNs": []}
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
_NO_VALUE = object()

# (logical id, attribute or None for Ref) → the value Kizuna gave it, or None while it is not created yet.
Outputs = Callable[[str, str | None], Any]


class Unresolvable(ValueError):
    """A function this command cannot evaluate, or one used wrongly."""


@dataclass
class Resolution:
    value: Any
    depends_on: set[str] = field(default_factory=set)  # Pinpoint resources of the template it refers to
    missing: set[str] = field(default_factory=set)  # names a human must give (--parameter NAME=VALUE)


class Resolver:
    def __init__(
        self,
        template: dict[str, Any],
        stack_name: str,
        region: str,
        parameters: dict[str, str],
        outputs: Outputs | None = None,
    ) -> None:
        self.resources: dict[str, dict[str, Any]] = template.get("Resources") or {}
        self.declared: dict[str, dict[str, Any]] = template.get("Parameters") or {}
        self.mappings: dict[str, Any] = template.get("Mappings") or {}
        self.conditions: dict[str, Any] = template.get("Conditions") or {}
        self.parameters = dict(parameters)
        self.pseudo = PSEUDO | {"AWS::StackName": stack_name, "AWS::Region": region}
        self.outputs = outputs or (lambda _id, _attribute: None)

    def resolve(self, value: Any) -> Resolution:
        result = Resolution(None)
        resolved = self._value(value, result)
        result.value = None if resolved is _NO_VALUE else resolved
        return result

    def condition(self, name: str) -> Resolution:
        """A resource's `Condition`: True, False, or None when it depends on something missing."""
        result = Resolution(None)
        result.value = self._condition(name, result, ())
        return result

    # -- evaluation --------------------------------------------------------------------------------------------------

    def _value(self, value: Any, out: Resolution) -> Any:
        if isinstance(value, list):
            items = [self._value(v, out) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref" or name.startswith("Fn::"):
                return self._function(name, argument, out)
        items = {k: self._value(v, out) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not _NO_VALUE}

    def _function(self, name: str, arg: Any, out: Resolution) -> Any:
        if name == "Ref":
            return self._ref(self._text(arg, out, name), out)
        if name == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else [self._text(a, out, name) for a in arg]
            if len(parts) != 2:
                raise Unresolvable(f"Fn::GetAtt needs [LogicalId, Attribute]; got {arg!r}")
            return self._get_att(parts[0], parts[1], out)
        if name == "Fn::Sub":
            return self._sub(arg, out)
        if name == "Fn::Join":
            delimiter, items = self._pair(arg, name)
            values = self._value(items, out)
            if not isinstance(values, list):
                raise Unresolvable(f"Fn::Join needs a list to join; got {values!r}")
            return self._text(delimiter, out, name).join(self._text(v, out, name) for v in values)
        if name == "Fn::Select":
            index, items = self._pair(arg, name)
            values = self._value(items, out)
            position = int(self._value(index, out))
            if not isinstance(values, list) or not 0 <= position < len(values):
                raise Unresolvable(f"Fn::Select index {position} is outside {values!r}")
            return values[position]
        if name == "Fn::Split":
            delimiter, text = self._pair(arg, name)
            return self._text(text, out, name).split(self._text(delimiter, out, name))
        if name == "Fn::FindInMap":
            keys = [self._text(k, out, name) for k in self._value(arg, out)[:3]]
            try:
                return self.mappings[keys[0]][keys[1]][keys[2]]
            except (KeyError, IndexError, TypeError):
                raise Unresolvable(f"Fn::FindInMap: no {'.'.join(keys)} in Mappings") from None
        if name == "Fn::Base64":
            return base64.b64encode(self._text(arg, out, name).encode()).decode()
        if name == "Fn::If":
            condition, when_true, when_false = arg
            chosen = self._condition(condition, out, ())
            if chosen is None:
                return f"<If {condition}>"
            return self._value(when_true if chosen else when_false, out)
        if name == "Fn::ImportValue":
            export = self._text(arg, out, name)
            return self._given(export, out, f"<ImportValue {export}>")
        raise Unresolvable(f"{name} is not supported by kizuna migrate")

    def _ref(self, target: str, out: Resolution) -> Any:
        if target == "AWS::NoValue":
            return _NO_VALUE
        if target in self.parameters:
            return self._parameter_value(target, self.parameters[target])
        if target in self.pseudo:
            return self.pseudo[target]
        if target in self.declared:
            declared = self.declared[target]
            if "Default" in declared:
                return self._parameter_value(target, declared["Default"])
            return self._given(target, out, f"<Ref {target}>")
        resource = self.resources.get(target)
        if resource is None:
            if target.startswith("AWS::"):
                return self._given(target, out, f"<Ref {target}>")
            raise Unresolvable(f"Ref {target}: no such parameter or resource in the template")
        kind = str(resource.get("Type", ""))
        if kind in NAMED_BY_REF:
            return self._value((resource.get("Properties") or {}).get("Name"), out)
        if kind.startswith(PINPOINT):
            out.depends_on.add(target)
            if kind.removeprefix(PINPOINT) in TEMPLATE_TYPES:
                return self._value((resource.get("Properties") or {}).get("TemplateName"), out)
            known = self.outputs(target, None)
            return f"<Ref {target}>" if known is None else known
        return self._given(target, out, f"<Ref {target}>")

    def _get_att(self, target: str, attribute: str, out: Resolution) -> Any:
        resource = self.resources.get(target)
        if resource is None:
            raise Unresolvable(f"Fn::GetAtt {target}.{attribute}: no such resource in the template")
        key = f"{target}.{attribute}"
        if key in self.parameters:
            return self.parameters[key]
        if str(resource.get("Type", "")).startswith(PINPOINT):
            out.depends_on.add(target)
            known = self.outputs(target, attribute)
            return f"<GetAtt {key}>" if known is None else known
        return self._given(key, out, f"<GetAtt {key}>")

    def _sub(self, arg: Any, out: Resolution) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else self._pair(arg, "Fn::Sub")
        values = {k: self._value(v, out) for k, v in (variables or {}).items()}

        def one(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in values:
                return self._text(values[name], out, "Fn::Sub")
            if "." in name and not name.startswith("AWS::"):
                target, attribute = name.split(".", 1)
                return self._text(self._get_att(target, attribute, out), out, "Fn::Sub")
            return self._text(self._ref(name, out), out, "Fn::Sub")

        return _SUB_VARIABLE.sub(one, self._text(text, out, "Fn::Sub")).replace("${!", "${")

    def _condition(self, name: Any, out: Resolution, seen: tuple[str, ...]) -> bool | None:
        if not isinstance(name, str) or name not in self.conditions:
            raise Unresolvable(f"condition {name!r} is not in the template's Conditions")
        if name in seen:
            raise Unresolvable(f"condition {name} refers to itself")
        return self._test(self.conditions[name], out, (*seen, name))

    def _test(self, expression: Any, out: Resolution, seen: tuple[str, ...]) -> bool | None:
        if not isinstance(expression, dict) or len(expression) != 1:
            raise Unresolvable(f"not a condition: {expression!r}")
        ((name, arg),) = expression.items()
        if name == "Condition":
            return self._condition(arg, out, seen)
        if name == "Fn::Equals":
            before = len(out.missing)
            left, right = (self._value(a, out) for a in arg)
            return None if len(out.missing) > before else str(left) == str(right)
        tests = [self._test(a, out, seen) for a in arg]
        if None in tests:
            return None
        if name == "Fn::Not":
            return not tests[0]
        if name == "Fn::And":
            return all(tests)
        if name == "Fn::Or":
            return any(tests)
        raise Unresolvable(f"{name} is not a condition function")

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _given(self, name: str, out: Resolution, placeholder: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        out.missing.add(name)
        return placeholder

    def _parameter_value(self, name: str, value: Any) -> Any:
        kind = str((self.declared.get(name) or {}).get("Type", "String"))
        if kind.startswith("List<") or kind == "CommaDelimitedList":
            return [v.strip() for v in str(value).split(",")] if not isinstance(value, list) else value
        return value

    def _text(self, value: Any, out: Resolution, where: str) -> str:
        value = self._value(value, out)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        raise Unresolvable(f"{where} needs a string here; got {value!r}")

    @staticmethod
    def _pair(arg: Any, where: str) -> tuple[Any, Any]:
        if not isinstance(arg, list) or len(arg) != 2:
            raise Unresolvable(f"{where} needs two arguments; got {arg!r}")
        return arg[0], arg[1]
