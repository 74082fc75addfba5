"""Endpoint upserts: normalisation, Pinpoint's merge rules and limits, and nothing written on a bad request."""

from __future__ import annotations

import pytest

from kizuna.errors import BadRequest, NotFound
from kizuna.services.apps import create_app
from kizuna.services.endpoints import get_endpoint, remove_attributes, update_endpoint, update_endpoints_batch


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


# -- field rules ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"EndpointStatus": "PAUSED"}, "EndpointRequest.EndpointStatus"),
        ({"OptOut": "SOME"}, "EndpointRequest.OptOut"),
        ({"Demographic": {"Timezone": "Mars/Olympus_Mons"}}, "EndpointRequest.Demographic.Timezone"),
        ({"Demographic": {"Timezone": "../../etc/passwd"}}, "EndpointRequest.Demographic.Timezone"),
    ],
)
def test_an_invalid_enum_or_time_zone_is_refused_naming_the_field(data, clock, app_id, request_body, field):
    with pytest.raises(BadRequest, match=field.replace(".", r"\.")):
        update_endpoint(data, data, clock, app_id, "ep-1", {"ChannelType": "CUSTOM", **request_body})
    assert data.get_endpoint(app_id, "ep-1") is None


def test_a_valid_iana_time_zone_is_kept(data, clock, app_id):
    update_endpoint(
        data, data, clock, app_id, "ep-1", {"ChannelType": "CUSTOM", "Demographic": {"Timezone": "Europe/Paris"}}
    )

    assert get_endpoint(data, data, app_id, "ep-1")["Demographic"]["Timezone"] == "Europe/Paris"


@pytest.mark.parametrize(
    "address",
    ["plain", "a@b", "a@@b.com", "a b@c.com", "a@b..com", ".a@b.com", "a@-b.com", "a@b.c", "x" * 65 + "@b.com"],
)
def test_an_invalid_email_is_refused(data, clock, app_id, address):
    with pytest.raises(BadRequest, match="EndpointRequest.Address"):
        update_endpoint(data, data, clock, app_id, "ep-1", {"ChannelType": "EMAIL", "Address": address})


@pytest.mark.parametrize("address", ["aiko@example.com", "a.b+tag@mail.example.co.jp", "x@bücher.de"])
def test_a_valid_email_is_accepted(data, clock, app_id, address):
    update_endpoint(data, data, clock, app_id, "ep-1", {"ChannelType": "EMAIL", "Address": address})

    assert get_endpoint(data, data, app_id, "ep-1")["Address"] == address


def test_an_attribute_name_over_50_characters_is_refused(data, clock, app_id):
    with pytest.raises(BadRequest, match=r"EndpointRequest\.Attributes.*50"):
        update_endpoint(data, data, clock, app_id, "ep-1", {"Attributes": {"n" * 51: ["x"]}})


def test_an_attribute_value_over_100_characters_is_refused(data, clock, app_id):
    with pytest.raises(BadRequest, match=r"EndpointRequest\.User\.UserAttributes\.name.*100"):
        update_endpoint(data, data, clock, app_id, "ep-1", {"User": {"UserAttributes": {"name": ["v" * 101]}}})


def test_more_than_50_values_for_one_attribute_is_refused(data, clock, app_id):
    with pytest.raises(BadRequest, match=r"EndpointRequest\.Attributes\.tags has 51 values"):
        update_endpoint(data, data, clock, app_id, "ep-1", {"Attributes": {"tags": [str(i) for i in range(51)]}})


def test_an_endpoint_over_15_kb_is_refused(data, clock, app_id):
    attributes = {f"a{i}": ["v" * 100] * 5 for i in range(40)}
    with pytest.raises(BadRequest, match="15360"):
        update_endpoint(data, data, clock, app_id, "ep-1", {"Attributes": attributes})


# -- per-user and per-app limits ------------------------------------------------------------------------------------


def _give_user(data, clock, app_id, user, count, prefix="ep"):
    for i in range(count):
        update_endpoint(data, data, clock, app_id, f"{prefix}-{i}", {"ChannelType": "CUSTOM", "User": {"UserId": user}})


