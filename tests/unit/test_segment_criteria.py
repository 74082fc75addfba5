"""Segment criteria (kizuna.domain.segments, kizuna.domain.segment_documents): every dimension kind and operator,
AND within Dimensions, SegmentGroups (Include, Type, SourceSegments), documents refused naming the exact field, and
properties over arbitrary endpoint data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kizuna.domain.segment_documents import MAX_VALUES
from kizuna.domain.segments import (
    MAX_GROUP_DIMENSIONS,
    MAX_GROUPS,
    MAX_SOURCE_SEGMENTS,
    compile_dimensions,
    compile_groups,
    compile_segment,
    match_all,
    source_references,
    validate_write_request,
)
from kizuna.errors import BadRequest

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def no_sources(ref: dict[str, Any], field: str):
    raise AssertionError(f"unexpected source segment {ref} at {field}")


def matches(dimensions: dict[str, Any], endpoint: dict[str, Any], now: datetime = NOW) -> bool:
    result = compile_segment({"Dimensions": dimensions}, now, no_sources)(endpoint)
    assert type(result) is bool
    return result


def group_matches(groups: dict[str, Any], endpoint: dict[str, Any], sources=no_sources) -> bool:
    result = compile_segment({"SegmentGroups": groups}, NOW, sources)(endpoint)
    assert type(result) is bool
    return result


def ep(**fields: Any) -> dict[str, Any]:
    return {"Id": "e1", "ChannelType": "SMS", "Address": "+819012345678", **fields}


def carrying(where: str, name: str, values: Any) -> dict[str, Any]:
    """An endpoint holding `values` under `name` in its Attributes or its User's UserAttributes."""
    if where == "Attributes":
        return ep(Attributes={name: values})
    return ep(User={"UserId": "u1", "UserAttributes": {name: values}})


