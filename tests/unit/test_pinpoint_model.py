"""Requests are bound and validated against botocore's own Pinpoint model."""

from __future__ import annotations

import pytest

from kizuna.errors import BadRequest
from kizuna.pinpoint.model import bind_input, operation, to_wire


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


def test_a_member_sent_under_its_wire_name_is_bound_by_its_member_name_and_answered_under_it():
    # SimpleCondition.SegmentDimensions is "segmentDimensions" on the wire (its locationName): what boto3 sends.
    split = {"ConditionalSplit": {"Condition": {"Conditions": [{"segmentDimensions": {"Demographic": {}}}]}}}
    body = {"Name": "j", "Activities": {"a": split, "b": {"MultiCondition": {"Branches": [
        {"Condition": {"segmentDimensions": {"Attributes": {}}}, "NextActivity": "a"}]}}}}  # fmt: skip

    bound = bind_input(operation("CreateJourney"), {"application_id": "app"}, {}, body)["WriteJourneyRequest"]

    assert bound["Activities"]["a"]["ConditionalSplit"]["Condition"]["Conditions"] == [
        {"SegmentDimensions": {"Demographic": {}}}
    ]
    assert bound["Activities"]["b"]["MultiCondition"]["Branches"][0]["Condition"] == {
        "SegmentDimensions": {"Attributes": {}}
    }
    written_by_hand = {"Name": "j", "Activities": {"a": {"ConditionalSplit": {"Condition": {"Conditions": [
        {"SegmentDimensions": {}}]}}}}}  # fmt: skip
    assert bind_input(operation("CreateJourney"), {"application_id": "app"}, {}, written_by_hand) == {
        "ApplicationId": "app",
        "WriteJourneyRequest": written_by_hand,
    }
    op = operation("GetJourney")
    answered = to_wire(op.model.output_shape.members[op.output_member], {"Id": "j", **bound})
    assert answered["Activities"]["a"] == split
    assert to_wire(operation("GetApp").model.output_shape, {"Id": "x"}) == {"Id": "x"}  # nothing renamed: as is


def test_an_enum_inside_a_list_is_checked_too():
    # botocore type-checks the items of a list of plain strings without looking at their enum; the fuzzer had a
    # journey stored with TimezoneEstimationMethods ["POSTAL_CODE", "__not_in_enum__"] (tests/e2e/test_fuzz_openapi.py).
    journey = operation("CreateJourney")
    with pytest.raises(BadRequest, match=r"WriteJourneyRequest\.TimezoneEstimationMethods\[1\]; valid values"):
        bind_input(
            journey, {"application_id": "a"}, {}, {"Name": "j", "TimezoneEstimationMethods": ["POSTAL_CODE", "x"]}
        )
    accepted = bind_input(
        journey, {"application_id": "a"}, {}, {"Name": "j", "TimezoneEstimationMethods": ["POSTAL_CODE"]}
    )
    assert accepted["WriteJourneyRequest"]["TimezoneEstimationMethods"] == ["POSTAL_CODE"]