def test_a_16th_endpoint_for_one_user_is_refused(data, clock, app_id):
    _give_user(data, clock, app_id, "u1", 15)

    with pytest.raises(BadRequest, match=r"EndpointRequest\.User\.UserId.*16 endpoints.*15"):
        update_endpoint(data, data, clock, app_id, "ep-new", {"ChannelType": "CUSTOM", "User": {"UserId": "u1"}})
    assert data.get_endpoint(app_id, "ep-new") is None


def test_updating_one_of_a_users_15_endpoints_is_allowed(data, clock, app_id):
    _give_user(data, clock, app_id, "u1", 15)

    update_endpoint(data, data, clock, app_id, "ep-3", {"OptOut": "ALL", "User": {"UserId": "u1"}})

    assert get_endpoint(data, data, app_id, "ep-3")["OptOut"] == "ALL"


def test_the_app_wide_attribute_limit_counts_names_across_endpoints(data, clock, app_id):
    for i in range(5):
        update_endpoint(data, data, clock, app_id, f"ep-{i}", {"Attributes": {f"a{i}-{j}": ["x"] for j in range(50)}})

    with pytest.raises(BadRequest, match="251 attribute names.*RemoveAttributes"):
        update_endpoint(data, data, clock, app_id, "ep-x", {"Metrics": {"one-more": 1.0}})


def test_endpoint_writes_register_attribute_names_by_kind(data, clock, app_id):
    update_endpoint(
        data,
        data,
        clock,
        app_id,
        "ep-1",
        {"Attributes": {"plan": ["gold"]}, "Metrics": {"visits": 3.0}, "User": {"UserAttributes": {"name": ["A"]}}},
    )

    assert data.get_attribute_registry(app_id) == {"custom": {"plan"}, "metric": {"visits"}, "user": {"name"}}


# -- UpdateEndpointsBatch -------------------------------------------------------------------------------------------


def _sms(i: int, **extra) -> dict:
    return {"Id": f"ep-{i}", "ChannelType": "SMS", "Address": f"+1500555{i:04d}", **extra}


def test_a_batch_writes_every_item_with_the_single_update_rules(data, clock, app_id):
    update_endpoint(
        data,
        data,
        clock,
        app_id,
        "ep-0",
        {"ChannelType": "SMS", "Address": "+15005550000", "Attributes": {"lang": ["ja"]}},
    )

    update_endpoints_batch(data, data, clock, app_id, {"Item": [_sms(0, Attributes={"plan": ["gold"]}), _sms(1)]})

    assert get_endpoint(data, data, app_id, "ep-0")["Attributes"] == {"lang": ["ja"], "plan": ["gold"]}
    assert get_endpoint(data, data, app_id, "ep-1")["Address"] == "+15005550001"


def test_one_invalid_item_refuses_the_whole_batch_naming_its_index(data, clock, app_id):
    items = [_sms(i) for i in range(5)]
    items[3]["Address"] = "not a number"

    with pytest.raises(BadRequest, match=r"EndpointBatchRequest\.Item\[3\]\.Address"):
        update_endpoints_batch(data, data, clock, app_id, {"Item": items})
    assert data.endpoints == {}


def test_a_batch_item_without_an_id_is_refused(data, clock, app_id):
    with pytest.raises(BadRequest, match=r"EndpointBatchRequest\.Item\[1\]\.Id"):
        update_endpoints_batch(data, data, clock, app_id, {"Item": [_sms(0), {"ChannelType": "SMS"}]})


@pytest.mark.parametrize("count", [0, 101])
def test_a_batch_must_hold_1_to_100_items(data, clock, app_id, count):
    with pytest.raises(BadRequest, match="1 to 100"):
        update_endpoints_batch(data, data, clock, app_id, {"Item": [_sms(i) for i in range(count)]})


def test_a_batch_of_100_is_accepted(data, clock, app_id):
    update_endpoints_batch(data, data, clock, app_id, {"Item": [_sms(i) for i in range(100)]})

    assert len(data.endpoints) == 100


