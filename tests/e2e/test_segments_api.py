"""Segments through the stock boto3 pinpoint client against local mode (and the size estimate through the extended
client), including the errors botocore models for them."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.e2e

TOKYO_GOLD = {
    "Demographic": {"Channel": {"Values": ["SMS"]}},
    "Location": {"Country": {"Values": ["JP"]}},
    "Attributes": {"会員": {"AttributeType": "INCLUSIVE", "Values": ["ゴールド"]}},
    "UserAttributes": {"都市": {"Values": ["東京"]}},
    "Metrics": {"visits": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 3}},
}


def audience(pinpoint: Any, app_id: str) -> set[str]:
    """40 endpoints; returns the ids a sendable TOKYO_GOLD segment holds."""
    items, expected = [], set()
    for i in range(40):
        gold, tokyo, visits = i % 2 == 0, i % 4 != 3, i % 5
        opted_out = i % 10 == 0
        items.append(
            {
                "Id": f"ep-{i:02d}",
                "ChannelType": "SMS",
                "Address": f"+8190{i:08d}",
                "Location": {"Country": "jp"},
                "Attributes": {"会員": ["ゴールド" if gold else "シルバー"]},
                "User": {"UserId": f"u{i}", "UserAttributes": {"都市": ["東京" if tokyo else "大阪"]}},
                "Metrics": {"visits": float(visits)},
                "OptOut": "ALL" if opted_out else "NONE",
            }
        )
        if gold and tokyo and visits >= 3 and not opted_out:
            expected.add(f"ep-{i:02d}")
    pinpoint.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items})
    return expected


def create(pinpoint: Any, app_id: str, **request: Any) -> dict[str, Any]:
    return pinpoint.create_segment(ApplicationId=app_id, WriteSegmentRequest=request)["SegmentResponse"]


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def test_create_get_update_and_read_versions(pinpoint, app_id):
    created = create(pinpoint, app_id, Name="東京ゴールド", Dimensions=TOKYO_GOLD)

    updated = pinpoint.update_segment(
        ApplicationId=app_id,
        SegmentId=created["Id"],
        WriteSegmentRequest={"Dimensions": {"Demographic": {"Channel": {"Values": ["SMS"]}}}},
    )["SegmentResponse"]
    first = pinpoint.get_segment_version(ApplicationId=app_id, SegmentId=created["Id"], Version="1")["SegmentResponse"]
    versions = pinpoint.get_segment_versions(ApplicationId=app_id, SegmentId=created["Id"])["SegmentsResponse"]
    latest = pinpoint.get_segment(ApplicationId=app_id, SegmentId=created["Id"])["SegmentResponse"]

    assert (created["Version"], created["SegmentType"], created["Name"]) == (1, "DIMENSIONAL", "東京ゴールド")
    assert created["Arn"].endswith(f"apps/{app_id}/segments/{created['Id']}")
    assert (updated["Version"], updated["Name"]) == (2, "東京ゴールド")
    assert first["Dimensions"] == TOKYO_GOLD
    assert [v["Version"] for v in versions["Item"]] == [1, 2]
    assert latest == updated


def test_get_segments_pages_through_every_segment(pinpoint, app_id):
    ids = {create(pinpoint, app_id, Name=f"s{i}")["Id"] for i in range(5)}

    seen, token = [], None
    while True:
        page = pinpoint.get_segments(ApplicationId=app_id, PageSize="2", **({"Token": token} if token else {}))
        seen += [s["Id"] for s in page["SegmentsResponse"]["Item"]]
        token = page["SegmentsResponse"].get("NextToken")
        if not token:
            break

    assert sorted(seen) == sorted(ids)


def test_delete_segment_then_it_is_not_found(pinpoint, app_id):
    segment = create(pinpoint, app_id, Name="gone")

    deleted = pinpoint.delete_segment(ApplicationId=app_id, SegmentId=segment["Id"])["SegmentResponse"]

    assert deleted["Id"] == segment["Id"]
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_segment(ApplicationId=app_id, SegmentId=segment["Id"])
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_segment_version(ApplicationId=app_id, SegmentId=segment["Id"], Version="1")


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        (
            {"Dimensions": {"Metrics": {"m": {"ComparisonOperator": "ABOUT", "Value": 1}}}},
            "Metrics.m.ComparisonOperator",
        ),
        ({"Dimensions": {"Attributes": {"a": {"Values": []}}}}, "Attributes.a.Values"),
        ({"Dimensions": {"Demographic": {"DeviceType": {"Values": ["PHONE"]}}}}, "Demographic.DeviceType"),
        ({"Dimensions": {}, "SegmentGroups": {"Groups": []}}, "WriteSegmentRequest"),
        ({"SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": "nope"}]}]}}, "SourceSegments[0].Id"),
        ({"Dimensions": {"Behavior": {"Recency": {"Duration": "DAY_2", "RecencyType": "ACTIVE"}}}}, "Recency"),
    ],
)
def test_invalid_segments_are_bad_requests_naming_the_field(pinpoint, app_id, request_body, field):
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.create_segment(ApplicationId=app_id, WriteSegmentRequest={"Name": "bad", **request_body})

    assert field in error_of(caught)[2]
    assert pinpoint.get_segments(ApplicationId=app_id)["SegmentsResponse"]["Item"] == []


def test_a_missing_segment_is_not_found_and_a_bad_version_is_a_bad_request(pinpoint, app_id):
    segment = create(pinpoint, app_id, Name="one")

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.update_segment(ApplicationId=app_id, SegmentId="missing", WriteSegmentRequest={"Name": "x"})
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_segment_version(ApplicationId=app_id, SegmentId=segment["Id"], Version="9")
    with pytest.raises(pinpoint.exceptions.BadRequestException):
        pinpoint.get_segment_version(ApplicationId=app_id, SegmentId=segment["Id"], Version="first")


def test_estimate_counts_the_sendable_members(kizuna, pinpoint, app_id):
    expected = audience(pinpoint, app_id)
    segment = create(pinpoint, app_id, Name="東京ゴールド", Dimensions=TOKYO_GOLD)

    estimate = kizuna.kizuna_client().get_segment_estimate(ApplicationId=app_id, SegmentId=segment["Id"])

    assert estimate["SegmentEstimate"] | {"ShardsRead": 16} == {
        "SegmentId": segment["Id"],
        "Version": 1,
        "Size": len(expected),
        "Exact": True,
        "StandardError": 0.0,
        "ShardsRead": 16,
    }
    assert len(expected) == 8  # the audience really is filtered by all five dimensions


def test_segment_groups_over_base_segments(kizuna, pinpoint, app_id):
    expected = audience(pinpoint, app_id)
    base = create(pinpoint, app_id, Name="gold", Dimensions={"Attributes": TOKYO_GOLD["Attributes"]})
    rest = {k: v for k, v in TOKYO_GOLD.items() if k != "Attributes"}
    group = create(
        pinpoint,
        app_id,
        Name="grouped",
        SegmentGroups={"Include": "ALL", "Groups": [{"SourceSegments": [{"Id": base["Id"]}], "Dimensions": [rest]}]},
    )

    estimate = kizuna.kizuna_client().get_segment_estimate(ApplicationId=app_id, SegmentId=group["Id"])

    assert estimate["SegmentEstimate"]["Size"] == len(expected)
    with pytest.raises(pinpoint.exceptions.BadRequestException):  # a cycle through the base segment
        pinpoint.update_segment(
            ApplicationId=app_id,
            SegmentId=base["Id"],
            WriteSegmentRequest={"SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": group["Id"]}]}]}},
        )
