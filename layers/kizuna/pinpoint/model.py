"""Pinpoint's REST API, described by botocore's shipped service model rather than hand-copied classes.

The model gives each operation's HTTP method, URI template, success status and input/output shapes. Requests are
bound to an operation's input shape (URI, query string and JSON payload) and validated with botocore's own
ParamValidator, plus enum checks it does not do; responses are wrapped in the output shape's payload member.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import botocore.loaders
import botocore.model
import botocore.validate

from kizuna.errors import BadRequest

SERVICE_NAME = "pinpoint"


@cache
def model_data() -> dict[str, Any]:
    """botocore's Pinpoint service-2 model with Kizuna's extensions (extensions.json) merged in."""
    loader = botocore.loaders.Loader()
    data = loader.load_service_model(SERVICE_NAME, "service-2")
    extensions = json.loads(resources.files(__package__).joinpath("extensions.json").read_text("utf-8"))
    for shape_name, values in extensions["enums"].items():
        shape = data["shapes"].get(shape_name)
        if shape is not None and "enum" in shape:
            shape["enum"] = [*shape["enum"], *[v for v in values if v not in shape["enum"]]]
    for name, shape in extensions.get("shapes", {}).items():
        if name in data["shapes"]:
            raise ValueError(f"extension shape {name} would replace Pinpoint's")
        data["shapes"][name] = shape
    # New members of Pinpoint's own shapes (e.g. DirectMessageConfiguration.WhatsAppMessage), never replacing one.
    for shape_name, members in extensions.get("members", {}).items():
        existing = data["shapes"][shape_name]["members"]
        for member, spec in members.items():
            if member in existing:
                raise ValueError(f"extension member {shape_name}.{member} would replace Pinpoint's")
            existing[member] = spec
    for name, op in extensions.get("operations", {}).items():
        if name in data["operations"]:
            raise ValueError(f"extension operation {name} would replace Pinpoint's")
        data["operations"][name] = op
    return data


@cache
def service_model() -> botocore.model.ServiceModel:
    return botocore.model.ServiceModel(model_data(), service_name=SERVICE_NAME)


def is_extension(operation_name: str) -> bool:
    """True for Kizuna's own operations, which the stock boto3 pinpoint client does not have."""
    return operation_name not in botocore.loaders.Loader().load_service_model(SERVICE_NAME, "service-2")["operations"]


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    uri: str  # e.g. /v1/apps/{application-id}/endpoints/{endpoint-id}
    status: int
    model: botocore.model.OperationModel

    @property
    def route(self) -> str:
        """The URI template in Powertools' route syntax: /v1/apps/<application_id>."""
        return re.sub(r"\{([^}+]+)\+?\}", lambda m: f"<{m.group(1).replace('-', '_')}>", self.uri)

    @property
    def payload_member(self) -> str | None:
        shape = self.model.input_shape
        return _payload_member(shape) if shape is not None else None

    @property
    def output_member(self) -> str | None:
        shape = self.model.output_shape
        return _payload_member(shape) if shape is not None else None


def _payload_member(shape: botocore.model.StructureShape) -> str | None:
    payload = shape.serialization.get("payload")
    if payload:
        return payload
    body_members = [n for n, m in shape.members.items() if "location" not in m.serialization]
    return body_members[0] if len(body_members) == 1 else None


@cache
def operation(name: str) -> Operation:
    model = service_model().operation_model(name)
    http = model.http
    uri = http["requestUri"].split("?")[0]
    return Operation(name, http["method"], uri, int(http.get("responseCode", 200)), model)


def bind_input(op: Operation, path_params: dict[str, str], query: dict[str, str], body: Any) -> dict[str, Any]:
    """Build the operation's input parameters from the HTTP request and validate them against the model."""
    shape = op.model.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    for member_name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", member_name)
        if location == "uri":
            value = path_params.get(wire.replace("-", "_"))
            if value is not None:
                params[member_name] = value
        elif location == "querystring" and wire in query:
            params[member_name] = _from_query(query[wire], member, wire)
    payload = op.payload_member
    if payload is not None:
        if body is None:
            if payload in shape.required_members:
                raise BadRequest(f"Missing required request body: {payload}")
        else:
            params[payload] = from_wire(shape.members[payload], body)
    validate(shape, params)
    return params


# -- wire names -------------------------------------------------------------------------------------------------
# A JSON body member is sent under its `locationName` when the model gives one: Pinpoint's only such member is
# SimpleCondition.SegmentDimensions, on the wire "segmentDimensions" (a journey's split conditions). Kizuna's
# documents use member names, so bodies are renamed on the way in and responses on the way out.