def attribute(where: str, name: str, kind: str | None, values: list[Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"Values": values}
    if kind is not None:
        spec["AttributeType"] = kind
    return {where: {name: spec}}


def refusal(request: Any) -> str:
    with pytest.raises(BadRequest) as caught:
        validate_write_request(request)
    return caught.value.message


WHERE = pytest.mark.parametrize("where", ["Attributes", "UserAttributes"])

# -- attributes: INCLUSIVE / EXCLUSIVE / CONTAINS ----------------------------------------------------------------------


@WHERE
@pytest.mark.parametrize(
    ("kind", "values", "held", "expected"),
    [
        (None, ["gold"], ["gold"], True),  # INCLUSIVE is the default
        ("INCLUSIVE", ["gold"], ["silver", "gold"], True),  # any held value may match
        ("INCLUSIVE", ["bronze", "gold"], ["gold"], True),  # ... any of the Values
        ("INCLUSIVE", ["gold"], ["silver"], False),
        ("INCLUSIVE", ["Gold"], ["gold"], False),  # case-sensitive
        ("INCLUSIVE", ["gold"], ["golden"], False),  # equality, not substring
        ("INCLUSIVE", ["gold"], [], False),
        ("EXCLUSIVE", ["gold"], ["silver"], True),
        ("EXCLUSIVE", ["gold", "bronze"], ["silver", "iron"], True),
        ("EXCLUSIVE", ["gold"], ["silver", "gold"], False),  # one held value equal to one of Values is enough
        ("EXCLUSIVE", ["Gold"], ["gold"], True),  # case-sensitive
        ("EXCLUSIVE", ["gold"], [], False),  # an empty list is not "having" the attribute
        ("CONTAINS", ["東京"], ["東京都港区"], True),
        ("CONTAINS", ["大阪", "港区"], ["東京都港区"], True),
        ("CONTAINS", ["大阪"], ["東京都港区"], False),
        ("CONTAINS", ["gold"], ["GOLDEN"], False),  # case-sensitive
        ("CONTAINS", ["old"], ["x", "golden"], True),
        ("CONTAINS", ["gold"], [], False),
    ],
)
def test_set_like_attribute_operators(where, kind, values, held, expected):
    assert matches(attribute(where, "tier", kind, values), carrying(where, "tier", held)) is expected


@WHERE
@pytest.mark.parametrize("kind", ["INCLUSIVE", "EXCLUSIVE", "CONTAINS", "BEFORE", "AFTER", "ON", "BETWEEN"])
def test_no_attribute_operator_matches_an_endpoint_without_the_attribute(where, kind):
    values = ["2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"] if kind == "BETWEEN" else ["2026-06-01T00:00:00Z"]
    dims = attribute(where, "a", kind, values)

    assert not matches(dims, ep())
    assert not matches(dims, carrying(where, "other", ["2026-06-01T00:00:00Z"]))
    assert not matches(dims, carrying(where, "a", []))
    assert not matches(dims, carrying(where, "a", "2026-06-01T00:00:00Z"))  # a bare string is not a list
    assert not matches(dims, ep(Attributes=None, User=None))
    assert not matches(dims, ep(User={"UserId": "u1"}))


def test_attributes_and_user_attributes_are_separate_maps():
    endpoint_side = ep(Attributes={"city": ["東京"]})
    user_side = ep(User={"UserId": "u1", "UserAttributes": {"city": ["東京"]}})

    assert matches(attribute("Attributes", "city", None, ["東京"]), endpoint_side)
    assert not matches(attribute("Attributes", "city", None, ["東京"]), user_side)
    assert matches(attribute("UserAttributes", "city", None, ["東京"]), user_side)
    assert not matches(attribute("UserAttributes", "city", None, ["東京"]), endpoint_side)


def test_contains_skips_held_values_that_are_not_strings():
    dims = attribute("Attributes", "a", "CONTAINS", ["1"])

    assert not matches(dims, ep(Attributes={"a": [1, 12, None]}))
    assert matches(dims, ep(Attributes={"a": [1, "x1x"]}))


# -- attributes: instants ----------------------------------------------------------------------------------------------


@WHERE
@pytest.mark.parametrize(
    ("kind", "values", "held", "expected"),
    [
        ("BEFORE", ["2026-11-01T00:00:00Z"], ["2026-10-31T23:59:59Z"], True),
        ("BEFORE", ["2026-11-01T00:00:00Z"], ["2026-11-01T00:00:00Z"], False),  # strictly before
        ("BEFORE", ["2026-11-01T00:00:00Z"], ["2026-11-01T08:59:59+09:00"], True),  # 23:59:59Z the day before
        ("BEFORE", ["2026-11-01T00:00:00Z"], ["2026-11-01T09:00:00+09:00"], False),  # the same instant in JST
        ("BEFORE", ["2026-11-01T00:00:00Z"], ["2026-12-01T00:00:00Z", "2020-01-01T00:00:00Z"], True),  # any value
        ("BEFORE", ["2026-11-01T00:00:00Z"], ["2026-10-31T23:59:59"], True),  # no offset: read as UTC
        ("AFTER", ["2026-11-01T00:00:00Z"], ["2026-11-01T00:00:01Z"], True),
        ("AFTER", ["2026-11-01T00:00:00Z"], ["2026-11-01T00:00:00Z"], False),  # strictly after
        ("AFTER", ["2026-11-01T00:00:00Z"], ["2026-11-01T09:00:00+09:00"], False),
        ("AFTER", ["2026-11-01T09:00:00+09:00"], ["2026-11-01T00:00:00.001Z"], True),  # Values[0] read in UTC too
        ("AFTER", ["2026-11-01T00:00:00Z"], ["2026-10-01T00:00:00Z"], False),
        ("ON", ["2026-11-01T15:00:00Z"], ["2026-11-01T00:00:00Z"], True),  # the time of day is ignored
        ("ON", ["2026-11-01T15:00:00Z"], ["2026-11-01T23:59:59.999Z"], True),
        ("ON", ["2026-11-01T15:00:00Z"], ["2026-11-02T00:00:00Z"], False),
        ("ON", ["2026-11-01T15:00:00Z"], ["2026-11-02T08:00:00+09:00"], True),  # 2026-11-01T23:00Z: UTC date
        ("ON", ["2026-11-02T08:00:00+09:00"], ["2026-11-01T12:00:00Z"], True),  # Values[0] is also a UTC date
        ("ON", ["2026-11-01"], ["2026-11-01T12:00:00Z"], True),  # a date alone is midnight UTC
        ("BETWEEN", ["2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z"], ["2026-11-01T00:00:00Z"], True),  # inclusive
        ("BETWEEN", ["2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z"], ["2026-11-30T00:00:00Z"], True),  # inclusive
        ("BETWEEN", ["2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z"], ["2026-11-15T00:00:00Z"], True),
        ("BETWEEN", ["2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z"], ["2026-10-31T23:59:59Z"], False),
        ("BETWEEN", ["2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z"], ["2026-11-30T00:00:01Z"], False),
        ("BETWEEN", ["2026-11-30T00:00:00Z", "2026-11-01T00:00:00Z"], ["2026-11-15T00:00:00Z"], True),  # any order
        ("BETWEEN", ["2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z"], ["x", "2026-11-15T00:00:00Z"], True),
        ("AFTER", ["2026-11-01T00:00:00Z"], ["not a date", "", "2027"], False),  # unreadable values never match
        ("BEFORE", ["2026-11-01T00:00:00Z"], ["yesterday"], False),
        ("ON", ["2026-11-01T00:00:00Z"], ["11/01/2026"], False),
    ],
)
def test_instant_attribute_operators(where, kind, values, held, expected):
    assert matches(attribute(where, "when", kind, values), carrying(where, "when", held)) is expected


# -- metrics -----------------------------------------------------------------------------------------------------------

BELOW, AT, ABOVE = 2.5, 3.0, 3.5


@pytest.mark.parametrize(
    ("operator", "truth"),
    [
        ("GREATER_THAN", (False, False, True)),
        ("GREATER_THAN_OR_EQUAL", (False, True, True)),
        ("LESS_THAN", (True, False, False)),
        ("LESS_THAN_OR_EQUAL", (True, True, False)),
        ("EQUAL", (False, True, False)),
    ],
)
@pytest.mark.parametrize("target", [3, 3.0])
def test_metric_comparisons(operator, truth, target):
    dims = {"Metrics": {"score": {"ComparisonOperator": operator, "Value": target}}}

    observed = tuple(matches(dims, ep(Metrics={"score": held})) for held in (BELOW, AT, ABOVE))
    assert observed == truth
    assert matches(dims, ep(Metrics={"score": 3})) is truth[1]  # an int metric compares like the float
    assert not matches(dims, ep(Metrics={"other": AT}))
    assert not matches(dims, ep(Metrics={}))
    assert not matches(dims, ep())


@pytest.mark.parametrize("held", ["3", None, True, [3.0], {"v": 3.0}])
def test_a_metric_that_is_not_a_number_never_matches(held):
    for operator in ("GREATER_THAN", "LESS_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL", "EQUAL"):
        # True == 1 in Python; a boolean is still not a metric value.
        dims = {"Metrics": {"score": {"ComparisonOperator": operator, "Value": 1 if held is True else 3}}}
        assert not matches(dims, ep(Metrics={"score": held})), operator


def test_metric_comparisons_with_negative_and_fractional_values():
    dims = {"Metrics": {"balance": {"ComparisonOperator": "LESS_THAN", "Value": -0.5}}}

    assert matches(dims, ep(Metrics={"balance": -1}))
    assert not matches(dims, ep(Metrics={"balance": -0.5}))
    assert not matches(dims, ep(Metrics={"balance": 0.0}))


# -- demographic and location ------------------------------------------------------------------------------------------

PHONE = ep(
    ChannelType="SMS",
    Demographic={"Platform": "ios", "AppVersion": "2.1.0", "Make": "Apple", "Model": "iPhone15,2"},
    Location={"Country": "JP"},
)


@pytest.mark.parametrize(
    ("member", "held", "other"),
    [
        ("Platform", "ios", "android"),
        ("AppVersion", "2.1.0", "2.0.0"),
        ("Make", "Apple", "Google"),
        ("Model", "iPhone15,2", "Pixel 8"),
    ],
)
def test_demographic_set_dimensions(member, held, other):
    def dim(kind: str | None, values: list[str]) -> dict[str, Any]:
        spec: dict[str, Any] = {"Values": values}
        if kind:
            spec["DimensionType"] = kind
        return {"Demographic": {member: spec}}

    assert matches(dim(None, [held]), PHONE)  # INCLUSIVE is the default
    assert matches(dim("INCLUSIVE", [other, held]), PHONE)
    assert not matches(dim("INCLUSIVE", [other]), PHONE)
    assert matches(dim("EXCLUSIVE", [other]), PHONE)
    assert not matches(dim("EXCLUSIVE", [other, held]), PHONE)
    without = ep(Demographic={})
    assert not matches(dim("INCLUSIVE", [held]), without)
    assert not matches(dim("EXCLUSIVE", [other]), without)  # EXCLUSIVE needs the field present
    assert not matches(dim("EXCLUSIVE", [other]), ep())


def test_channel_reads_the_endpoint_channel_type():
    assert matches({"Demographic": {"Channel": {"Values": ["SMS"]}}}, PHONE)
    assert matches({"Demographic": {"Channel": {"Values": ["EMAIL", "SMS"]}}}, PHONE)
    assert not matches({"Demographic": {"Channel": {"Values": ["EMAIL"]}}}, PHONE)
    assert matches({"Demographic": {"Channel": {"DimensionType": "EXCLUSIVE", "Values": ["EMAIL"]}}}, PHONE)
    assert not matches({"Demographic": {"Channel": {"DimensionType": "EXCLUSIVE", "Values": ["SMS"]}}}, PHONE)
    no_channel = {k: v for k, v in PHONE.items() if k != "ChannelType"}
    assert not matches({"Demographic": {"Channel": {"Values": ["SMS"]}}}, no_channel)
    assert not matches({"Demographic": {"Channel": {"DimensionType": "EXCLUSIVE", "Values": ["EMAIL"]}}}, no_channel)


@pytest.mark.parametrize("held", ["JP", "jp", "Jp"])
@pytest.mark.parametrize("wanted", ["JP", "jp", "jP"])
def test_country_is_compared_case_insensitively(held, wanted):
    endpoint = ep(Location={"Country": held})

    assert matches({"Location": {"Country": {"Values": [wanted]}}}, endpoint)
    assert matches({"Location": {"Country": {"Values": ["US", wanted]}}}, endpoint)
    assert not matches({"Location": {"Country": {"DimensionType": "EXCLUSIVE", "Values": [wanted]}}}, endpoint)
    assert matches({"Location": {"Country": {"DimensionType": "EXCLUSIVE", "Values": ["us"]}}}, endpoint)


def test_country_dimensions_never_match_an_endpoint_without_a_country():
    for endpoint in (ep(), ep(Location={}), ep(Location={"City": "Tokyo"}), ep(Location={"Country": 81})):
        assert not matches({"Location": {"Country": {"Values": ["JP"]}}}, endpoint)
        assert not matches({"Location": {"Country": {"DimensionType": "EXCLUSIVE", "Values": ["US"]}}}, endpoint)


# -- behavior: recency -------------------------------------------------------------------------------------------------

DURATIONS = {
    "HR_24": timedelta(hours=24),
    "DAY_7": timedelta(days=7),
    "DAY_14": timedelta(days=14),
    "DAY_30": timedelta(days=30),
}


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@pytest.mark.parametrize("duration", list(DURATIONS))
def test_recency_compares_effective_date_with_now_minus_duration(duration):
    cutoff = NOW - DURATIONS[duration]
    active = {"Behavior": {"Recency": {"Duration": duration, "RecencyType": "ACTIVE"}}}
    inactive = {"Behavior": {"Recency": {"Duration": duration, "RecencyType": "INACTIVE"}}}

    for effective, is_active in [
        (cutoff, True),  # exactly at the cutoff: still active
        (cutoff + timedelta(milliseconds=1), True),
        (cutoff - timedelta(milliseconds=1), False),
        (NOW, True),
        (NOW + timedelta(days=1), True),  # a future EffectiveDate counts as recent
        (cutoff - timedelta(days=400), False),
    ]:
        endpoint = ep(EffectiveDate=stamp(effective))
        assert matches(active, endpoint) is is_active, (duration, effective)
        assert matches(inactive, endpoint) is (not is_active), (duration, effective)


def test_recency_is_anchored_on_the_given_now():
    dims = {"Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "ACTIVE"}}}
    endpoint = ep(EffectiveDate="2026-11-20T00:00:00Z")

    assert matches(dims, endpoint, now=datetime(2026, 11, 26, tzinfo=UTC))
    assert not matches(dims, endpoint, now=datetime(2026, 11, 28, tzinfo=UTC))


def test_recency_reads_offsets_in_effective_date():
    dims = {"Behavior": {"Recency": {"Duration": "HR_24", "RecencyType": "ACTIVE"}}}

    # NOW - 24h is 2026-11-23T12:00Z, i.e. 21:00 in Tokyo.
    assert matches(dims, ep(EffectiveDate="2026-11-23T21:00:00+09:00"))
    assert not matches(dims, ep(EffectiveDate="2026-11-23T20:59:59+09:00"))


@pytest.mark.parametrize("effective", [None, "", "last week", 1764000000, ["2026-11-24T00:00:00Z"]])
def test_recency_matches_neither_way_without_a_readable_effective_date(effective):
    for recency in ("ACTIVE", "INACTIVE"):
        dims = {"Behavior": {"Recency": {"Duration": "DAY_30", "RecencyType": recency}}}
        endpoint = ep() if effective is None else ep(EffectiveDate=effective)
        assert not matches(dims, endpoint), recency


# -- AND within one SegmentDimensions ----------------------------------------------------------------------------------

EVERYTHING = {
    "Attributes": {"tier": {"Values": ["gold"]}},
    "UserAttributes": {"city": {"AttributeType": "CONTAINS", "Values": ["東京"]}},
    "Metrics": {"visits": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 2}},
    "Demographic": {"Channel": {"Values": ["SMS"]}, "Platform": {"Values": ["ios"]}},
    "Location": {"Country": {"Values": ["jp"]}},
    "Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "ACTIVE"}},
}
EVERYONE_WANTED = ep(
    Attributes={"tier": ["gold"]},
    User={"UserId": "u1", "UserAttributes": {"city": ["東京都港区"]}},
    Metrics={"visits": 2},
    Demographic={"Platform": "ios"},
    Location={"Country": "JP"},
    EffectiveDate="2026-11-23T00:00:00Z",
)


def test_every_criterion_of_one_dimensions_document_must_hold():
    assert matches(EVERYTHING, EVERYONE_WANTED)


@pytest.mark.parametrize(
    "spoil",
    [
        {"Attributes": {"tier": ["silver"]}},
        {"User": {"UserId": "u1", "UserAttributes": {"city": ["大阪"]}}},
        {"Metrics": {"visits": 1}},
        {"ChannelType": "EMAIL"},
        {"Demographic": {"Platform": "android"}},
        {"Location": {"Country": "US"}},
        {"EffectiveDate": "2026-11-01T00:00:00Z"},
    ],
)
def test_failing_any_one_criterion_fails_the_dimensions(spoil):
    assert not matches(EVERYTHING, {**EVERYONE_WANTED, **spoil})


def test_an_empty_dimensions_document_matches_everyone():
    assert compile_segment({"Dimensions": {}}, NOW, no_sources) is match_all
    assert compile_segment({}, NOW, no_sources) is match_all
    for endpoint in (ep(), {}, {"Attributes": 5}):
        assert matches({}, endpoint)


def test_several_attributes_in_one_document_are_and_ed():
    dims = {
        "Attributes": {"a": {"Values": ["1"]}, "b": {"Values": ["2"]}, "c": {"Values": ["3"]}, "d": {"Values": ["4"]}}
    }
    full = {"a": ["1"], "b": ["2"], "c": ["3"], "d": ["4"]}

    assert matches(dims, ep(Attributes=full))
    for name in full:
        assert not matches(dims, ep(Attributes={**full, name: ["x"]})), name


# -- segment groups ----------------------------------------------------------------------------------------------------

GOLD = {"Attributes": {"tier": {"Values": ["gold"]}}}
TOKYO = {"UserAttributes": {"city": {"Values": ["東京"]}}}
SMS = {"Demographic": {"Channel": {"Values": ["SMS"]}}}


def person(tier: str, city: str, channel: str = "SMS") -> dict[str, Any]:
    return ep(
        ChannelType=channel, Attributes={"tier": [tier]}, User={"UserId": "u", "UserAttributes": {"city": [city]}}
    )


FOUR = [person("gold", "東京"), person("gold", "大阪"), person("silver", "東京"), person("silver", "大阪")]


@pytest.mark.parametrize(
    ("group_type", "expected"),
    [
        (None, [True, False, False, False]),  # ALL is the default
        ("ALL", [True, False, False, False]),
        ("ANY", [True, True, True, False]),
        ("NONE", [False, False, False, True]),
    ],
)
def test_group_type_combines_its_dimensions(group_type, expected):
    group: dict[str, Any] = {"Dimensions": [GOLD, TOKYO]}
    if group_type:
        group["Type"] = group_type

    assert [group_matches({"Groups": [group]}, p) for p in FOUR] == expected


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        (None, [True, False, False, False]),  # ALL is the default
        ("ALL", [True, False, False, False]),
        ("ANY", [True, True, True, False]),
        ("NONE", [False, False, False, True]),
    ],
)
def test_include_combines_groups(include, expected):
    groups: dict[str, Any] = {"Groups": [{"Dimensions": [GOLD]}, {"Dimensions": [TOKYO]}]}
    if include:
        groups["Include"] = include

    assert [group_matches(groups, p) for p in FOUR] == expected