def test_a_batch_that_gives_a_user_16_endpoints_is_refused_and_writes_nothing(data, clock, app_id):
    _give_user(data, clock, app_id, "u1", 14, prefix="old")
    items = [_sms(i, User={"UserId": "u1"}) for i in range(2)]

    with pytest.raises(BadRequest, match=r"EndpointBatchRequest\.Item\[1\]\.User\.UserId"):
        update_endpoints_batch(data, data, clock, app_id, {"Item": items})
    assert data.get_endpoint(app_id, "ep-0") is None


def test_an_id_listed_twice_in_a_batch_merges_in_order(data, clock, app_id):
    items = [_sms(0, Attributes={"a": ["1"]}), {"Id": "ep-0", "Attributes": {"b": ["2"]}}]

    update_endpoints_batch(data, data, clock, app_id, {"Item": items})

    assert get_endpoint(data, data, app_id, "ep-0")["Attributes"] == {"a": ["1"], "b": ["2"]}


# -- RemoveAttributes -----------------------------------------------------------------------------------------------


def test_remove_attributes_drops_exact_and_glob_names_from_the_registry(data, clock, app_id):
    update_endpoint(data, data, clock, app_id, "ep-1", {"Attributes": {"plan": ["g"], "tmp_1": ["x"], "tmp_2": ["y"]}})

    resource = remove_attributes(data, app_id, "endpoint-custom-attributes", {"Blacklist": ["tmp_*"]})

    assert resource == {"ApplicationId": app_id, "AttributeType": "endpoint-custom-attributes", "Attributes": ["plan"]}


def test_remove_attributes_leaves_endpoint_values_alone(data, clock, app_id):
    update_endpoint(data, data, clock, app_id, "ep-1", {"Attributes": {"plan": ["gold"]}})

    remove_attributes(data, app_id, "endpoint-custom-attributes", {"Blacklist": ["plan"]})

    assert get_endpoint(data, data, app_id, "ep-1")["Attributes"] == {"plan": ["gold"]}


def test_remove_attributes_only_touches_its_attribute_type(data, clock, app_id):
    update_endpoint(data, data, clock, app_id, "ep-1", {"Attributes": {"x": ["1"]}, "Metrics": {"x": 1.0}})

    remove_attributes(data, app_id, "endpoint-metric-attributes", {"Blacklist": ["x"]})

    assert data.get_attribute_registry(app_id) == {"custom": {"x"}, "metric": set()}


def test_removing_attributes_frees_room_under_the_app_limit(data, clock, app_id):
    update_endpoint(data, data, clock, app_id, "ep-0", {"Attributes": {f"a{j}": ["x"] for j in range(250)}})
    remove_attributes(data, app_id, "endpoint-custom-attributes", {"Blacklist": ["a1*"]})

    update_endpoint(data, data, clock, app_id, "ep-1", {"Metrics": {"fresh": 1.0}})

    assert "fresh" in data.get_attribute_registry(app_id)["metric"]


def test_remove_attributes_refuses_an_unknown_attribute_type(data, app_id):
    with pytest.raises(BadRequest, match="attribute-type"):
        remove_attributes(data, app_id, "endpoint-bogus-attributes", {"Blacklist": ["x"]})


def test_remove_attributes_needs_a_blacklist(data, app_id):
    with pytest.raises(BadRequest, match="Blacklist"):
        remove_attributes(data, app_id, "endpoint-custom-attributes", {})


def test_delete_app_removes_settings_registry_and_erasure_records(data, clock, app_id):
    update_endpoint(data, data, clock, app_id, "ep-1", {"Attributes": {"plan": ["g"]}})
    data.put_settings(app_id, {"ApplicationId": app_id})
    data.put_erasure_record(app_id, {"at": "t", "user_hash": "h"})

    data.delete_app(app_id)

    assert data.get_attribute_registry(app_id) == {}
    assert data.get_settings(app_id) is None and data.erasure_records(app_id) == []
