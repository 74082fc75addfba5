"""Fuzzing CreateSegment / UpdateSegment through local mode: never a 5xx, and a refused request writes nothing
(no new segment, no new version)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from test_fuzz_endpoints import FUZZ, _signed, _status_of_boto3_call, _valid_for_botocore, junk, maybe_junk, texts

pytestmark = pytest.mark.e2e

values = maybe_junk(st.lists(texts, max_size=4))
attribute_dimension = maybe_junk(
    st.fixed_dictionaries(
        {},
        optional={
            "AttributeType": maybe_junk(
                st.sampled_from(["INCLUSIVE", "EXCLUSIVE", "CONTAINS", "BEFORE", "AFTER", "ON", "BETWEEN", "X"])
            ),
            "Values": maybe_junk(
                st.lists(st.sampled_from(["2026-11-01T00:00:00Z", "2026-12-01", "yesterday"]) | texts, max_size=3)
            ),
        },
    )
)
set_dimension = maybe_junk(
    st.fixed_dictionaries(
        {}, optional={"DimensionType": st.sampled_from(["INCLUSIVE", "EXCLUSIVE", "?"]), "Values": values}
    )
)
dimensions = maybe_junk(
    st.fixed_dictionaries(
        {},
        optional={
            "Attributes": maybe_junk(st.dictionaries(st.text(max_size=10), attribute_dimension, max_size=3)),
            "UserAttributes": maybe_junk(st.dictionaries(st.text(max_size=10), attribute_dimension, max_size=2)),
            "Metrics": maybe_junk(
                st.dictionaries(
                    st.text(max_size=10),
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "ComparisonOperator": st.sampled_from(["GREATER_THAN", "EQUAL", "ABOUT"]) | junk,
                            "Value": st.floats() | junk,
                        },
                    ),
                    max_size=2,
                )
            ),
            "Demographic": maybe_junk(
                st.fixed_dictionaries(
                    {}, optional={"Channel": set_dimension, "Platform": set_dimension, "DeviceType": set_dimension}
                )
            ),
            "Location": maybe_junk(st.fixed_dictionaries({}, optional={"Country": set_dimension})),
            "Behavior": maybe_junk(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "Recency": maybe_junk(
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "Duration": st.sampled_from(["HR_24", "DAY_7", "DAY_2"]),
                                    "RecencyType": st.sampled_from(["ACTIVE", "INACTIVE", "SLEEPY"]),
                                },
                            )
                        )
                    },
                )
            ),
        },
    )
)
groups = maybe_junk(
    st.fixed_dictionaries(
        {
            "Groups": maybe_junk(
                st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "Dimensions": maybe_junk(st.lists(dimensions, max_size=2)),
                            "SourceSegments": maybe_junk(
                                st.lists(st.fixed_dictionaries({"Id": texts}, optional={"Version": junk}), max_size=2)
                            ),
                            "SourceType": st.sampled_from(["ALL", "ANY", "NONE", "SOME"]),
                            "Type": st.sampled_from(["ALL", "ANY", "NONE", ""]),
                        },
                    ),
                    max_size=3,
                )
            )
        },
        optional={"Include": st.sampled_from(["ALL", "ANY", "NONE", "MOST"])},
    )
)
segment_requests = st.fixed_dictionaries(
    {}, optional={"Name": maybe_junk(texts), "Dimensions": dimensions, "SegmentGroups": groups, "Unknown": junk}
)


@pytest.fixture(scope="module")
def segment_app(pinpoint: Any) -> str:
    return pinpoint.create_app(CreateApplicationRequest={"Name": "fuzz-segments"})["ApplicationResponse"]["Id"]


def _segments(pinpoint: Any, app_id: str) -> dict[str, int]:
    items = pinpoint.get_segments(ApplicationId=app_id)["SegmentsResponse"]["Item"]
    return {s["Id"]: s["Version"] for s in items}


@FUZZ
@given(body=segment_requests)
def test_create_segment(kizuna, pinpoint, segment_app, body):
    before = _segments(pinpoint, segment_app)
    params = {"ApplicationId": segment_app, "WriteSegmentRequest": body}
    if _valid_for_botocore("CreateSegment", params):
        status = _status_of_boto3_call(pinpoint.create_segment, **params)
    else:
        status = _signed(kizuna, "POST", f"/v1/apps/{segment_app}/segments", json.dumps(body).encode()).status_code
    after = _segments(pinpoint, segment_app)
    event(f"CreateSegment {status // 100}xx")

    assert status < 500, f"server error {status}"
    if status >= 400:
        assert after == before, "a refused CreateSegment wrote a segment"
    else:
        assert len(after) == len(before) + 1
        for segment_id in before:  # keep the listing within one page
            pinpoint.delete_segment(ApplicationId=segment_app, SegmentId=segment_id)


@FUZZ
@given(body=segment_requests)
def test_update_segment(kizuna, pinpoint, segment_app, body):
    existing = pinpoint.create_segment(ApplicationId=segment_app, WriteSegmentRequest={"Name": "target"})
    segment_id = existing["SegmentResponse"]["Id"]
    path = f"/v1/apps/{segment_app}/segments/{segment_id}"
    status = _signed(kizuna, "PUT", path, json.dumps(body).encode()).status_code
    versions = pinpoint.get_segment_versions(ApplicationId=segment_app, SegmentId=segment_id)["SegmentsResponse"]
    event(f"UpdateSegment {status // 100}xx")

    assert status < 500, f"server error {status}"
    assert len(versions["Item"]) == (1 if status >= 400 else 2)
    pinpoint.delete_segment(ApplicationId=segment_app, SegmentId=segment_id)
