"""Segments service (kizuna.services.segments) over in-memory stores: CRUD with versions and paging, imported
segments, base-segment checks (existence, self-reference, cycles, nesting), resolution against a brute-force filter,
and the size estimate."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kizuna.adapters.memory_segments import InMemorySegmentStore
from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import iso
from kizuna.domain.sharding import endpoint_shard
from kizuna.errors import BadRequest, NotFound
from kizuna.services import segments
from kizuna.services.apps import create_app

ARN = "arn:aws:mobiletargeting:us-east-1:123456789012"
GOLD = {"Attributes": {"tier": {"Values": ["gold"]}}}
SILVER = {"Attributes": {"tier": {"Values": ["silver"]}}}
TOKYO = {"UserAttributes": {"city": {"Values": ["東京"]}}}


@pytest.fixture
def store() -> InMemorySegmentStore:
    return InMemorySegmentStore()


@pytest.fixture
def app_id(data, clock) -> str:
    return create_app(data, clock, ARN, {"Name": "shop"}).id


@pytest.fixture
def other_app(data, clock) -> str:
    return create_app(data, clock, ARN, {"Name": "other"}).id


def create(data, store, clock, app_id, **request: Any) -> dict[str, Any]:
    return segments.create_segment(data, store, clock, ARN, app_id, request)


def update(data, store, clock, app_id, segment_id, **request: Any) -> dict[str, Any]:
    return segments.update_segment(data, store, clock, app_id, segment_id, request)


def group_on(*refs: str | dict[str, Any], **group: Any) -> dict[str, Any]:
    sources = [{"Id": r} if isinstance(r, str) else r for r in refs]
    return {"SegmentGroups": {"Groups": [{"SourceSegments": sources, **group}]}}


def ids(found) -> list[str]:  # noqa: ANN001
    return sorted(e["Id"] for e in found)


def imported(store, clock, app_id, members: Sequence[str] = (), name: str = "import") -> dict[str, Any]:  # noqa: ANN001
    segment = segments.create_imported_segment(store, clock, ARN, app_id, name, {"Format": "CSV", "S3Url": "s3://b/k"})
    store.add_members(app_id, segment["Id"], list(members))
    return segment


# -- create / get ------------------------------------------------------------------------------------------------------


def test_create_returns_and_stores_the_segment_response(data, store, clock, app_id):
    created = create(data, store, clock, app_id, Name="ゴールド会員", Dimensions=GOLD, tags={"team": "crm"})

    assert re.fullmatch(r"[0-9a-f]{32}", created["Id"])
    assert created == {
        "ApplicationId": app_id,
        "Arn": f"{ARN}:apps/{app_id}/segments/{created['Id']}",
        "CreationDate": iso(clock.now()),
        "Id": created["Id"],
        "LastModifiedDate": iso(clock.now()),
        "SegmentType": "DIMENSIONAL",
        "Version": 1,
        "Name": "ゴールド会員",
        "Dimensions": GOLD,
        "tags": {"team": "crm"},
    }
    assert segments.get_segment(data, store, app_id, created["Id"]) == created
    assert segments.get_segment_version(data, store, app_id, created["Id"], "1") == created


def test_create_without_a_request_is_an_unnamed_segment_of_everyone(data, store, clock, app_id):
    created = segments.create_segment(data, store, clock, ARN, app_id, None)

    assert created["Dimensions"] == {} and "Name" not in created and "SegmentGroups" not in created
    assert created["Version"] == 1


def test_create_with_groups_stores_only_the_groups(data, store, clock, app_id):
    groups = {"Include": "ANY", "Groups": [{"Dimensions": [GOLD]}, {"Type": "NONE", "Dimensions": [TOKYO]}]}

    created = create(data, store, clock, app_id, Name="g", SegmentGroups=groups)

    assert created["SegmentGroups"] == groups and "Dimensions" not in created
    assert segments.get_segment(data, store, app_id, created["Id"])["SegmentGroups"] == groups


def test_segment_ids_are_unique(data, store, clock, app_id):
    assert len({create(data, store, clock, app_id)["Id"] for _ in range(20)}) == 20


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"Name": 5}, "WriteSegmentRequest.Name must be a string"),
        (
            {"Dimensions": {"Metrics": {"score": {"ComparisonOperator": "ABOUT", "Value": 1}}}},
            "WriteSegmentRequest.Dimensions.Metrics.score.ComparisonOperator",
        ),
        (
            {"Dimensions": GOLD, "SegmentGroups": {"Groups": []}},
            "WriteSegmentRequest can include Dimensions or SegmentGroups, but not both",
        ),
        (
            {"Dimensions": {"Demographic": {"DeviceType": {"Values": ["PHONE"]}}}},
            "WriteSegmentRequest.Dimensions.Demographic.DeviceType is not supported",
        ),
        ({"SegmentGroups": {"Groups": [{"Type": "MOST"}]}}, "WriteSegmentRequest.SegmentGroups.Groups[0].Type"),
    ],
)
def test_an_invalid_request_is_refused_naming_the_field_and_nothing_is_stored(
    data, store, clock, app_id, request_body, field
):
    with pytest.raises(BadRequest) as caught:
        segments.create_segment(data, store, clock, ARN, app_id, request_body)

    assert caught.value.message.startswith(field)
    assert store.latest == {} and store.versions == {}


# -- update and versions -----------------------------------------------------------------------------------------------


def test_update_keeps_the_name_unless_given_and_bumps_the_version(data, store, clock, app_id):
    created = create(data, store, clock, app_id, Name="first", Dimensions=GOLD)
    clock.advance(timedelta(minutes=1))
    second = update(data, store, clock, app_id, created["Id"], Dimensions=SILVER)
    clock.advance(timedelta(minutes=1))
    third = update(data, store, clock, app_id, created["Id"], Name="renamed")
    clock.advance(timedelta(minutes=1))
    fourth = segments.update_segment(data, store, clock, app_id, created["Id"], None)

    assert [s["Version"] for s in (created, second, third, fourth)] == [1, 2, 3, 4]
    assert [s["Name"] for s in (created, second, third, fourth)] == ["first", "first", "renamed", "renamed"]
    assert [s["Dimensions"] for s in (created, second, third, fourth)] == [GOLD, SILVER, SILVER, SILVER]
    assert {s["CreationDate"] for s in (second, third, fourth)} == {created["CreationDate"]}
    assert fourth["LastModifiedDate"] == iso(clock.now()) > third["LastModifiedDate"] > second["LastModifiedDate"]
    assert (fourth["Id"], fourth["Arn"], fourth["SegmentType"]) == (created["Id"], created["Arn"], "DIMENSIONAL")
    assert segments.get_segment(data, store, app_id, created["Id"]) == fourth


def test_every_version_stays_readable(data, store, clock, app_id):
    created = create(data, store, clock, app_id, Name="v", Dimensions=GOLD)
    update(data, store, clock, app_id, created["Id"], Dimensions=SILVER, Name="v2")

    first = segments.get_segment_version(data, store, app_id, created["Id"], "1")
    second = segments.get_segment_version(data, store, app_id, created["Id"], 2)

    assert (first["Version"], first["Name"], first["Dimensions"]) == (1, "v", GOLD)
    assert (second["Version"], second["Name"], second["Dimensions"]) == (2, "v2", SILVER)


def test_switching_between_dimensions_and_groups_replaces_the_criteria(data, store, clock, app_id):
    created = create(data, store, clock, app_id, Dimensions=GOLD)
    groups = {"Groups": [{"Dimensions": [TOKYO]}]}

    grouped = update(data, store, clock, app_id, created["Id"], SegmentGroups=groups)
    back = update(data, store, clock, app_id, created["Id"], Dimensions=SILVER)

    assert grouped["SegmentGroups"] == groups and "Dimensions" not in grouped
    assert back["Dimensions"] == SILVER and "SegmentGroups" not in back


def test_update_ignores_tags(data, store, clock, app_id):
    created = create(data, store, clock, app_id, Name="t", tags={"team": "crm"})

    updated = update(data, store, clock, app_id, created["Id"], tags={"team": "ops", "new": "x"})

    assert updated["tags"] == {"team": "crm"} and updated["Version"] == 2


def test_an_invalid_update_writes_no_version(data, store, clock, app_id):
    created = create(data, store, clock, app_id, Name="keep", Dimensions=GOLD)

    with pytest.raises(BadRequest, match=r"^WriteSegmentRequest\.Dimensions\.Behavior\.Recency\.Duration"):
        update(data, store, clock, app_id, created["Id"], Dimensions={"Behavior": {"Recency": {"Duration": "1d"}}})
    with pytest.raises(BadRequest, match=r"^WriteSegmentRequest\.Name"):
        update(data, store, clock, app_id, created["Id"], Name=["x"])

    assert segments.get_segment(data, store, app_id, created["Id"]) == created
    assert [v["Version"] for v in store.list_versions(app_id, created["Id"])] == [1]


def test_get_segment_version_refuses_what_is_not_a_version(data, store, clock, app_id):
    created = create(data, store, clock, app_id, Name="one")

    for bad in ("0", "-1", "abc", "1.5", None):
        with pytest.raises(BadRequest, match="version must be a positive integer"):
            segments.get_segment_version(data, store, app_id, created["Id"], bad)


def test_a_missing_version_or_segment_is_not_found(data, store, clock, app_id):
    created = create(data, store, clock, app_id, Name="one")
    update(data, store, clock, app_id, created["Id"], Name="two")

    with pytest.raises(NotFound) as missing_version:
        segments.get_segment_version(data, store, app_id, created["Id"], "3")
    with pytest.raises(NotFound) as missing_segment:
        segments.get_segment_version(data, store, app_id, "nope", "1")

    assert missing_version.value.message == f"Segment {created['Id']} has no version 3"
    assert missing_segment.value.message == "Segment nope not found"


def test_get_segment_versions_pages_oldest_first(data, store, clock, app_id):
    created = create(data, store, clock, app_id, Name="v1")
    for n in range(2, 8):
        update(data, store, clock, app_id, created["Id"], Name=f"v{n}")

    pages, token = [], None
    while True:
        page = segments.get_segment_versions(data, store, app_id, created["Id"], "3", token)
        pages.append([v["Version"] for v in page["Item"]])
        token = page.get("NextToken")
        if token is None:
            break

    assert pages == [[1, 2, 3], [4, 5, 6], [7]]
    everything = segments.get_segment_versions(data, store, app_id, created["Id"], None, None)
    assert [v["Name"] for v in everything["Item"]] == [f"v{n}" for n in range(1, 8)]
    assert "NextToken" not in everything


def test_get_segment_versions_gives_no_token_when_the_last_page_is_full(data, store, clock, app_id):
    created = create(data, store, clock, app_id)
    update(data, store, clock, app_id, created["Id"], Name="x")

    page = segments.get_segment_versions(data, store, app_id, created["Id"], "2", None)

    assert [v["Version"] for v in page["Item"]] == [1, 2] and "NextToken" not in page


def test_get_segment_versions_refuses_bad_paging_and_missing_segments(data, store, clock, app_id):
    created = create(data, store, clock, app_id)

    for page_size in ("0", "101", "many", "-3"):
        with pytest.raises(BadRequest, match="page-size"):
            segments.get_segment_versions(data, store, app_id, created["Id"], page_size, None)
    with pytest.raises(BadRequest, match="token is not valid"):
        segments.get_segment_versions(data, store, app_id, created["Id"], "1", "next")
    with pytest.raises(NotFound, match="Segment nope not found"):
        segments.get_segment_versions(data, store, app_id, "nope", None, None)


def test_a_negative_versions_token_is_refused_or_pages_consistently(data, store, clock, app_id):
    created = create(data, store, clock, app_id)
    for n in range(2, 4):
        update(data, store, clock, app_id, created["Id"], Name=f"v{n}")

    try:
        page = segments.get_segment_versions(data, store, app_id, created["Id"], "2", "-1")
    except BadRequest as refused:
        assert "token" in refused.message
        return
    served = [v["Version"] for v in page["Item"]]
    while "NextToken" in page:
        page = segments.get_segment_versions(data, store, app_id, created["Id"], "2", page["NextToken"])
        served += [v["Version"] for v in page["Item"]]
    assert len(served) == len(set(served))


# -- list --------------------------------------------------------------------------------------------------------------


def test_get_segments_pages_with_page_size_and_token(data, store, clock, app_id, other_app):
    wanted = {create(data, store, clock, app_id, Name=str(i))["Id"] for i in range(7)}
    create(data, store, clock, other_app, Name="elsewhere")

    pages, token = [], None
    while True:
        page = segments.get_segments(data, store, app_id, "3", token)
        pages.append([s["Id"] for s in page["Item"]])
        token = page.get("NextToken")
        if token is None:
            break

    assert [len(p) for p in pages] == [3, 3, 1]
    served = [i for p in pages for i in p]
    assert len(served) == len(set(served)) and set(served) == wanted
    whole = segments.get_segments(data, store, app_id, None, None)
    assert {s["Id"] for s in whole["Item"]} == wanted and "NextToken" not in whole
    assert all(s["ApplicationId"] == app_id for s in whole["Item"])


def test_get_segments_lists_the_latest_version(data, store, clock, app_id):
    created = create(data, store, clock, app_id, Name="old")
    update(data, store, clock, app_id, created["Id"], Name="new")

    (listed,) = segments.get_segments(data, store, app_id, None, "")["Item"]

    assert (listed["Name"], listed["Version"]) == ("new", 2)


def test_get_segments_of_an_app_without_segments_is_empty(data, store, app_id):
    assert segments.get_segments(data, store, app_id, "5", None) == {"Item": []}


@pytest.mark.parametrize("page_size", ["0", "101", "-1", "ten", "1.5"])
def test_a_bad_page_size_is_refused(data, store, app_id, page_size):
    with pytest.raises(BadRequest, match="page-size"):
        segments.get_segments(data, store, app_id, page_size, None)


@pytest.mark.parametrize("page_size", ["1", "100"])
def test_page_size_bounds_are_accepted(data, store, clock, app_id, page_size):
    for _ in range(2):
        create(data, store, clock, app_id)

    page = segments.get_segments(data, store, app_id, page_size, None)

    assert len(page["Item"]) == min(2, int(page_size))
    assert ("NextToken" in page) is (page_size == "1")


# -- delete ------------------------------------------------------------------------------------------------------------


def test_delete_returns_the_segment_and_removes_every_version(data, store, clock, app_id):
    created = create(data, store, clock, app_id, Name="gone", Dimensions=GOLD)
    latest = update(data, store, clock, app_id, created["Id"], Name="still gone")
    kept = create(data, store, clock, app_id, Name="kept")

    deleted = segments.delete_segment(data, store, app_id, created["Id"])

    assert deleted == latest
    for call in (
        lambda: segments.get_segment(data, store, app_id, created["Id"]),
        lambda: segments.get_segment_version(data, store, app_id, created["Id"], "1"),
        lambda: segments.get_segment_versions(data, store, app_id, created["Id"], None, None),
        lambda: segments.delete_segment(data, store, app_id, created["Id"]),
        lambda: update(data, store, clock, app_id, created["Id"], Name="back"),
    ):
        with pytest.raises(NotFound):
            call()
    assert [s["Id"] for s in segments.get_segments(data, store, app_id, None, None)["Item"]] == [kept["Id"]]


def test_segments_are_scoped_to_their_app(data, store, clock, app_id, other_app):
    created = create(data, store, clock, app_id, Name="mine")

    with pytest.raises(NotFound):
        segments.get_segment(data, store, other_app, created["Id"])
    with pytest.raises(NotFound):
        segments.delete_segment(data, store, other_app, created["Id"])
    assert segments.get_segment(data, store, app_id, created["Id"]) == created


def test_an_unknown_app_is_not_found_everywhere(data, store, clock, app_id):
    created = create(data, store, clock, app_id)
    sid = created["Id"]
    calls: list[Callable[[], Any]] = [
        lambda: segments.create_segment(data, store, clock, ARN, "no-app", {"Name": "x"}),
        lambda: segments.update_segment(data, store, clock, "no-app", sid, {"Name": "x"}),
        lambda: segments.get_segment(data, store, "no-app", sid),
        lambda: segments.get_segment_version(data, store, "no-app", sid, "1"),
        lambda: segments.get_segment_versions(data, store, "no-app", sid, None, None),
        lambda: segments.get_segments(data, store, "no-app", None, None),
        lambda: segments.delete_segment(data, store, "no-app", sid),
        lambda: segments.segment_estimate(data, data, store, clock, "no-app", sid),
    ]
    for call in calls:
        with pytest.raises(NotFound, match="Application no-app not found"):
            call()
    assert segments.get_segment(data, store, app_id, sid) == created  # nothing was touched
    assert [v["Version"] for v in store.list_versions(app_id, sid)] == [1]


# -- imported segments -------------------------------------------------------------------------------------------------


def test_an_imported_segment_is_stored_as_given(store, clock, app_id):
    segment = imported(store, clock, app_id, name="顧客リスト")

    assert segment == {
        "ApplicationId": app_id,
        "Arn": f"{ARN}:apps/{app_id}/segments/{segment['Id']}",
        "CreationDate": iso(clock.now()),
        "Id": segment["Id"],
        "ImportDefinition": {"Format": "CSV", "S3Url": "s3://b/k"},
        "LastModifiedDate": iso(clock.now()),
        "Name": "顧客リスト",
        "SegmentType": "IMPORT",
        "Version": 1,
    }
    assert store.get_segment(app_id, segment["Id"]) == segment


@pytest.mark.parametrize("criteria", [{"Dimensions": GOLD}, {"Dimensions": {}}, {"SegmentGroups": {"Groups": []}}])
def test_an_imported_segment_cannot_change_its_criteria(data, store, clock, app_id, criteria):
    segment = imported(store, clock, app_id, ["a", "b"])

    with pytest.raises(BadRequest, match="imported segment"):
        update(data, store, clock, app_id, segment["Id"], Name="x", **criteria)

    assert store.get_segment(app_id, segment["Id"]) == segment
    assert [v["Version"] for v in store.list_versions(app_id, segment["Id"])] == [1]


def test_an_imported_segment_can_be_renamed(data, store, clock, app_id):
    segment = imported(store, clock, app_id, ["a"])

    renamed = update(data, store, clock, app_id, segment["Id"], Name="新しい名前")

    assert (renamed["Name"], renamed["Version"], renamed["SegmentType"]) == ("新しい名前", 2, "IMPORT")
    assert renamed["ImportDefinition"] == segment["ImportDefinition"]
    assert "Dimensions" not in renamed and "SegmentGroups" not in renamed


# -- base segments -----------------------------------------------------------------------------------------------------


def test_a_missing_base_segment_is_refused_naming_the_reference(data, store, clock, app_id):
    base = create(data, store, clock, app_id, Dimensions=GOLD)
    groups = {
        "Groups": [
            {"SourceSegments": [{"Id": base["Id"]}]},
            {"SourceSegments": [{"Id": base["Id"]}, {"Id": "nope"}]},
        ]
    }

    with pytest.raises(BadRequest) as caught:
        create(data, store, clock, app_id, SegmentGroups=groups)

    assert caught.value.message == (
        "WriteSegmentRequest.SegmentGroups.Groups[1].SourceSegments[1].Id: segment nope does not exist"
    )
    assert list(store.latest) == [(app_id, base["Id"])]


def test_a_missing_base_version_is_refused(data, store, clock, app_id):
    base = create(data, store, clock, app_id, Dimensions=GOLD)

    with pytest.raises(BadRequest, match=rf"SourceSegments\[0\]\.Id: segment {base['Id']} version 2 does not exist"):
        create(data, store, clock, app_id, **group_on({"Id": base["Id"], "Version": 2}))
    update(data, store, clock, app_id, base["Id"], Dimensions=SILVER)
    pinned = create(data, store, clock, app_id, **group_on({"Id": base["Id"], "Version": 2}))
    assert pinned["SegmentGroups"]["Groups"][0]["SourceSegments"] == [{"Id": base["Id"], "Version": 2}]


def test_a_base_segment_of_another_app_does_not_exist_here(data, store, clock, app_id, other_app):
    foreign = create(data, store, clock, other_app, Dimensions=GOLD)

    with pytest.raises(BadRequest, match="does not exist"):
        create(data, store, clock, app_id, **group_on(foreign["Id"]))


def test_a_segment_cannot_be_its_own_base(data, store, clock, app_id):
    segment = create(data, store, clock, app_id, Dimensions=GOLD)

    for ref in (segment["Id"], {"Id": segment["Id"], "Version": 1}):
        with pytest.raises(BadRequest, match=r"SourceSegments\[0\]\.Id: a segment cannot be its own base segment"):
            update(data, store, clock, app_id, segment["Id"], **group_on(ref))
    assert segments.get_segment(data, store, app_id, segment["Id"])["Version"] == 1


def test_cycles_are_refused(data, store, clock, app_id):
    a = create(data, store, clock, app_id, Name="a", Dimensions=GOLD)
    b = create(data, store, clock, app_id, Name="b", **group_on(a["Id"]))
    c = create(data, store, clock, app_id, Name="c", **group_on(b["Id"]))

    with pytest.raises(BadRequest, match=f"base segment {b['Id']} is built on this segment"):
        update(data, store, clock, app_id, a["Id"], **group_on(b["Id"]))
    with pytest.raises(BadRequest, match="a cycle"):
        update(data, store, clock, app_id, a["Id"], **group_on(c["Id"]))
    with pytest.raises(BadRequest, match="a cycle"):  # through a second group
        update(
            data, store, clock, app_id, a["Id"], SegmentGroups={"Groups": [{}, {"SourceSegments": [{"Id": c["Id"]}]}]}
        )

    assert segments.get_segment(data, store, app_id, a["Id"])["Version"] == 1
    # Sharing a base is not a cycle.
    d = create(data, store, clock, app_id, Name="d", **group_on(a["Id"], b["Id"], c["Id"]))
    assert d["Version"] == 1


def chain(data, store, clock, app_id, levels: int) -> list[dict[str, Any]]:
    """level 0 is dimensional (gold); level n has level n-1 as its only base."""
    made = [create(data, store, clock, app_id, Name="level-0", Dimensions=GOLD)]
    for level in range(1, levels + 1):
        made.append(create(data, store, clock, app_id, Name=f"level-{level}", **group_on(made[-1]["Id"])))
    return made


def test_nesting_is_limited_to_five_levels_of_bases(data, store, clock, app_id):
    levels = chain(data, store, clock, app_id, segments.MAX_NESTING)

    with pytest.raises(BadRequest, match="base segments nest deeper than 5 levels"):
        create(data, store, clock, app_id, **group_on(levels[-1]["Id"]))
    unrelated = create(data, store, clock, app_id, Name="unrelated", Dimensions=SILVER)
    with pytest.raises(BadRequest, match="nest deeper"):
        update(data, store, clock, app_id, unrelated["Id"], **group_on(levels[0]["Id"], levels[-1]["Id"]))
    with pytest.raises(BadRequest, match="a cycle"):  # a cycle is named as such even when it is also deep
        update(data, store, clock, app_id, levels[1]["Id"], **group_on(levels[-1]["Id"]))

    # The deepest allowed segment resolves, to its bottom level's members.
    data.put_endpoints(app_id, [endpoint("g", tier="gold"), endpoint("s", tier="silver")])
    now = clock.now()
    assert ids(segments.resolve(data, store, app_id, levels[-1], now=now)) == ["g"]


def test_deepening_a_chain_from_below_is_refused_or_still_resolves(data, store, clock, app_id):
    levels = chain(data, store, clock, app_id, segments.MAX_NESTING)
    extra = create(data, store, clock, app_id, Name="extra", Dimensions=GOLD)
    data.put_endpoints(app_id, [endpoint("g", tier="gold"), endpoint("s", tier="silver")])

    try:
        update(data, store, clock, app_id, levels[0]["Id"], **group_on(extra["Id"]))
    except BadRequest:
        return
    assert ids(segments.resolve(data, store, app_id, levels[-1], now=clock.now())) == ["g"]


def test_an_imported_base_must_be_alone_in_its_group(data, store, clock, app_id):
    one = imported(store, clock, app_id, ["a"])
    dimensional = create(data, store, clock, app_id, Dimensions=GOLD)

    with pytest.raises(BadRequest, match=r"SourceSegments\[1\]: a group can have several dimensional base segments"):
        create(data, store, clock, app_id, **group_on(dimensional["Id"], one["Id"]))
    alone = create(data, store, clock, app_id, **group_on(one["Id"]))
    side_by_side = create(
        data,
        store,
        clock,
        app_id,
        SegmentGroups={
            "Groups": [{"SourceSegments": [{"Id": one["Id"]}]}, {"SourceSegments": [{"Id": dimensional["Id"]}]}]
        },
    )
    assert alone["Version"] == side_by_side["Version"] == 1


# -- resolution --------------------------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 1, tzinfo=UTC)  # VirtualClock's default start


def endpoint(endpoint_id: str, **fields: Any) -> dict[str, Any]:
    tier = fields.pop("tier", None)
    return {
        "Id": endpoint_id,
        "ChannelType": "SMS",
        "Address": "+819000000000",
        **({"Attributes": {"tier": [tier]}} if tier else {}),
        **fields,
    }


def population(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    made = []
    for i in range(count):
        e: dict[str, Any] = {"Id": f"ep-{seed}-{i:05d}", "ChannelType": rng.choice(["SMS", "SMS", "EMAIL", "VOICE"])}
        if rng.random() < 0.9:
            e["Attributes"] = {"tier": rng.sample(["gold", "silver", "bronze"], rng.randint(0, 2))}
        if rng.random() < 0.8:
            e["User"] = {"UserId": f"u{i % 500}", "UserAttributes": {"city": [rng.choice(["東京", "大阪", "札幌"])]}}
        if rng.random() < 0.85:
            e["Metrics"] = {"visits": float(rng.randrange(8))}
        if rng.random() < 0.7:
            e["Demographic"] = {"Platform": rng.choice(["ios", "android"]), "AppVersion": rng.choice(["1.0", "2.0"])}
        if rng.random() < 0.7:
            e["Location"] = {"Country": rng.choice(["JP", "jp", "US", "KR"])}
        if rng.random() < 0.95:
            e["EffectiveDate"] = iso(NOW - timedelta(hours=rng.randrange(24 * 40)))
        roll = rng.random()
        if roll < 0.9:  # the rest carry neither field: the defaults (ACTIVE, NONE) apply
            e["OptOut"] = "ALL" if rng.random() < 0.1 else "NONE"
            e["EndpointStatus"] = "INACTIVE" if rng.random() < 0.08 else "ACTIVE"
        made.append(e)
    return made


def sendable(e: dict[str, Any]) -> bool:
    return e.get("OptOut", "NONE") == "NONE" and e.get("EndpointStatus", "ACTIVE") == "ACTIVE"


def tier(e: dict[str, Any]) -> list[str]:
    return e.get("Attributes", {}).get("tier", [])


def city(e: dict[str, Any]) -> list[str]:
    return e.get("User", {}).get("UserAttributes", {}).get("city", [])


def visits(e: dict[str, Any]) -> float | None:
    return e.get("Metrics", {}).get("visits")


def country(e: dict[str, Any]) -> str | None:
    found = e.get("Location", {}).get("Country")
    return found.upper() if found else None


def active_within(days: int) -> Callable[[dict[str, Any]], bool]:
    def check(e: dict[str, Any]) -> bool:
        return "EffectiveDate" in e and datetime.fromisoformat(e["EffectiveDate"]) >= NOW - timedelta(days=days)

    return check


CASES: dict[str, tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = {
    "gold sms with 2+ visits": (
        {
            "Dimensions": {
                **GOLD,
                "Demographic": {"Channel": {"Values": ["SMS"]}},
                "Metrics": {"visits": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 2}},
            }
        },
        lambda e: "gold" in tier(e) and e["ChannelType"] == "SMS" and (visits(e) or 0) >= 2,
    ),
    "not gold, in japan, active in a month": (
        {
            "Dimensions": {
                "Attributes": {"tier": {"AttributeType": "EXCLUSIVE", "Values": ["gold"]}},
                "Location": {"Country": {"Values": ["jp"]}},
                "Behavior": {"Recency": {"Duration": "DAY_30", "RecencyType": "ACTIVE"}},
            }
        },
        lambda e: bool(tier(e)) and "gold" not in tier(e) and country(e) == "JP" and active_within(30)(e),
    ),
    "groups: (gold in tokyo) or (neither ios nor tokyo)": (
        {
            "SegmentGroups": {
                "Include": "ANY",
                "Groups": [
                    {"Type": "ALL", "Dimensions": [GOLD, TOKYO]},
                    {"Type": "NONE", "Dimensions": [{"Demographic": {"Platform": {"Values": ["ios"]}}}, TOKYO]},
                ],
            }
        },
        lambda e: (
            ("gold" in tier(e) and "東京" in city(e))
            or (e.get("Demographic", {}).get("Platform") != "ios" and "東京" not in city(e))
        ),
    ),
    "groups: none of (fewer than 3 visits), (us)": (
        {
            "SegmentGroups": {
                "Include": "NONE",
                "Groups": [
                    {"Dimensions": [{"Metrics": {"visits": {"ComparisonOperator": "LESS_THAN", "Value": 3}}}]},
                    {"Dimensions": [{"Location": {"Country": {"Values": ["US"]}}}]},
                ],
            }
        },
        lambda e: not (visits(e) is not None and visits(e) < 3) and country(e) != "US",
    ),
    "everyone": ({"Dimensions": {}}, lambda e: True),
}


@pytest.fixture
def crowd(data, app_id) -> list[dict[str, Any]]:
    people = population(3000, seed=7)
    data.put_endpoints(app_id, people)
    assert {endpoint_shard(e["Id"]) for e in people} == set(range(ENDPOINT_SHARDS))
    return people


@pytest.mark.parametrize("case", list(CASES))
def test_resolve_returns_exactly_the_matching_sendable_endpoints_of_every_shard(
    data, store, clock, app_id, crowd, case
):
    request, brute_force = CASES[case]
    segment = create(data, store, clock, app_id, **request)

    found = list(segments.resolve(data, store, app_id, segment, now=clock.now()))
    everyone = list(segments.resolve(data, store, app_id, segment, now=clock.now(), include_inactive=True))

    expected = sorted(e["Id"] for e in crowd if brute_force(e) and sendable(e))
    assert ids(found) == expected
    assert len(found) == len({e["Id"] for e in found})  # no endpoint twice
    assert len(expected) > 50  # the case selects a real population...
    assert len(expected) < len(crowd) or case == "everyone"  # ...and excludes someone
    assert {endpoint_shard(i) for i in expected} == set(range(ENDPOINT_SHARDS))
    assert ids(everyone) == sorted(e["Id"] for e in crowd if brute_force(e))
    assert len(everyone) > len(found)


def test_resolution_does_not_depend_on_the_worker_count(data, store, clock, app_id, crowd):
    segment = create(data, store, clock, app_id, **CASES["gold sms with 2+ visits"][0])

    serial = ids(segments.resolve(data, store, app_id, segment, now=clock.now(), workers=1))
    parallel = ids(segments.resolve(data, store, app_id, segment, now=clock.now(), workers=16))
    zero = ids(segments.resolve(data, store, app_id, segment, now=clock.now(), workers=0))

    assert serial == parallel == zero and serial


def test_resolve_shard_returns_only_its_shard_and_shards_partition_the_answer(data, store, clock, app_id, crowd):
    segment = create(data, store, clock, app_id, Dimensions=GOLD)
    whole = ids(segments.resolve(data, store, app_id, segment, now=clock.now()))

    per_shard = {
        s: ids(segments.resolve_shard(data, store, app_id, segment, s, now=clock.now())) for s in range(ENDPOINT_SHARDS)
    }
    some = ids(segments.resolve(data, store, app_id, segment, now=clock.now(), shards=[3, 11]))

    assert all(endpoint_shard(i) == s for s, found in per_shard.items() for i in found)
    assert sorted(i for found in per_shard.values() for i in found) == whole
    assert some == sorted(per_shard[3] + per_shard[11]) and some
    assert list(segments.resolve(data, store, app_id, segment, now=clock.now(), shards=[])) == []


def test_recency_is_anchored_on_the_now_passed_in(data, store, clock, app_id):
    data.put_endpoints(app_id, [endpoint("fresh", EffectiveDate="2026-10-30T00:00:00.000Z")])
    segment = create(
        data, store, clock, app_id, Dimensions={"Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "ACTIVE"}}}
    )

    assert ids(segments.resolve(data, store, app_id, segment, now=NOW)) == ["fresh"]
    assert ids(segments.resolve(data, store, app_id, segment, now=NOW + timedelta(days=6))) == []


def test_an_app_without_endpoints_resolves_to_nothing(data, store, clock, app_id):
    segment = create(data, store, clock, app_id)

    assert list(segments.resolve(data, store, app_id, segment, now=clock.now())) == []


def test_endpoints_of_another_app_are_not_resolved(data, store, clock, app_id, other_app):
    data.put_endpoints(other_app, [endpoint("theirs", tier="gold")])
    data.put_endpoints(app_id, [endpoint("mine", tier="gold")])
    segment = create(data, store, clock, app_id, Dimensions=GOLD)

    assert ids(segments.resolve(data, store, app_id, segment, now=clock.now())) == ["mine"]


def test_a_group_on_a_dimensional_base_intersects_it(data, store, clock, app_id, crowd):
    base = create(data, store, clock, app_id, Dimensions=GOLD)
    derived = create(
        data,
        store,
        clock,
        app_id,
        SegmentGroups={"Groups": [{"SourceSegments": [{"Id": base["Id"]}], "Dimensions": [TOKYO]}]},
    )

    found = ids(segments.resolve(data, store, app_id, derived, now=clock.now()))

    assert found == sorted(e["Id"] for e in crowd if "gold" in tier(e) and "東京" in city(e) and sendable(e))
    assert found


def test_base_source_types_over_two_dimensional_bases(data, store, clock, app_id, crowd):
    gold = create(data, store, clock, app_id, Dimensions=GOLD)
    tokyo = create(data, store, clock, app_id, Dimensions=TOKYO)

    def resolved(source_type: str) -> list[str]:
        segment = create(data, store, clock, app_id, **group_on(gold["Id"], tokyo["Id"], SourceType=source_type))
        return ids(segments.resolve(data, store, app_id, segment, now=clock.now()))

    def expected(keep: Callable[[bool, bool], bool]) -> list[str]:
        return sorted(e["Id"] for e in crowd if sendable(e) and keep("gold" in tier(e), "東京" in city(e)))

    assert resolved("ANY") == expected(lambda g, t: g or t)
    assert resolved("ALL") == expected(lambda g, t: g and t)
    assert resolved("NONE") == expected(lambda g, t: not g and not t)


def test_a_pinned_base_version_resolves_that_version(data, store, clock, app_id):
    data.put_endpoints(app_id, [endpoint("g", tier="gold"), endpoint("s", tier="silver")])
    base = create(data, store, clock, app_id, Dimensions=GOLD)
    update(data, store, clock, app_id, base["Id"], Dimensions=SILVER)

    pinned = create(data, store, clock, app_id, **group_on({"Id": base["Id"], "Version": 1}))
    latest = create(data, store, clock, app_id, **group_on(base["Id"]))

    assert ids(segments.resolve(data, store, app_id, pinned, now=clock.now())) == ["g"]
    assert ids(segments.resolve(data, store, app_id, latest, now=clock.now())) == ["s"]


def test_a_nested_chain_resolves_through_every_level(data, store, clock, app_id, crowd):
    bottom = create(data, store, clock, app_id, Dimensions=GOLD)
    middle = create(
        data,
        store,
        clock,
        app_id,
        SegmentGroups={"Groups": [{"SourceSegments": [{"Id": bottom["Id"]}], "Dimensions": [TOKYO]}]},
    )
    top = create(
        data,
        store,
        clock,
        app_id,
        SegmentGroups={
            "Groups": [
                {
                    "SourceSegments": [{"Id": middle["Id"]}],
                    "Dimensions": [{"Demographic": {"Channel": {"DimensionType": "EXCLUSIVE", "Values": ["EMAIL"]}}}],
                }
            ]
        },
    )

    found = ids(segments.resolve(data, store, app_id, top, now=clock.now()))

    assert found == sorted(
        e["Id"]
        for e in crowd
        if sendable(e) and "gold" in tier(e) and "東京" in city(e) and e["ChannelType"] != "EMAIL"
    )
    assert found


def test_an_imported_segment_resolves_to_its_sendable_members(data, store, clock, app_id, crowd):
    members = [e["Id"] for e in crowd[::4]]
    segment = imported(store, clock, app_id, [*members, "ghost-1", "ghost-2"])  # members without endpoints are skipped

    found = list(segments.resolve(data, store, app_id, segment, now=clock.now()))
    everyone = ids(segments.resolve(data, store, app_id, segment, now=clock.now(), include_inactive=True))

    assert ids(found) == sorted(e["Id"] for e in crowd[::4] if sendable(e))
    assert everyone == sorted(members)
    assert len(found) == len({e["Id"] for e in found})
    assert {endpoint_shard(e["Id"]) for e in found} == set(range(ENDPOINT_SHARDS))


def test_an_imported_segment_resolves_per_shard(data, store, clock, app_id, crowd):
    members = [e["Id"] for e in crowd[:300]]
    segment = imported(store, clock, app_id, members)

    for shard in (0, 9, 15):
        found = ids(segments.resolve_shard(data, store, app_id, segment, shard, now=clock.now(), include_inactive=True))
        assert found == sorted(i for i in members if endpoint_shard(i) == shard)


def test_an_imported_segment_of_more_than_one_batch_in_a_shard(data, store, clock, app_id):
    people = [endpoint(f"p{i}") for i in range(16 * (segments.GET_BATCH + 40))]
    data.put_endpoints(app_id, people)
    segment = imported(store, clock, app_id, [e["Id"] for e in people])

    assert len(list(segments.resolve(data, store, app_id, segment, now=clock.now()))) == len(people)


def test_a_group_on_an_imported_base(data, store, clock, app_id, crowd):
    base = imported(store, clock, app_id, [e["Id"] for e in crowd[:600]])
    on_import = create(
        data,
        store,
        clock,
        app_id,
        SegmentGroups={"Groups": [{"SourceSegments": [{"Id": base["Id"]}], "Dimensions": [GOLD]}]},
    )
    outside = create(data, store, clock, app_id, **group_on(base["Id"], SourceType="NONE"))

    inside = ids(segments.resolve(data, store, app_id, on_import, now=clock.now()))
    rest = ids(segments.resolve(data, store, app_id, outside, now=clock.now()))

    assert inside == sorted(e["Id"] for e in crowd[:600] if "gold" in tier(e) and sendable(e)) and inside
    assert rest == sorted(e["Id"] for e in crowd[600:] if sendable(e))


def test_a_deleted_base_segment_contributes_nothing(data, store, clock, app_id, crowd):
    gold = create(data, store, clock, app_id, Dimensions=GOLD)
    tokyo = create(data, store, clock, app_id, Dimensions=TOKYO)
    members = imported(store, clock, app_id, [e["Id"] for e in crowd[:100]])
    on_gold = create(data, store, clock, app_id, **group_on(gold["Id"]))
    on_either = create(data, store, clock, app_id, **group_on(gold["Id"], tokyo["Id"]))
    on_both = create(data, store, clock, app_id, **group_on(gold["Id"], tokyo["Id"], SourceType="ALL"))
    on_members = create(data, store, clock, app_id, **group_on(members["Id"]))
    before = ids(segments.resolve(data, store, app_id, on_gold, now=clock.now()))

    segments.delete_segment(data, store, app_id, gold["Id"])
    segments.delete_segment(data, store, app_id, members["Id"])

    assert before  # it did contribute while it existed
    assert list(segments.resolve(data, store, app_id, on_gold, now=clock.now())) == []
    assert list(segments.resolve(data, store, app_id, on_members, now=clock.now())) == []
    assert list(segments.resolve(data, store, app_id, on_both, now=clock.now())) == []
    assert ids(segments.resolve(data, store, app_id, on_either, now=clock.now())) == sorted(
        e["Id"] for e in crowd if "東京" in city(e) and sendable(e)
    )


# -- estimate ----------------------------------------------------------------------------------------------------------


def test_the_estimate_of_a_small_app_is_exact(data, store, clock, app_id, crowd):
    segment = create(data, store, clock, app_id, Dimensions=GOLD)
    truth = sum(1 for e in crowd if "gold" in tier(e) and sendable(e))
    truth_all = sum(1 for e in crowd if "gold" in tier(e))

    size = segments.estimate_size(data, store, app_id, segment, now=clock.now(), rng=random.Random(1))
    size_all = segments.estimate_size(data, store, app_id, segment, now=clock.now(), include_inactive=True)

    assert size == {"Size": truth, "Exact": True, "StandardError": 0.0, "ShardsRead": ENDPOINT_SHARDS}
    assert size_all["Size"] == truth_all > truth


def test_the_estimate_of_an_empty_app_is_zero(data, store, clock, app_id):
    segment = create(data, store, clock, app_id)

    assert segments.estimate_size(data, store, app_id, segment, now=clock.now()) == {
        "Size": 0,
        "Exact": True,
        "StandardError": 0.0,
        "ShardsRead": ENDPOINT_SHARDS,
    }


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_the_estimate_of_a_large_app_samples_four_shards_within_four_standard_errors(
    data, store, clock, app_id, crowd, seed
):
    segment = create(data, store, clock, app_id, Dimensions=GOLD)
    matching = [e for e in crowd if "gold" in tier(e) and sendable(e)]
    sampled = random.Random(seed)
    order = list(range(ENDPOINT_SHARDS))
    sampled.shuffle(order)
    in_sample = sum(1 for e in matching if endpoint_shard(e["Id"]) in order[:4])

    size = segments.estimate_size(
        data, store, app_id, segment, now=clock.now(), exact_below=10, rng=random.Random(seed)
    )

    assert (size["Exact"], size["ShardsRead"]) == (False, 4)
    assert size["Size"] == in_sample * 4  # the sampled shards' count, scaled by 16/4
    assert size["StandardError"] == round((size["Size"] * 3) ** 0.5, 1)
    assert abs(size["Size"] - len(matching)) <= 4 * size["StandardError"]


def test_sampling_every_shard_is_exact_whatever_the_size(data, store, clock, app_id, crowd):
    segment = create(data, store, clock, app_id, Dimensions=GOLD)
    truth = sum(1 for e in crowd if "gold" in tier(e) and sendable(e))

    size = segments.estimate_size(data, store, app_id, segment, now=clock.now(), exact_below=1, sample_shards=99)

    assert size == {"Size": truth, "Exact": True, "StandardError": 0.0, "ShardsRead": ENDPOINT_SHARDS}


def test_the_estimate_of_an_imported_segment(data, store, clock, app_id, crowd):
    segment = imported(store, clock, app_id, [e["Id"] for e in crowd[:500]])

    size = segments.estimate_size(data, store, app_id, segment, now=clock.now())

    assert size["Size"] == sum(1 for e in crowd[:500] if sendable(e)) and size["Exact"]


def test_segment_estimate_reports_the_latest_version(data, store, clock, app_id, crowd):
    segment = create(data, store, clock, app_id, Dimensions=GOLD)
    update(data, store, clock, app_id, segment["Id"], Dimensions=SILVER)

    estimate = segments.segment_estimate(data, data, store, clock, app_id, segment["Id"])

    assert estimate == {
        "SegmentId": segment["Id"],
        "Version": 2,
        "Size": sum(1 for e in crowd if "silver" in tier(e) and sendable(e)),
        "Exact": True,
        "StandardError": 0.0,
        "ShardsRead": ENDPOINT_SHARDS,
    }


def test_segment_estimate_uses_the_clock_for_recency(data, store, clock, app_id):
    data.put_endpoints(app_id, [endpoint("fresh", EffectiveDate="2026-10-30T00:00:00.000Z")])
    segment = create(
        data, store, clock, app_id, Dimensions={"Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "ACTIVE"}}}
    )

    before = segments.segment_estimate(data, data, store, clock, app_id, segment["Id"])["Size"]
    clock.advance(timedelta(days=6))
    after = segments.segment_estimate(data, data, store, clock, app_id, segment["Id"])["Size"]

    assert (before, after) == (1, 0)


def test_segment_estimate_of_a_missing_segment_is_not_found(data, store, clock, app_id):
    with pytest.raises(NotFound, match="Segment nope not found"):
        segments.segment_estimate(data, data, store, clock, app_id, "nope")