def test_include_any_over_three_groups_of_different_types():
    groups = {
        "Include": "ANY",
        "Groups": [
            {"Type": "ALL", "Dimensions": [GOLD, TOKYO]},  # gold in Tokyo
            {"Type": "NONE", "Dimensions": [GOLD, TOKYO]},  # neither gold nor Tokyo
            {"Type": "ANY", "Dimensions": [{"Demographic": {"Channel": {"Values": ["EMAIL"]}}}]},
        ],
    }

    assert [group_matches(groups, p) for p in FOUR] == [True, False, False, True]
    assert group_matches(groups, person("gold", "大阪", channel="EMAIL"))


def test_a_group_dimension_is_a_whole_dimensions_document_and_ed_inside():
    gold_sms = {**GOLD, **SMS}
    groups = {"Groups": [{"Type": "ANY", "Dimensions": [gold_sms, TOKYO]}]}

    assert group_matches(groups, person("gold", "大阪"))
    assert not group_matches(groups, person("gold", "大阪", channel="EMAIL"))
    assert group_matches(groups, person("silver", "東京", channel="EMAIL"))


@pytest.mark.parametrize("group_type", ["ALL", "ANY", "NONE"])
def test_an_empty_dimensions_list_holds_for_every_group_type(group_type):
    for groups in ({"Groups": [{"Type": group_type, "Dimensions": []}]}, {"Groups": [{"Type": group_type}]}):
        assert all(group_matches(groups, p) for p in FOUR)