def from_wire(shape: botocore.model.Shape, value: Any) -> Any:
    """A request body as botocore serialized it, with member names instead of wire names."""
    return _rename(shape, value, incoming=True) if _renames(shape) else value


def to_wire(shape: botocore.model.Shape, value: Any) -> Any:
    """A response document with the wire names botocore parses."""
    return _rename(shape, value, incoming=False) if _renames(shape) else value


def _rename(shape: botocore.model.Shape, value: Any, incoming: bool) -> Any:
    if isinstance(shape, botocore.model.StructureShape) and isinstance(value, dict):
        renamed = {}
        for member_name, member in shape.members.items():
            wire = member.serialization.get("name", member_name) if "location" not in member.serialization else None
            source, target = (wire, member_name) if incoming else (member_name, wire)
            if incoming and wire is not None and source not in value:
                source = member_name  # a request written with member names (not botocore's) is taken too
            if wire is None or source not in value:
                continue
            renamed[target] = _rename(member, value[source], incoming) if _renames(member) else value[source]
        known = {k for m, mem in shape.members.items() for k in (m, mem.serialization.get("name", m))}
        # Unknown keys stay, so the validator still names them.
        return renamed | {k: v for k, v in value.items() if k not in known}
    if isinstance(shape, botocore.model.ListShape) and isinstance(value, list):
        return [_rename(shape.member, v, incoming) for v in value]
    if isinstance(shape, botocore.model.MapShape) and isinstance(value, dict):
        return {k: _rename(shape.value, v, incoming) for k, v in value.items()}
    return value


def _renames(shape: botocore.model.Shape) -> bool:
    """Whether a member of `shape` or of a shape inside it has a wire name other than its member name."""
    return shape.name in _shapes_with_renames()


@cache
def _shapes_with_renames() -> frozenset[str]:
    shapes = model_data()["shapes"]

    def children(spec: dict[str, Any]) -> list[str]:
        if spec.get("type") == "structure":
            return [m["shape"] for m in spec.get("members", {}).values()]
        if spec.get("type") == "list":
            return [spec["member"]["shape"]]
        if spec.get("type") == "map":
            return [spec["value"]["shape"]]
        return []

    found = {
        name
        for name, spec in shapes.items()
        if any(m.get("locationName", n) != n and "location" not in m for n, m in spec.get("members", {}).items())
    }
    while True:  # every shape that holds one of them, to a fixed point (the model has recursive shapes)
        more = {name for name, spec in shapes.items() if name not in found and set(children(spec)) & found}
        if not more:
            return frozenset(found)
        found |= more


def _from_query(value: str, member: botocore.model.Shape, wire: str) -> Any:
    """rest-json puts booleans and numbers in the query string as text (botocore writes true/false)."""
    if member.type_name == "boolean":
        if value.lower() not in ("true", "false"):
            raise BadRequest(f"{wire} must be true or false; got {value!r}")
        return value.lower() == "true"
    if member.type_name in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            raise BadRequest(f"{wire} must be a whole number; got {value!r}") from None
    return value


class _EnumCheckingValidator(botocore.validate.ParamValidator):
    """botocore validates types, required members and ranges; a server must also refuse unknown enum values."""

    def _validate_string(self, param, shape, errors, name):  # noqa: ANN001 - botocore's signature
        super()._validate_string(param, shape, errors, name)
        if isinstance(param, str) and shape.enum and param not in shape.enum:
            errors.report(name, "invalid enum value", param=param, valid_values=", ".join(shape.enum))

    def _shape_has_constraints(self, shape):  # noqa: ANN001, ANN202 - botocore's signature
        # botocore checks the items of a list of unconstrained scalars by type alone, never calling
        # _validate_string: an enum is a constraint, or ["__not_in_enum__"] would pass (the fuzzer stored one in
        # a journey's TimezoneEstimationMethods).
        return bool(getattr(shape, "enum", None)) or super()._shape_has_constraints(shape)


_VALIDATOR = _EnumCheckingValidator()


def validate(shape: botocore.model.Shape, params: dict[str, Any]) -> None:
    report = _VALIDATOR.validate(params, shape)
    if report.has_errors():
        raise BadRequest(_describe(report))


def _describe(report: botocore.validate.ValidationErrors) -> str:
    messages = []
    for error_type, name, extra in report._errors:  # botocore keeps them structured; its text says "client"
        field = (name or "").lstrip(".") or "request body"
        if error_type == "invalid enum value":
            messages.append(f"Invalid value {extra['param']!r} for {field}; valid values: {extra['valid_values']}")
        else:
            messages.append(report._format_error((error_type, name, extra)))
    return "; ".join(messages)
