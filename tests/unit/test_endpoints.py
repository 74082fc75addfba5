"""Endpoint upserts: normalisation, Pinpoint's merge rules and limits, and nothing written on a bad request."""

from __future__ import annotations

import pytest
from kizuna.errors import BadRequest, NotFound
from kizuna.services.apps import create_app
from kizuna.services.endpoints import get_endpoint, update_endpoint


@pytest.fixture
def app_id(data, clock) -> str:
    return create_app(data, clock, "arn:aws:mobiletargeting:us-east-1:123456789012", {"Name": "demo"}).id


def test_phone_address_is_stored_in_e164_with_an_estimated_timezone(data, clock, app_id):
    update_endpoint(data, data, clock, app_id, "ep-1", {"ChannelType": "SMS", "Address": "+81 90-1234-5678"})

    endpoint = get_endpoint(data, data, app_id, "ep-1")
    assert endpoint["Address"] == "+819012345678"
    assert endpoint["Demographic"]["Timezone"] == "Asia/Tokyo"
    assert endpoint["OptOut"] == "NONE" and endpoint["EndpointStatus"] == "ACTIVE"


def test_partial_update_merges_attribute_keys_and_keeps_the_rest(data, clock, app_id):
    update_endpoint(
        data,
        data,
        clock,
        app_id,
        "ep-1",
        {
            "ChannelType": "SMS",
            "Address": "+15005550006",
            "Attributes": {"plan": ["gold"], "lang": ["ja"]},
            "User": {"UserId": "u1", "UserAttributes": {"name": ["Aiko"]}},
        },
    )
    update_endpoint(data, data, clock, app_id, "ep-1", {"Attributes": {"plan": ["silver"]}, "OptOut": "ALL"})

    endpoint = get_endpoint(data, data, app_id, "ep-1")
    assert endpoint["Attributes"] == {"plan": ["silver"], "lang": ["ja"]}
    assert endpoint["User"] == {"UserId": "u1", "UserAttributes": {"name": ["Aiko"]}}
    assert endpoint["OptOut"] == "ALL"
    assert endpoint["Address"] == "+15005550006"


@pytest.mark.parametrize("address", ["12345", "+999", "not a number", "+1 555"])
def test_invalid_phone_number_is_refused_naming_the_field_and_nothing_is_written(data, clock, app_id, address):
    with pytest.raises(BadRequest, match="EndpointRequest.Address"):
        update_endpoint(data, data, clock, app_id, "ep-1", {"ChannelType": "SMS", "Address": address})
    assert data.get_endpoint(app_id, "ep-1") is None


def test_more_than_250_attributes_is_refused(data, clock, app_id):
    attributes = {f"a{i}": ["x"] for i in range(251)}
    with pytest.raises(BadRequest, match="250"):
        update_endpoint(data, data, clock, app_id, "ep-1", {"ChannelType": "CUSTOM", "Attributes": attributes})


def test_unknown_app_is_not_found(data, clock):
    with pytest.raises(NotFound, match="Application nope"):
        update_endpoint(data, data, clock, "nope", "ep-1", {"ChannelType": "SMS", "Address": "+15005550006"})
