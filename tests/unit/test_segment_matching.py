"""Segment criteria compiled to predicates (kizuna.domain.segments): every dimension kind, groups, errors naming
the field, and properties over arbitrary endpoint data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.domain.segments import compile_dimensions, compile_groups, compile_segment, validate_write_request
from kizuna.errors import BadRequest

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def no_sources(ref: dict[str, Any], field: str):
    raise AssertionError(f"unexpected source segment {ref} at {field}")


def matches(dimensions: dict[str, Any], endpoint: dict[str, Any]) -> bool:
    return compile_segment({"Dimensions": dimensions}, NOW, no_sources)(endpoint)


def endpoint(**fields: Any) -> dict[str, Any]:
    return {"Id": "e", "ChannelType": "SMS", "Address": "+819012345678", **fields}


# -- attributes -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "values", "held", "expected"),
    [
        ("INCLUSIVE", ["gold"], ["silver", "gold"], True),
        ("INCLUSIVE", ["gold"], ["silver"], False),
        ("INCLUSIVE", ["Gold"], ["gold"], False),  # case-sensitive
        ("EXCLUSIVE", ["gold"], ["silver"], True),
        ("EXCLUSIVE", ["gold"], ["gold"], False),
        ("CONTAINS", ["東京"], ["東京都港区"], True),
        ("CONTAINS", ["大阪"], ["東京都港区"], False),
        ("BEFORE", ["2026-11-01T00:00:00Z"], ["2026-10-31T23:59:59Z"], True),
        ("BEFORE", ["2026-11-01T00:00:00Z"], ["2026-11-01T00:00:00Z"], False),  # strictly before
        ("AFTER", ["2026-11-01T00:00:00Z"], ["2026-11-01T09:00:00+09:00"], False),  # the same instant in JST
        ("AFTER", ["2026-11-01T00:00:00Z"], ["2026-11-01T00:00:01Z"], True),
        ("ON", ["2026-11-01T15:00:00Z"], ["2026-11-01T00:00:00Z"], True),
        ("ON", ["2026-11-01T15:00:00Z"], ["2026-11-02T00:00:00Z"], False),
        ("BETWEEN", ["2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z"], ["2026-11-30T00:00:00Z"], True),  # inclusive
        ("BETWEEN", ["2026-11-30T00:00:00Z", "2026-11-01T00:00:00Z"], ["2026-11-15T00:00:00Z"], True),  # any order
        ("BETWEEN", ["2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z"], ["2026-12-01T00:00:00Z"], False),
        ("AFTER", ["2026-11-01T00:00:00Z"], ["not a date"], False),
    ],
)
def test_attribute_dimension(kind, values, held, expected):
    dims = {"Attributes": {"tier": {"AttributeType": kind, "Values": values}}}

    assert matches(dims, endpoint(Attributes={"tier": held})) is expected


def test_attribute_dimensions_never_match_endpoints_without_the_attribute():
    for kind in ("INCLUSIVE", "EXCLUSIVE", "CONTAINS"):
        dims = {"Attributes": {"tier": {"AttributeType": kind, "Values": ["gold"]}}}
        assert not matches(dims, endpoint())
        assert not matches(dims, endpoint(Attributes={"tier": []}))


def test_user_attributes_are_read_from_the_user():
    dims = {"UserAttributes": {"都市": {"Values": ["東京"]}}}

    assert matches(dims, endpoint(User={"UserId": "u", "UserAttributes": {"都市": ["東京"]}}))
    assert not matches(dims, endpoint(Attributes={"都市": ["東京"]}))


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("GREATER_THAN", 3, False),
        ("GREATER_THAN", 2.5, True),
        ("GREATER_THAN_OR_EQUAL", 3, True),
        ("LESS_THAN", 3, False),
        ("LESS_THAN_OR_EQUAL", 3, True),
        ("EQUAL", 3, True),
        ("EQUAL", 3.1, False),
    ],
)
def test_metric_dimension(operator, value, expected):
    dims = {"Metrics": {"visits": {"ComparisonOperator": operator, "Value": value}}}

    assert matches(dims, endpoint(Metrics={"visits": 3.0})) is expected
    assert not matches(dims, endpoint(Metrics={}))


def test_set_dimensions_channel_demographic_and_country():
    ios_jp = endpoint(
        Demographic={"Platform": "ios", "AppVersion": "2.1", "Make": "Apple", "Model": "iPhone"},
        Location={"Country": "jp"},
    )

    assert matches({"Demographic": {"Channel": {"Values": ["SMS", "VOICE"]}}}, ios_jp)
    assert not matches({"Demographic": {"Channel": {"DimensionType": "EXCLUSIVE", "Values": ["SMS"]}}}, ios_jp)
    assert matches({"Demographic": {"Platform": {"Values": ["ios"]}, "Make": {"Values": ["Apple"]}}}, ios_jp)
    assert not matches({"Demographic": {"AppVersion": {"Values": ["2.0"]}}}, ios_jp)
    assert matches({"Location": {"Country": {"Values": ["JP"]}}}, ios_jp)  # ISO codes compared upper-cased
    assert matches({"Location": {"Country": {"Values": ["jp"]}}}, ios_jp)
    assert not matches({"Location": {"Country": {"DimensionType": "EXCLUSIVE", "Values": ["JP"]}}}, ios_jp)
    assert not matches({"Demographic": {"Platform": {"DimensionType": "EXCLUSIVE", "Values": ["x"]}}}, endpoint())


@pytest.mark.parametrize(
    ("recency", "effective", "expected"),
    [
        ("ACTIVE", "2026-11-24T00:00:00Z", True),
        ("ACTIVE", "2026-11-23T11:59:59Z", False),  # HR_24 before NOW
        ("INACTIVE", "2026-11-23T11:59:59Z", True),
        ("INACTIVE", "2026-11-24T00:00:00Z", False),
        ("ACTIVE", None, False),
        ("INACTIVE", None, False),
    ],
)
def test_recency_reads_effective_date_against_now(recency, effective, expected):
    dims = {"Behavior": {"Recency": {"Duration": "HR_24", "RecencyType": recency}}}
    fields = {"EffectiveDate": effective} if effective else {}

    assert matches(dims, endpoint(**fields)) is expected


def test_every_criterion_of_one_dimensions_document_must_hold():
    dims = {
        "Demographic": {"Channel": {"Values": ["SMS"]}},
        "Attributes": {"tier": {"Values": ["gold"]}},
        "Metrics": {"visits": {"ComparisonOperator": "GREATER_THAN", "Value": 1}},
    }

    assert matches(dims, endpoint(Attributes={"tier": ["gold"]}, Metrics={"visits": 2}))
    assert not matches(dims, endpoint(Attributes={"tier": ["gold"]}, Metrics={"visits": 1}))
    assert not matches(dims, endpoint(ChannelType="EMAIL", Attributes={"tier": ["gold"]}, Metrics={"visits": 2}))
    assert matches({}, endpoint())  # an empty document matches everyone


# -- groups ---------------------------------------------------------------------------------------------------------

GOLD = {"Attributes": {"tier": {"Values": ["gold"]}}}
TOKYO = {"UserAttributes": {"city": {"Values": ["東京"]}}}


def person(tier: str, city: str) -> dict[str, Any]:
    return endpoint(Attributes={"tier": [tier]}, User={"UserAttributes": {"city": [city]}})


@pytest.mark.parametrize(
    ("group_type", "expected"),
    [("ALL", [True, False, False, False]), ("ANY", [True, True, True, False]), ("NONE", [False, False, False, True])],
)
def test_group_type_combines_its_dimensions(group_type, expected):
    predicate = compile_groups({"Groups": [{"Type": group_type, "Dimensions": [GOLD, TOKYO]}]}, NOW, no_sources)
    people = [person("gold", "東京"), person("gold", "大阪"), person("silver", "東京"), person("silver", "大阪")]

    assert [predicate(p) for p in people] == expected


@pytest.mark.parametrize(
    ("include", "expected"),
    [("ALL", [True, False, False, False]), ("ANY", [True, True, True, False]), ("NONE", [False, False, False, True])],
)
def test_include_combines_groups(include, expected):
    groups = {"Include": include, "Groups": [{"Dimensions": [GOLD]}, {"Dimensions": [TOKYO]}]}
    predicate = compile_groups(groups, NOW, no_sources)
    people = [person("gold", "東京"), person("gold", "大阪"), person("silver", "東京"), person("silver", "大阪")]

    assert [predicate(p) for p in people] == expected


def test_source_segments_form_the_base_population_per_source_type():
    bases = {"gold": compile_dimensions(GOLD, NOW), "tokyo": compile_dimensions(TOKYO, NOW)}
    seen: list[str] = []

    def sources(ref: dict[str, Any], field: str):
        seen.append(field)
        return bases[ref["Id"]]

    refs = [{"Id": "gold"}, {"Id": "tokyo", "Version": 2}]
    any_base = compile_groups({"Groups": [{"SourceSegments": refs}]}, NOW, sources)
    all_base = compile_groups({"Groups": [{"SourceSegments": refs, "SourceType": "ALL"}]}, NOW, sources)

    assert (any_base(person("gold", "大阪")), all_base(person("gold", "大阪"))) == (True, False)
    assert all_base(person("gold", "東京"))
    assert seen[0] == "SegmentGroups.Groups[0].SourceSegments[0]"


# -- validation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        (
            {"Dimensions": {"Attributes": {"a": {"AttributeType": "LIKE", "Values": ["x"]}}}},
            "Attributes.a.AttributeType",
        ),
        ({"Dimensions": {"Attributes": {"a": {"Values": []}}}}, "Attributes.a.Values"),
        ({"Dimensions": {"Attributes": {"a": {"Values": [1]}}}}, "Attributes.a.Values[0]"),
        ({"Dimensions": {"Attributes": {"a": {"AttributeType": "BETWEEN", "Values": ["2026-11-01"]}}}}, "a.Values"),
        ({"Dimensions": {"Attributes": {"a": {"AttributeType": "AFTER", "Values": ["soon"]}}}}, "a.Values[0]"),
        ({"Dimensions": {"Metrics": {"m": {"ComparisonOperator": "EQUAL", "Value": "3"}}}}, "Metrics.m.Value"),
        ({"Dimensions": {"Metrics": {"m": {"ComparisonOperator": "NEAR", "Value": 3}}}}, "m.ComparisonOperator"),
        ({"Dimensions": {"Demographic": {"DeviceType": {"Values": ["PHONE"]}}}}, "Demographic.DeviceType"),
        ({"Dimensions": {"Location": {"GPSPoint": {"Coordinates": {}}}}}, "Location.GPSPoint"),
        ({"Dimensions": {"Behavior": {"Recency": {"Duration": "DAY_1", "RecencyType": "ACTIVE"}}}}, "Recency.Duration"),
        ({"Dimensions": {"Demographic": {"Channel": {"DimensionType": "SOME", "Values": ["SMS"]}}}}, "DimensionType"),
        ({"Dimensions": [], "SegmentGroups": None}, "WriteSegmentRequest.Dimensions"),
        ({"Dimensions": {}, "SegmentGroups": {}}, "not both"),
        ({"SegmentGroups": {"Include": "MOST", "Groups": []}}, "SegmentGroups.Include"),
        ({"SegmentGroups": {"Groups": [{"Type": "x"}]}}, "SegmentGroups.Groups[0].Type"),
        ({"SegmentGroups": {"Groups": [{}] * 11}}, "SegmentGroups.Groups holds 11"),
        ({"SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": ""}]}]}}, "SourceSegments[0].Id"),
        ({"SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": "s", "Version": 0}]}]}}, "SourceSegments[0].Version"),
    ],
)
def test_invalid_documents_name_the_field(request_body, field):
    with pytest.raises(BadRequest) as caught:
        validate_write_request(request_body)

    assert field in caught.value.message


# -- properties -----------------------------------------------------------------------------------------------------

junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)
odd_endpoints = st.dictionaries(
    st.sampled_from(["Attributes", "User", "Metrics", "Demographic", "Location", "ChannelType", "EffectiveDate"]),
    junk,
)
EVERY_KIND = {
    "Attributes": {"a": {"AttributeType": "BETWEEN", "Values": ["2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"]}},
    "UserAttributes": {"b": {"AttributeType": "CONTAINS", "Values": ["x"]}},
    "Metrics": {"m": {"ComparisonOperator": "GREATER_THAN", "Value": 0}},
    "Demographic": {"Platform": {"DimensionType": "EXCLUSIVE", "Values": ["ios"]}, "Channel": {"Values": ["SMS"]}},
    "Location": {"Country": {"Values": ["JP"]}},
    "Behavior": {"Recency": {"Duration": "DAY_30", "RecencyType": "INACTIVE"}},
}


@settings(max_examples=300, deadline=None)
@given(odd_endpoints)
def test_a_compiled_predicate_never_raises_on_odd_endpoint_data(candidate):
    predicate = compile_segment({"Dimensions": EVERY_KIND}, NOW, no_sources)
    groups = compile_segment(
        {"SegmentGroups": {"Include": "NONE", "Groups": [{"Type": "ANY", "Dimensions": [EVERY_KIND]}]}}, NOW, no_sources
    )

    assert predicate(candidate) in (True, False)
    assert groups(candidate) in (True, False)


@given(values=st.lists(st.text(max_size=3), min_size=1, max_size=3), held=st.lists(st.text(max_size=3), max_size=4))
def test_inclusive_and_exclusive_partition_the_endpoints_that_carry_the_attribute(values, held):
    inclusive = compile_dimensions({"Attributes": {"a": {"AttributeType": "INCLUSIVE", "Values": values}}}, NOW)
    exclusive = compile_dimensions({"Attributes": {"a": {"AttributeType": "EXCLUSIVE", "Values": values}}}, NOW)
    candidate = endpoint(Attributes={"a": held})

    if held:
        assert inclusive(candidate) != exclusive(candidate)
    else:
        assert not inclusive(candidate) and not exclusive(candidate)


@given(tier=st.sampled_from(["gold", "silver"]), city=st.sampled_from(["東京", "大阪"]))
def test_a_none_group_is_the_negation_of_the_any_group(tier, city):
    dims = [GOLD, TOKYO]
    any_group = compile_groups({"Groups": [{"Type": "ANY", "Dimensions": dims}]}, NOW, no_sources)
    none_group = compile_groups({"Groups": [{"Type": "NONE", "Dimensions": dims}]}, NOW, no_sources)

    assert none_group(person(tier, city)) == (not any_group(person(tier, city)))