@pytest.mark.parametrize("include", ["ALL", "ANY", "NONE"])
def test_no_groups_matches_everyone(include):
    assert all(group_matches({"Include": include, "Groups": []}, p) for p in FOUR)
    assert all(group_matches({"Include": include}, p) for p in FOUR)


def test_a_none_group_over_a_match_everyone_dimension_matches_nobody():
    assert not any(group_matches({"Groups": [{"Type": "NONE", "Dimensions": [{}]}]}, p) for p in FOUR)
    assert not any(group_matches({"Include": "NONE", "Groups": [{}]}, p) for p in FOUR)


# -- source segments ---------------------------------------------------------------------------------------------------


class Sources:
    """A SourceLookup over named dimension documents that records what it was asked."""

    def __init__(self, **segments: dict[str, Any]) -> None:
        self.segments = {name: compile_dimensions(doc, NOW) for name, doc in segments.items()}
        self.asked: list[tuple[dict[str, Any], str]] = []

    def __call__(self, ref: dict[str, Any], field: str):
        self.asked.append((dict(ref), field))
        return self.segments[ref["Id"]]


@pytest.mark.parametrize(
    ("source_type", "expected"),
    [
        (None, [True, True, True, False]),  # ANY is the default: several bases widen the population
        ("ANY", [True, True, True, False]),
        ("ALL", [True, False, False, False]),
        ("NONE", [False, False, False, True]),
    ],
)
def test_source_segments_are_combined_per_source_type(source_type, expected):
    sources = Sources(gold=GOLD, tokyo=TOKYO)
    group: dict[str, Any] = {"SourceSegments": [{"Id": "gold"}, {"Id": "tokyo", "Version": 3}]}
    if source_type:
        group["SourceType"] = source_type

    assert [group_matches({"Groups": [group]}, p, sources) for p in FOUR] == expected
    assert sources.asked[:2] == [
        ({"Id": "gold"}, "SegmentGroups.Groups[0].SourceSegments[0]"),
        ({"Id": "tokyo", "Version": 3}, "SegmentGroups.Groups[0].SourceSegments[1]"),
    ]


def test_a_group_matches_its_base_population_and_its_dimensions():
    sources = Sources(gold=GOLD)
    groups = {"Groups": [{"SourceSegments": [{"Id": "gold"}], "Dimensions": [TOKYO]}]}

    assert [group_matches(groups, p, sources) for p in FOUR] == [True, False, False, False]


def test_a_group_with_a_none_base_and_any_dimensions():
    sources = Sources(gold=GOLD)
    groups = {
        "Groups": [
            {"SourceSegments": [{"Id": "gold"}], "SourceType": "NONE", "Type": "ANY", "Dimensions": [TOKYO, SMS]}
        ]
    }

    assert [group_matches(groups, p, sources) for p in FOUR] == [False, False, True, True]
    assert not group_matches(groups, person("silver", "大阪", channel="EMAIL"), sources)


def test_each_group_has_its_own_base_population():
    sources = Sources(gold=GOLD, silver={"Attributes": {"tier": {"Values": ["silver"]}}})
    groups = {
        "Include": "ANY",
        "Groups": [
            {"SourceSegments": [{"Id": "gold"}], "Dimensions": [TOKYO]},
            {"SourceSegments": [{"Id": "silver"}], "Type": "NONE", "Dimensions": [TOKYO]},
        ],
    }

    assert [group_matches(groups, p, sources) for p in FOUR] == [True, False, False, True]
    assert [field for _ref, field in sources.asked[:2]] == [
        "SegmentGroups.Groups[0].SourceSegments[0]",
        "SegmentGroups.Groups[1].SourceSegments[0]",
    ]


