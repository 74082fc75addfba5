"""An OpenAPI 3.0 document of the management API, generated from the same botocore model that routes and validates
it (kizuna.pinpoint.model), so the document cannot drift from what the API accepts.

Each operation Kizuna serves becomes one path item operation: the model's `http.requestUri` and method, its `uri`
members as path parameters, its `querystring` members as query parameters, the input's payload member as the JSON
request body, the success code with the output's payload member, and the modelled errors (Pinpoint's
`{"Message", "RequestID"}` body with the `x-amzn-ErrorType` header) as the other responses.

Shapes become `components.schemas` (structures; lists, maps and scalars are written inline). A structure found in
a request body is closed (`additionalProperties: false`): the API refuses members the model does not know. One
found only in responses stays open, as botocore's parser ignores members it does not know (Kizuna's responses
carry a few, e.g. a journey's `Arn`). Body members use their wire names (`SimpleCondition.segmentDimensions`), as
botocore sends them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import botocore.model

from kizuna.pinpoint.model import operation, service_model

OPENAPI_VERSION = "3.0.3"
SECURITY_SCHEME = "sigv4"
# Errors the API layer itself can answer for any operation, modelled or not: a body that fails validation (400),
# a missing or wrong signature or a key without the app in its scope (403), an unknown app or path (404), a body
# over the size limit (413).
ALWAYS_POSSIBLE_ERRORS = ("BadRequestException", "ForbiddenException", "NotFoundException", "PayloadTooLargeException")


def openapi_document(operation_names: Iterable[str], server_url: str | None = None) -> dict[str, Any]:
    """The document for `operation_names` (the operations the API registers); `server_url` fills `servers`."""
    # Built once per warm function (it walks ~200 shapes); each caller gets a copy it may change.
    return copy.deepcopy(_document(tuple(sorted(operation_names)), server_url))


@lru_cache(maxsize=8)  # one per stage that serves it
def _document(operation_names: tuple[str, ...], server_url: str | None) -> dict[str, Any]:
    model = service_model()
    schemas = _Schemas(_request_structures(operation_names))
    paths: dict[str, dict[str, Any]] = {}
    for name in operation_names:
        op = operation(name)
        paths.setdefault(op.uri, {})[op.method.lower()] = _operation(op, schemas)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Kizuna management API",
            "version": model.api_version,
            "description": (
                "Amazon Pinpoint's REST API (v1) as Kizuna serves it, generated from botocore's Pinpoint service "
                "model with Kizuna's extensions. Every request is signed with AWS Signature Version 4 made with a "
                "Kizuna access key (any region; service name `mobiletargeting` as boto3 signs)."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "AWS Signature Version 4 (AWS4-HMAC-SHA256), with X-Amz-Date within 5 minutes.",
                    "x-amazon-apigateway-authtype": "awsSigv4",
                }
            },
        },
        "security": [{SECURITY_SCHEME: []}],
    }
    if server_url is not None:
        document["servers"] = [{"url": server_url}]
    return document


def _operation(op: Any, schemas: _Schemas) -> dict[str, Any]:
    model: botocore.model.OperationModel = op.model
    spec: dict[str, Any] = {"operationId": op.name, "tags": [_tag(op.uri)]}
    doc = _summary(model.documentation)
    if doc:
        spec["summary"] = doc
    parameters: list[dict[str, Any]] = []
    shape = model.input_shape
    if shape is not None:
        for member_name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", member_name)
            if location == "uri":
                # A URI label is never empty: botocore refuses to send one, and the route would not match it.
                parameters.append(
                    {"name": wire, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
                )
            elif location == "querystring":
                parameters.append(
                    {
                        "name": wire,
                        "in": "query",
                        "required": member_name in shape.required_members,
                        "schema": schemas.inline(member, location="querystring"),
                    }
                )
        if op.payload_member is not None:
            spec["requestBody"] = {
                "required": op.payload_member in shape.required_members,
                "content": {"application/json": {"schema": schemas.inline(shape.members[op.payload_member])}},
            }
    if parameters:
        spec["parameters"] = parameters
    success: dict[str, Any] = {"description": "Success"}
    if op.output_member is not None:
        payload = model.output_shape.members[op.output_member]
        success["content"] = {"application/json": {"schema": schemas.inline(payload)}}
    spec["responses"] = {str(op.status): success, **_errors(model, schemas)}
    return spec


def _errors(model: botocore.model.OperationModel, schemas: _Schemas) -> dict[str, Any]:
    shapes = {shape.name: shape for shape in model.error_shapes}
    for name in ALWAYS_POSSIBLE_ERRORS:
        shapes.setdefault(name, service_model().shape_for(name))
    responses: dict[str, Any] = {}
    for name, shape in sorted(shapes.items(), key=lambda item: item[1].metadata["error"]["httpStatusCode"]):
        responses[str(shape.metadata["error"]["httpStatusCode"])] = {
            "description": name,
            "headers": {
                "x-amzn-ErrorType": {
                    "required": True,
                    "description": "botocore raises the modelled exception named here",
                    "schema": {"type": "string", "enum": [name]},
                }
            },
            "content": {"application/json": {"schema": schemas.ref(shape)}},
        }
    return responses


class _Schemas:
    """JSON schemas of botocore shapes, structures collected once each under components.schemas."""

    def __init__(self, closed: frozenset[str]) -> None:
        self.components: dict[str, Any] = {}
        self.closed = closed

    def ref(self, shape: botocore.model.StructureShape) -> dict[str, Any]:
        if shape.name not in self.components:
            self.components[shape.name] = {}  # placed first: the model's structures can contain themselves
            self.components[shape.name] = self._structure(shape)
        return {"$ref": f"#/components/schemas/{shape.name}"}

    def inline(self, shape: botocore.model.Shape, location: str | None = None) -> dict[str, Any]:
        kind = shape.type_name
        if kind == "structure":
            return self.ref(shape)
        if kind == "list":
            return {"type": "array", "items": self.inline(shape.member)}
        if kind == "map":
            return {"type": "object", "additionalProperties": self.inline(shape.value)}
        schema = _scalar(shape, location)
        if getattr(shape, "enum", None):  # only string shapes have the attribute
            schema["enum"] = list(shape.enum)
        return schema

    def _structure(self, shape: botocore.model.StructureShape) -> dict[str, Any]:
        properties = {
            member.serialization.get("name", name): self.inline(member) for name, member in shape.members.items()
        }
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if shape.name in self.closed:
            schema["additionalProperties"] = False
        required = [shape.members[name].serialization.get("name", name) for name in shape.required_members]
        if required:
            schema["required"] = required
        return schema


def _request_structures(operation_names: Iterable[str]) -> frozenset[str]:
    """The structures a request body of these operations can contain."""
    found: set[str] = set()

    def walk(shape: botocore.model.Shape) -> None:
        if shape.type_name == "structure":
            if shape.name in found:
                return
            found.add(shape.name)
            for member in shape.members.values():
                walk(member)
        elif shape.type_name == "list":
            walk(shape.member)
        elif shape.type_name == "map":
            walk(shape.value)

    for name in operation_names:
        op = operation(name)
        if op.payload_member is not None:
            walk(op.model.input_shape.members[op.payload_member])
    return frozenset(found)


def _scalar(shape: botocore.model.Shape, location: str | None) -> dict[str, Any]:
    kind = shape.type_name
    if kind == "string":
        return {"type": "string"}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "integer":
        return {"type": "integer", "format": "int32"}
    if kind == "long":
        return {"type": "integer", "format": "int64"}
    if kind in ("double", "float"):
        return {"type": "number", "format": "double"}
    if kind == "blob":
        return {"type": "string", "format": "byte"}
    if kind == "timestamp":
        # rest-json: ISO 8601 in the query string, epoch seconds in a body, unless the shape says otherwise.
        default = "iso8601" if location == "querystring" else "unixTimestamp"
        if shape.serialization.get("timestampFormat", default) == "iso8601":
            return {"type": "string", "format": "date-time"}
        return {"type": "number"}
    raise ValueError(f"shape {shape.name} has a type ({kind}) the document cannot describe")


def _tag(uri: str) -> str:
    """Group operations by the resource their path names: /v1/apps/{application-id}/segments/... -> segments,
    /v1/templates/{template-name}/sms -> templates."""
    parts = [p for p in uri.split("/")[2:] if p and not p.startswith("{")]
    if not parts:
        return "apps"
    return parts[1] if parts[0] == "apps" and len(parts) > 1 else parts[0]


def _summary(documentation: str | None) -> str:
    """The model's HTML documentation's first sentence, as plain text."""
    text = re.sub(r"<[^>]+>", "", documentation or "").strip()
    return text.split(". ")[0].rstrip(".")[:200] if text else ""
