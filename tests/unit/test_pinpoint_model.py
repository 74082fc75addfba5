"""Requests are bound and validated against botocore's own Pinpoint model."""

from __future__ import annotations

import pytest

from kizuna.errors import BadRequest
from kizuna.pinpoint.model import bind_input, operation


def test_routes_methods_and_codes_come_from_the_model():
    op = operation("UpdateEndpoint")
    assert (op.method, op.route, op.status) == ("PUT", "/v1/apps/<application_id>/endpoints/<endpoint_id>", 202)
    assert operation("CreateApp").status == 201


def test_path_query_and_payload_are_bound_to_the_input_shape():
    params = bind_input(
        operation("UpdateEndpoint"),
        {"application_id": "a", "endpoint_id": "e"},
        {},
        {"ChannelType": "WHATSAPP", "Address": "+819012345678"},
    )
    assert params == {
        "ApplicationId": "a",
        "EndpointId": "e",
        "EndpointRequest": {"ChannelType": "WHATSAPP", "Address": "+819012345678"},
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ChannelType": "PIGEON"}, "EndpointRequest.ChannelType"),
        ({"Address": 5}, "EndpointRequest.Address"),
        ({"Bogus": 1}, "Bogus"),
        ({"Attributes": {"a": "not-a-list"}}, "EndpointRequest.Attributes.a"),
    ],
)
def test_invalid_payloads_name_the_field(body, field):
    with pytest.raises(BadRequest, match=field.replace(".", r"\.")):
        bind_input(operation("UpdateEndpoint"), {"application_id": "a", "endpoint_id": "e"}, {}, body)


def test_a_missing_required_payload_is_refused():
    with pytest.raises(BadRequest, match="MessageRequest"):
        bind_input(operation("SendMessages"), {"application_id": "a"}, {}, None)