def test_source_references_lists_every_reference_with_its_path():
    groups = {
        "Groups": [
            {"SourceSegments": [{"Id": "a"}, {"Id": "b", "Version": 2}]},
            {"Dimensions": [GOLD]},
            {"SourceSegments": [{"Id": "c"}]},
        ]
    }

    assert source_references(groups) == [
        ({"Id": "a"}, "SegmentGroups.Groups[0].SourceSegments[0]"),
        ({"Id": "b", "Version": 2}, "SegmentGroups.Groups[0].SourceSegments[1]"),
        ({"Id": "c"}, "SegmentGroups.Groups[2].SourceSegments[0]"),
    ]
    assert source_references(None) == [] and source_references({}) == []


def test_validation_does_not_look_source_segments_up():
    validate_write_request({"SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": "anything", "Version": 4}]}]}})


# -- invalid documents -------------------------------------------------------------------------------------------------

W = "WriteSegmentRequest"
D = f"{W}.Dimensions"
G = f"{W}.SegmentGroups"
GOOD_ATTR = {"Values": ["x"]}


def grouped(group: dict[str, Any]) -> dict[str, Any]:
    return {"SegmentGroups": {"Groups": [group]}}


INVALID = [
    # the request and its two halves
    ("x", f"{W} must be an object"),
    ({"Dimensions": {}, "SegmentGroups": {}}, f"{W} can include Dimensions or SegmentGroups, but not both"),
    ({"Dimensions": GOLD, "SegmentGroups": {"Groups": []}}, f"{W} can include Dimensions or SegmentGroups"),
    ({"Dimensions": []}, f"{D} must be an object"),
    ({"Dimensions": "gold"}, f"{D} must be an object"),
    ({"SegmentGroups": []}, f"{G} must be an object"),
    # attributes
    ({"Dimensions": {"Attributes": []}}, f"{D}.Attributes must be an object"),
    ({"Dimensions": {"Attributes": {"a": ["x"]}}}, f"{D}.Attributes.a must be an object"),
    (
        {"Dimensions": {"Attributes": {"a": {"AttributeType": "LIKE", "Values": ["x"]}}}},
        f"{D}.Attributes.a.AttributeType",
    ),
    (
        {"Dimensions": {"Attributes": {"a": {"AttributeType": "inclusive", "Values": ["x"]}}}},
        f"{D}.Attributes.a.AttributeType",
    ),
    ({"Dimensions": {"Attributes": {"a": {}}}}, f"{D}.Attributes.a.Values must hold at least one value"),
    ({"Dimensions": {"Attributes": {"a": {"Values": []}}}}, f"{D}.Attributes.a.Values must hold at least one value"),
    ({"Dimensions": {"Attributes": {"a": {"Values": "x"}}}}, f"{D}.Attributes.a.Values must hold at least one value"),
    ({"Dimensions": {"Attributes": {"a": {"Values": ["x", 1]}}}}, f"{D}.Attributes.a.Values[1] must be a string"),
    ({"Dimensions": {"Attributes": {"a": {"Values": ["x"] * (MAX_VALUES + 1)}}}}, f"{D}.Attributes.a.Values holds 101"),
    (
        {"Dimensions": {"Attributes": {"a": {"AttributeType": "BEFORE", "Values": ["soon"]}}}},
        f"{D}.Attributes.a.Values[0] must be an ISO-8601 instant",
    ),
    (
        {
            "Dimensions": {
                "Attributes": {
                    "a": {"AttributeType": "AFTER", "Values": ["2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"]}
                }
            }
        },
        f"{D}.Attributes.a.Values must hold exactly 1",
    ),
    (
        {"Dimensions": {"Attributes": {"a": {"AttributeType": "ON", "Values": ["2026-13-01"]}}}},
        f"{D}.Attributes.a.Values[0]",
    ),
    (
        {"Dimensions": {"Attributes": {"a": {"AttributeType": "BETWEEN", "Values": ["2026-01-01T00:00:00Z"]}}}},
        f"{D}.Attributes.a.Values must hold exactly 2",
    ),
    (
        {
            "Dimensions": {
                "Attributes": {"a": {"AttributeType": "BETWEEN", "Values": ["2026-01-01T00:00:00Z", "later"]}}
            }
        },
        f"{D}.Attributes.a.Values[1] must be an ISO-8601 instant",
    ),
    ({"Dimensions": {"UserAttributes": "x"}}, f"{D}.UserAttributes must be an object"),
    (
        {"Dimensions": {"UserAttributes": {"u": {"AttributeType": "EQUALS", "Values": ["x"]}}}},
        f"{D}.UserAttributes.u.AttributeType",
    ),
    ({"Dimensions": {"UserAttributes": {"u": {"Values": [None]}}}}, f"{D}.UserAttributes.u.Values[0] must be a string"),
    # metrics
    ({"Dimensions": {"Metrics": ["score"]}}, f"{D}.Metrics must be an object"),
    ({"Dimensions": {"Metrics": {"score": 3}}}, f"{D}.Metrics.score must be an object"),
    ({"Dimensions": {"Metrics": {"score": {"Value": 3}}}}, f"{D}.Metrics.score.ComparisonOperator must be one of"),
    (
        {"Dimensions": {"Metrics": {"score": {"ComparisonOperator": "NEAR", "Value": 3}}}},
        f"{D}.Metrics.score.ComparisonOperator",
    ),
    (
        {"Dimensions": {"Metrics": {"score": {"ComparisonOperator": "EQUAL"}}}},
        f"{D}.Metrics.score.Value must be a number",
    ),
    (
        {"Dimensions": {"Metrics": {"score": {"ComparisonOperator": "EQUAL", "Value": "3"}}}},
        f"{D}.Metrics.score.Value must be a number",
    ),
    (
        {"Dimensions": {"Metrics": {"score": {"ComparisonOperator": "EQUAL", "Value": True}}}},
        f"{D}.Metrics.score.Value must be a number",
    ),
    (
        {"Dimensions": {"Metrics": {"score": {"ComparisonOperator": "EQUAL", "Value": [3]}}}},
        f"{D}.Metrics.score.Value must be a number",
    ),
    # demographic and location
    ({"Dimensions": {"Demographic": "ios"}}, f"{D}.Demographic must be an object"),
    ({"Dimensions": {"Demographic": {"Channel": ["SMS"]}}}, f"{D}.Demographic.Channel must be an object"),
    (
        {"Dimensions": {"Demographic": {"Channel": {"DimensionType": "SOME", "Values": ["SMS"]}}}},
        f"{D}.Demographic.Channel.DimensionType",
    ),
    ({"Dimensions": {"Demographic": {"Channel": {"Values": []}}}}, f"{D}.Demographic.Channel.Values must hold"),
    (
        {"Dimensions": {"Demographic": {"Platform": {"Values": [1]}}}},
        f"{D}.Demographic.Platform.Values[0] must be a string",
    ),
    (
        {"Dimensions": {"Demographic": {"AppVersion": {"DimensionType": "CONTAINS", "Values": ["1"]}}}},
        f"{D}.Demographic.AppVersion.DimensionType",
    ),
    ({"Dimensions": {"Demographic": {"Make": {}}}}, f"{D}.Demographic.Make.Values must hold"),
    (
        {"Dimensions": {"Demographic": {"Model": {"Values": ["a", ["b"]]}}}},
        f"{D}.Demographic.Model.Values[1] must be a string",
    ),
    (
        {"Dimensions": {"Demographic": {"DeviceType": {"Values": ["PHONE"]}}}},
        f"{D}.Demographic.DeviceType is not supported",
    ),
    ({"Dimensions": {"Location": 1}}, f"{D}.Location must be an object"),
    (
        {"Dimensions": {"Location": {"Country": {"Values": ["JP", 81]}}}},
        f"{D}.Location.Country.Values[1] must be a string",
    ),
    (
        {"Dimensions": {"Location": {"Country": {"DimensionType": "NEAR", "Values": ["JP"]}}}},
        f"{D}.Location.Country.DimensionType",
    ),
    (
        {
            "Dimensions": {
                "Location": {
                    "GPSPoint": {"Coordinates": {"Latitude": 35.6, "Longitude": 139.7}, "RangeInKilometers": 5}
                }
            }
        },
        f"{D}.Location.GPSPoint is not supported",
    ),
    # behavior
    ({"Dimensions": {"Behavior": []}}, f"{D}.Behavior must be an object"),
    ({"Dimensions": {"Behavior": {"Recency": "ACTIVE"}}}, f"{D}.Behavior.Recency must be an object"),
    (
        {"Dimensions": {"Behavior": {"Recency": {"Duration": "DAY_1", "RecencyType": "ACTIVE"}}}},
        f"{D}.Behavior.Recency.Duration must be one of",
    ),
    (
        {"Dimensions": {"Behavior": {"Recency": {"RecencyType": "ACTIVE"}}}},
        f"{D}.Behavior.Recency.Duration must be one of",
    ),
    (
        {"Dimensions": {"Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "DORMANT"}}}},
        f"{D}.Behavior.Recency.RecencyType must be one of",
    ),
    (
        {"Dimensions": {"Behavior": {"Recency": {"Duration": "DAY_7"}}}},
        f"{D}.Behavior.Recency.RecencyType must be one of",
    ),
    # groups
    ({"SegmentGroups": {"Include": "MOST", "Groups": []}}, f"{G}.Include must be one of"),
    ({"SegmentGroups": {"Groups": {"0": {}}}}, f"{G}.Groups must be a list"),
    ({"SegmentGroups": {"Groups": [{}] * (MAX_GROUPS + 1)}}, f"{G}.Groups holds 11 items; the limit is 10"),
    ({"SegmentGroups": {"Groups": [{}, "group"]}}, f"{G}.Groups[1] must be an object"),
    (grouped({"Type": "SOME"}), f"{G}.Groups[0].Type must be one of"),
    (grouped({"SourceType": "EVERY"}), f"{G}.Groups[0].SourceType must be one of"),
    (grouped({"Dimensions": GOLD}), f"{G}.Groups[0].Dimensions must be a list"),
    (grouped({"Dimensions": [{}] * (MAX_GROUP_DIMENSIONS + 1)}), f"{G}.Groups[0].Dimensions holds 51 items"),
    (grouped({"Dimensions": [GOLD, "gold"]}), f"{G}.Groups[0].Dimensions[1] must be an object"),
    (
        {
            "SegmentGroups": {
                "Groups": [
                    {},
                    {"Dimensions": [GOLD, {}, {"Metrics": {"m": {"ComparisonOperator": "EQUAL", "Value": "1"}}}]},
                ]
            }
        },
        f"{G}.Groups[1].Dimensions[2].Metrics.m.Value must be a number",
    ),
    (
        grouped({"Dimensions": [{"Location": {"GPSPoint": {}}}]}),
        f"{G}.Groups[0].Dimensions[0].Location.GPSPoint is not supported",
    ),
    (grouped({"SourceSegments": {"Id": "s"}}), f"{G}.Groups[0].SourceSegments must be a list"),
    (
        grouped({"SourceSegments": [{"Id": "s"}] * (MAX_SOURCE_SEGMENTS + 1)}),
        f"{G}.Groups[0].SourceSegments holds 11 items",
    ),
    (grouped({"SourceSegments": ["s"]}), f"{G}.Groups[0].SourceSegments[0] must be an object"),
    (grouped({"SourceSegments": [{"Id": "s"}, {}]}), f"{G}.Groups[0].SourceSegments[1].Id is required"),
    (grouped({"SourceSegments": [{"Id": ""}]}), f"{G}.Groups[0].SourceSegments[0].Id is required"),
    (grouped({"SourceSegments": [{"Id": 7}]}), f"{G}.Groups[0].SourceSegments[0].Id is required"),
    (
        grouped({"SourceSegments": [{"Id": "s", "Version": 0}]}),
        f"{G}.Groups[0].SourceSegments[0].Version must be a positive integer",
    ),
    (
        grouped({"SourceSegments": [{"Id": "s", "Version": "1"}]}),
        f"{G}.Groups[0].SourceSegments[0].Version must be a positive integer",
    ),
    (
        grouped({"SourceSegments": [{"Id": "s", "Version": True}]}),
        f"{G}.Groups[0].SourceSegments[0].Version must be a positive integer",
    ),
    (
        grouped({"SourceSegments": [{"Id": "s", "Version": 1.0}]}),
        f"{G}.Groups[0].SourceSegments[0].Version must be a positive integer",
    ),
]


@pytest.mark.parametrize(("request_body", "expected"), INVALID, ids=[e for _r, e in INVALID])
def test_an_invalid_document_is_refused_naming_the_exact_field(request_body, expected):
    message = refusal(request_body)

    assert message.startswith(expected)
    # The field is named in full, not as a suffix of some longer path.
    assert message.split(" ")[0] == expected.split(" ")[0]


def test_the_metric_comparison_operator_field_path_in_full():
    message = refusal({"Dimensions": {"Metrics": {"score": {"ComparisonOperator": "ABOUT", "Value": 1}}}})

    assert message == (
        "WriteSegmentRequest.Dimensions.Metrics.score.ComparisonOperator must be one of GREATER_THAN, LESS_THAN, "
        "GREATER_THAN_OR_EQUAL, LESS_THAN_OR_EQUAL, EQUAL; got 'ABOUT'"
    )


def test_unsupported_dimensions_say_why_and_are_refused_even_beside_valid_ones():
    device = refusal(
        {"Dimensions": {**GOLD, "Demographic": {"Platform": GOOD_ATTR, "DeviceType": {"Values": ["PHONE"]}}}}
    )
    gps = refusal({"Dimensions": {"Location": {"Country": {"Values": ["JP"]}, "GPSPoint": {"RangeInKilometers": 1}}}})

    assert device == f"{D}.Demographic.DeviceType is not supported by Kizuna (endpoints carry no device type)"
    assert gps == f"{D}.Location.GPSPoint is not supported by Kizuna (no geo index)"


def test_compiling_refuses_what_validation_refuses():
    with pytest.raises(BadRequest, match=r"^Dimensions\.Metrics\.m\.Value"):
        compile_segment({"Dimensions": {"Metrics": {"m": {"ComparisonOperator": "EQUAL"}}}}, NOW, no_sources)
    with pytest.raises(BadRequest, match=r"^SegmentGroups\.Groups\[0\]\.Type"):
        compile_segment({"SegmentGroups": {"Groups": [{"Type": "x"}]}}, NOW, no_sources)
    with pytest.raises(BadRequest, match=r"^Mine\.Attributes\.a\.Values"):
        compile_dimensions({"Attributes": {"a": {"Values": []}}}, NOW, "Mine")
    with pytest.raises(BadRequest, match=r"^Mine\.Groups\[1\]\.Dimensions\[0\]\.Attributes\.a\.Values"):
        compile_groups({"Groups": [{}, {"Dimensions": [{"Attributes": {"a": {}}}]}]}, NOW, no_sources, "Mine")


@pytest.mark.parametrize(
    "request_body",
    [
        None,
        {},
        {"Name": "everyone"},
        {"Dimensions": None, "SegmentGroups": None},
        {"Dimensions": EVERYTHING},
        {"Dimensions": {"Attributes": {"a": {"Values": ["x"] * MAX_VALUES}}}},
        {
            "SegmentGroups": {
                "Include": "NONE",
                "Groups": [{"Type": "ANY", "SourceType": "ALL", "Dimensions": [EVERYTHING, {}]}] * MAX_GROUPS,
            }
        },
        {
            "SegmentGroups": {
                "Groups": [{"SourceSegments": [{"Id": f"s{i}", "Version": i + 1} for i in range(MAX_SOURCE_SEGMENTS)]}]
            }
        },
        {
            "Dimensions": {
                "Attributes": {"a": {"AttributeType": "BETWEEN", "Values": ["2026-01-01", "2026-02-01T00:00:00+09:00"]}}
            }
        },
    ],
)
def test_valid_documents_pass_validation(request_body):
    assert validate_write_request(request_body) is None


# -- odd and extreme input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("held", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_extreme_instant_in_endpoint_data_does_not_crash_the_predicate(held):
    dims = attribute("Attributes", "when", "AFTER", ["2026-01-01T00:00:00Z"])

    assert not matches(dims, ep(Attributes={"when": [held]}))


def test_an_extreme_effective_date_does_not_crash_recency():
    dims = {"Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "INACTIVE"}}}

    assert not matches(dims, ep(EffectiveDate="0001-01-01T00:00:00+01:00"))


def test_an_out_of_range_instant_in_a_document_is_refused_naming_the_field():
    message = refusal(
        {"Dimensions": {"Attributes": {"a": {"AttributeType": "ON", "Values": ["0001-01-01T00:00:00+01:00"]}}}}
    )

    assert message.startswith(f"{D}.Attributes.a.Values[0]")


def test_a_metric_value_beyond_float_range_is_refused_naming_the_field():
    message = refusal({"Dimensions": {"Metrics": {"score": {"ComparisonOperator": "EQUAL", "Value": 10**400}}}})

    assert message.startswith(f"{D}.Metrics.score.Value")


ODD_METRICS = {"Metrics": {"score": {"ComparisonOperator": "GREATER_THAN", "Value": 0}}}


def test_odd_data_in_a_none_group_counts_as_not_matching_the_dimension():
    groups = {"Groups": [{"Type": "NONE", "Dimensions": [ODD_METRICS]}]}

    # The same dimension does not match either endpoint; a NONE group of it must hold for both.
    assert not matches(ODD_METRICS, ep(Metrics=[])) and not matches(ODD_METRICS, ep(Metrics="odd"))
    assert group_matches(groups, ep(Metrics=[]))
    assert group_matches(groups, ep(Metrics="odd"))


def test_odd_data_in_one_dimension_of_an_any_group_does_not_hide_another_that_matches():
    endpoint = ep(Metrics="odd", Attributes={"tier": ["gold"]})

    assert matches(GOLD, endpoint)
    assert group_matches({"Groups": [{"Type": "ANY", "Dimensions": [GOLD, ODD_METRICS]}]}, endpoint)
    assert group_matches({"Groups": [{"Type": "ANY", "Dimensions": [ODD_METRICS, GOLD]}]}, endpoint)
    assert group_matches(
        {"Include": "ANY", "Groups": [{"Dimensions": [ODD_METRICS]}, {"Dimensions": [GOLD]}]}, endpoint
    )


# -- properties --------------------------------------------------------------------------------------------------------

iso_text = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from([UTC, None])
).map(lambda d: d.isoformat())
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.sampled_from(["gold", "SMS", "ios", "JP", "jp", "東京", "x", ""])
    | iso_text
)
junk = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(
            st.sampled_from(["a", "u", "score", "tier", "Country", "Platform", "UserAttributes"]) | st.text(max_size=4),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
named = st.dictionaries(st.sampled_from(["a", "u", "score", "tier", "when"]), junk, max_size=4)
odd_endpoints = st.fixed_dictionaries(
    {},
    optional={
        "Id": junk,
        "ChannelType": junk,
        "Attributes": named | junk,
        "User": st.fixed_dictionaries({}, optional={"UserId": junk, "UserAttributes": named | junk}) | junk,
        "Metrics": named | junk,
        "Demographic": st.dictionaries(st.sampled_from(["Platform", "AppVersion", "Make", "Model"]), junk) | junk,
        "Location": st.dictionaries(st.sampled_from(["Country", "City"]), junk) | junk,
        "EffectiveDate": junk,
        "OptOut": junk,
        "EndpointStatus": junk,
    },
)

EVERY_KIND = {
    "Attributes": {
        "a": {"AttributeType": "BETWEEN", "Values": ["2000-01-01T00:00:00Z", "2050-01-01T00:00:00Z"]},
        "tier": {"AttributeType": "EXCLUSIVE", "Values": ["gold"]},
    },
    "UserAttributes": {
        "u": {"AttributeType": "CONTAINS", "Values": ["x"]},
        "when": {"AttributeType": "ON", "Values": ["2026-11-01"]},
    },
    "Metrics": {"score": {"ComparisonOperator": "GREATER_THAN", "Value": 0}},
    "Demographic": {
        "Channel": {"Values": ["SMS"]},
        "Platform": {"DimensionType": "EXCLUSIVE", "Values": ["ios"]},
        "AppVersion": {"Values": ["1"]},
        "Make": {"DimensionType": "EXCLUSIVE", "Values": ["x"]},
        "Model": {"Values": ["m"]},
    },
    "Location": {"Country": {"DimensionType": "EXCLUSIVE", "Values": ["us"]}},
    "Behavior": {"Recency": {"Duration": "DAY_30", "RecencyType": "INACTIVE"}},
}
ONE_EACH = (
    [
        {"Attributes": {"a": {"AttributeType": kind, "Values": values}}}
        for kind, values in [
            ("INCLUSIVE", ["x"]),
            ("EXCLUSIVE", ["x"]),
            ("CONTAINS", ["x"]),
            ("BEFORE", ["2026-01-01T00:00:00Z"]),
            ("AFTER", ["2026-01-01T00:00:00Z"]),
            ("ON", ["2026-01-01T00:00:00Z"]),
            ("BETWEEN", ["2000-01-01T00:00:00Z", "2030-01-01T00:00:00Z"]),
        ]
    ]
    + [
        {"Metrics": {"score": {"ComparisonOperator": op, "Value": 1}}}
        for op in ("GREATER_THAN", "LESS_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL", "EQUAL")
    ]
    + [
        {"Demographic": {member: {"DimensionType": kind, "Values": ["ios", "SMS"]}}}
        for member in ("Channel", "Platform", "AppVersion", "Make", "Model")
        for kind in ("INCLUSIVE", "EXCLUSIVE")
    ]
    + [
        {"Location": {"Country": {"DimensionType": "INCLUSIVE", "Values": ["jp"]}}},
        {"Behavior": {"Recency": {"Duration": "HR_24", "RecencyType": "ACTIVE"}}},
        {"UserAttributes": {"u": {"Values": ["x"]}}},
    ]
)
COMPILED_ODD = (
    [compile_segment({"Dimensions": EVERY_KIND}, NOW, no_sources)]
    + [compile_segment({"Dimensions": d}, NOW, no_sources) for d in ONE_EACH]
    + [
        compile_segment(
            {
                "SegmentGroups": {
                    "Include": include,
                    "Groups": [{"Type": kind, "Dimensions": [EVERY_KIND, *ONE_EACH[:5]]}],
                }
            },
            NOW,
            no_sources,
        )
        for include in ("ALL", "ANY", "NONE")
        for kind in ("ALL", "ANY", "NONE")
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(odd_endpoints)
def test_a_compiled_predicate_never_raises_on_odd_endpoint_data(candidate):
    for predicate in COMPILED_ODD:
        assert type(predicate(candidate)) is bool


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    )
)
def test_a_compiled_predicate_never_raises_on_whatever_the_endpoint_is(candidate):
    for predicate in COMPILED_ODD:
        if isinstance(candidate, dict):  # the port hands predicates dicts; anything inside them is fair game
            assert type(predicate(candidate)) is bool
        assert type(predicate({"Attributes": {"a": candidate}, "Metrics": {"score": candidate}})) is bool


small_text = st.text(alphabet="ab東", max_size=2)


@settings(max_examples=300, deadline=None)
@given(
    where=st.sampled_from(["Attributes", "UserAttributes"]),
    values=st.lists(small_text, min_size=1, max_size=4),
    held=st.none() | st.lists(small_text, max_size=4),
)
def test_inclusive_and_exclusive_partition_the_endpoints_that_carry_the_attribute(where, values, held):
    endpoint = ep() if held is None else carrying(where, "a", held)
    inclusive = matches(attribute(where, "a", "INCLUSIVE", values), endpoint)
    exclusive = matches(attribute(where, "a", "EXCLUSIVE", values), endpoint)

    if held:
        assert inclusive != exclusive
        assert inclusive is bool(set(values) & set(held))
    else:
        assert not inclusive and not exclusive


tiers = st.sampled_from(["gold", "silver"])
sane_endpoints = st.builds(
    lambda tier, city, score, channel, platform, country, days: ep(
        ChannelType=channel,
        Attributes={} if tier is None else {"tier": [tier]},
        User={"UserId": "u", "UserAttributes": {"city": [city]}},
        Metrics={} if score is None else {"score": score},
        Demographic={"Platform": platform} if platform else {},
        Location={"Country": country} if country else {},
        EffectiveDate=stamp(NOW - timedelta(days=days)),
    ),
    st.none() | tiers,
    st.sampled_from(["東京", "大阪"]),
    st.none() | st.integers(-2, 4) | st.floats(-2, 4),
    st.sampled_from(["SMS", "EMAIL", "VOICE"]),
    st.none() | st.sampled_from(["ios", "android"]),
    st.none() | st.sampled_from(["JP", "jp", "US"]),
    st.integers(0, 40),
)
POOL = [
    GOLD,
    TOKYO,
    SMS,
    {},
    {"Attributes": {"tier": {"AttributeType": "EXCLUSIVE", "Values": ["gold"]}}},
    {"Metrics": {"score": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 1}}},
    {"Demographic": {"Platform": {"DimensionType": "EXCLUSIVE", "Values": ["ios"]}}},
    {"Location": {"Country": {"Values": ["JP"]}}},
    {"Behavior": {"Recency": {"Duration": "DAY_14", "RecencyType": "ACTIVE"}}},
    {**GOLD, **SMS},
]
dimension_lists = st.lists(st.sampled_from(POOL), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(dims=dimension_lists, endpoint=sane_endpoints)
def test_a_none_group_is_the_negation_of_the_any_group(dims, endpoint):
    any_group = group_matches({"Groups": [{"Type": "ANY", "Dimensions": dims}]}, endpoint)
    none_group = group_matches({"Groups": [{"Type": "NONE", "Dimensions": dims}]}, endpoint)
    include_any = group_matches({"Include": "ANY", "Groups": [{"Dimensions": [d]} for d in dims]}, endpoint)
    include_none = group_matches({"Include": "NONE", "Groups": [{"Dimensions": [d]} for d in dims]}, endpoint)

    assert none_group is (not any_group)
    assert include_none is (not include_any)
    assert any_group is any(matches(d, endpoint) for d in dims)


@settings(max_examples=200, deadline=None)
@given(dims=dimension_lists, endpoint=sane_endpoints)
def test_an_all_group_equals_one_dimensions_document_holding_every_criterion(dims, endpoint):
    all_group = group_matches({"Groups": [{"Type": "ALL", "Dimensions": dims}]}, endpoint)

    assert all_group is all(matches(d, endpoint) for d in dims)
    # Merging documents whose criteria do not collide is AND as well.
    merged: dict[str, Any] = {}
    for d in dims:
        for key, value in d.items():
            merged.setdefault(key, {}).update(value)
    if len({k for d in dims for k in d}) == sum(len(d) for d in dims):
        assert matches(merged, endpoint) is all_group
