"""The OpenAPI document generated from botocore's Pinpoint model (kizuna.pinpoint.openapi): a valid OpenAPI 3.0
document that describes exactly the operations the API routes, with the model's paths, parameters, body shapes and
errors. The document served by the API and fuzzed by schemathesis: tests/e2e/test_fuzz_openapi.py."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from kizuna.api.app import registered_operations
from kizuna.cli import main
from kizuna.pinpoint.model import operation
from kizuna.pinpoint.openapi import openapi_document


@pytest.fixture(scope="module")
def document() -> dict:
    return openapi_document(registered_operations(), server_url="https://api.example.com/prod")


def schema_of(document: dict, ref: dict) -> dict:
    return document["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]


def test_the_document_is_valid_openapi(document: dict) -> None:
    validate(document)
    assert document["servers"] == [{"url": "https://api.example.com/prod"}]


def test_every_served_operation_is_described_once_with_the_models_route(document: dict) -> None:
    described = {
        spec["operationId"]: (method.upper(), path) for path, item in document["paths"].items() for method, spec in
        item.items()
    }  # fmt: skip
    assert set(described) == set(registered_operations())
    for name, route in described.items():
        assert route == (operation(name).method, operation(name).uri)


def test_path_query_and_body_come_from_the_input_shape(document: dict) -> None:
    update = document["paths"]["/v1/apps/{application-id}/endpoints/{endpoint-id}"]["put"]
    assert {p["name"]: p["in"] for p in update["parameters"]} == {"application-id": "path", "endpoint-id": "path"}
    assert update["requestBody"]["required"] is True
    endpoint = schema_of(document, update["requestBody"]["content"]["application/json"]["schema"])
    assert endpoint["additionalProperties"] is False  # the API refuses members the model does not know
    assert "WHATSAPP" in endpoint["properties"]["ChannelType"]["enum"]  # Kizuna's extension of the enum
    assert endpoint["properties"]["Metrics"] == {"type": "object", "additionalProperties": {"type": "number",
                                                 "format": "double"}}  # fmt: skip

    version = document["paths"]["/v1/templates/{template-name}/sms"]["put"]["parameters"]
    assert {"name": "create-new-version", "in": "query", "required": False, "schema": {"type": "boolean"}} in version


def test_required_members_and_wire_names(document: dict) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["CreateApplicationRequest"]["required"] == ["Name"]
    # The one body member botocore sends under another name (a journey split's condition).
    assert "segmentDimensions" in schemas["SimpleCondition"]["properties"]
    assert "SegmentDimensions" not in schemas["SimpleCondition"]["properties"]


def test_responses_name_the_success_payload_and_the_errors(document: dict) -> None:
    create = document["paths"]["/v1/apps"]["post"]["responses"]
    assert create["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ApplicationResponse"
    }
    # Response-only shapes stay open: botocore ignores members it does not know.
    assert "additionalProperties" not in document["components"]["schemas"]["ApplicationResponse"]
    for item in document["paths"].values():
        for spec in item.values():
            assert {"400", "403", "404", "413"} <= set(spec["responses"])
    bad = create["400"]
    assert bad["headers"]["x-amzn-ErrorType"]["schema"]["enum"] == ["BadRequestException"]
    assert schema_of(document, bad["content"]["application/json"]["schema"])["properties"].keys() == {
        "Message",
        "RequestID",
    }


def test_the_cli_prints_the_document(capsys: pytest.CaptureFixture[str], document: dict) -> None:
    assert main(["openapi", "--server-url", "https://api.example.com/prod"]) == 0
    assert json.loads(capsys.readouterr().out) == document
