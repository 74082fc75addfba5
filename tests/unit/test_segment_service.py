"""Segments service over in-memory stores: versions, paging, base-segment checks, resolution and the estimate."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from kizuna.adapters.memory_segments import InMemorySegmentStore
from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.errors import BadRequest, NotFound
from kizuna.services import apps, segments

ARN = "arn:aws:mobiletargeting:us-east-1:123456789012"
GOLD = {"Attributes": {"tier": {"Values": ["gold"]}}}


@pytest.fixture
def store() -> InMemorySegmentStore:
    return InMemorySegmentStore()


@pytest.fixture
def app_id(data, clock) -> str:
    return apps.create_app(data, clock, ARN, {"Name": "shop"}).id


def create(data, store, clock, app_id, **request: Any) -> dict[str, Any]:
    return segments.create_segment(data, store, clock, ARN, app_id, request)


def people(count: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "Id": f"p{i:05d}",
            "ChannelType": rng.choice(["SMS", "EMAIL"]),
            "Address": f"+8190{i:08d}",
            "Attributes": {"tier": [rng.choice(["gold", "silver"])]},
            "Metrics": {"visits": float(rng.randrange(6))},
            "OptOut": "ALL" if rng.random() < 0.1 else "NONE",
            "EndpointStatus": "INACTIVE" if rng.random() < 0.05 else "ACTIVE",
        }
        for i in range(count)
    ]


# -- CRUD -----------------------------------------------------------------------------------------------------------


def test_update_keeps_the_name_bumps_the_version_and_keeps_every_version(data, store, clock, app_id):
    created = create(data, store, clock, app_id, Name="ゴールド会員", Dimensions=GOLD)
    clock.advance(timedelta(minutes=5))

    updated = segments.update_segment(data, store, clock, app_id, created["Id"], {"Dimensions": {}})
    first = segments.get_segment_version(data, store, app_id, created["Id"], "1")
    versions = segments.get_segment_versions(data, store, app_id, created["Id"], "1", None)

    assert (updated["Version"], updated["Name"], updated["Dimensions"]) == (2, "ゴールド会員", {})
    assert updated["LastModifiedDate"] > created["LastModifiedDate"] == updated["CreationDate"]
    assert first["Dimensions"] == GOLD
    assert ([v["Version"] for v in versions["Item"]], versions["NextToken"]) == ([1], "1")
    assert segments.get_segment(data, store, app_id, created["Id"]) == updated


def test_get_segments_pages_with_a_token(data, store, clock, app_id):
    ids = {create(data, store, clock, app_id, Name=str(i))["Id"] for i in range(5)}

    first = segments.get_segments(data, store, app_id, "3", None)
    second = segments.get_segments(data, store, app_id, "3", first["NextToken"])

    assert len(first["Item"]) == 3 and "NextToken" not in second
    assert {s["Id"] for s in first["Item"] + second["Item"]} == ids


@pytest.mark.parametrize("page_size", ["0", "101", "ten"])
def test_a_bad_page_size_is_refused(data, store, app_id, page_size):
    with pytest.raises(BadRequest, match="page-size"):
        segments.get_segments(data, store, app_id, page_size, None)


def test_missing_things_are_not_found(data, store, clock, app_id):
    segment = create(data, store, clock, app_id, Name="one")

    for call in (
        lambda: segments.get_segment(data, store, "no-app", segment["Id"]),
        lambda: segments.get_segment(data, store, app_id, "missing"),
        lambda: segments.get_segment_version(data, store, app_id, segment["Id"], "2"),
        lambda: segments.delete_segment(data, store, app_id, "missing"),
        lambda: segments.segment_estimate(data, data, store, clock, app_id, "missing"),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(BadRequest, match="version"):
        segments.get_segment_version(data, store, app_id, segment["Id"], "0")


def test_delete_removes_every_version(data, store, clock, app_id):
    segment = create(data, store, clock, app_id, Name="gone")
    segments.update_segment(data, store, clock, app_id, segment["Id"], {"Name": "still gone"})

    segments.delete_segment(data, store, app_id, segment["Id"])

    assert store.list_versions(app_id, segment["Id"]) == []
    with pytest.raises(NotFound):
        segments.get_segment_version(data, store, app_id, segment["Id"], "1")


def test_an_imported_segment_keeps_its_members_and_only_its_name_changes(data, store, clock, app_id):
    imported = segments.create_imported_segment(store, clock, ARN, app_id, "import", {"Format": "CSV"})

    renamed = segments.update_segment(data, store, clock, app_id, imported["Id"], {"Name": "顧客"})
    with pytest.raises(BadRequest, match="imported"):
        segments.update_segment(data, store, clock, app_id, imported["Id"], {"Dimensions": GOLD})

    assert (renamed["SegmentType"], renamed["Name"], renamed["Version"]) == ("IMPORT", "顧客", 2)


# -- base segments --------------------------------------------------------------------------------------------------


def group_on(*segment_ids: str) -> dict[str, Any]:
    return {"SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": s} for s in segment_ids]}]}}


def test_base_segments_must_exist_and_cycles_are_refused(data, store, clock, app_id):
    base = create(data, store, clock, app_id, Name="base", Dimensions=GOLD)
    derived = create(data, store, clock, app_id, Name="derived", **group_on(base["Id"]))

    with pytest.raises(BadRequest, match=r"SourceSegments\[0\].Id: segment nope"):
        create(data, store, clock, app_id, **group_on("nope"))
    with pytest.raises(BadRequest, match="its own base"):
        segments.update_segment(data, store, clock, app_id, base["Id"], group_on(base["Id"]))
    with pytest.raises(BadRequest, match="cycle"):
        segments.update_segment(data, store, clock, app_id, base["Id"], group_on(derived["Id"]))


def test_nesting_deeper_than_five_levels_is_refused(data, store, clock, app_id):
    current = create(data, store, clock, app_id, Name="level-0", Dimensions=GOLD)
    for level in range(1, 6):
        current = create(data, store, clock, app_id, Name=f"level-{level}", **group_on(current["Id"]))

    with pytest.raises(BadRequest, match="nest deeper"):
        create(data, store, clock, app_id, **group_on(current["Id"]))


def test_an_imported_base_cannot_be_combined_with_others_in_one_group(data, store, clock, app_id):
    imported = segments.create_imported_segment(store, clock, ARN, app_id, "import", {"Format": "CSV"})
    dimensional = create(data, store, clock, app_id, Dimensions=GOLD)

    with pytest.raises(BadRequest, match="one imported segment"):
        create(data, store, clock, app_id, **group_on(dimensional["Id"], imported["Id"]))


# -- resolution -----------------------------------------------------------------------------------------------------


def sendable_gold_sms(e: dict[str, Any]) -> bool:
    return (
        e["Attributes"]["tier"] == ["gold"]
        and e["ChannelType"] == "SMS"
        and e["Metrics"]["visits"] >= 2
        and e["OptOut"] == "NONE"
        and e["EndpointStatus"] == "ACTIVE"
    )


def test_resolve_returns_exactly_the_matching_sendable_endpoints_of_every_shard(data, store, clock, app_id):
    population = people(3000)
    data.put_endpoints(app_id, population)
    doc = create(
        data,
        store,
        clock,
        app_id,
        Dimensions={
            **GOLD,
            "Demographic": {"Channel": {"Values": ["SMS"]}},
            "Metrics": {"visits": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 2}},
        },
    )

    found = [e["Id"] for e in segments.resolve(data, store, app_id, doc, now=clock.now(), workers=4)]
    everyone = list(segments.resolve(data, store, app_id, doc, now=clock.now(), include_inactive=True))

    assert sorted(found) == sorted(e["Id"] for e in population if sendable_gold_sms(e))
    assert len(found) == len(set(found)) > 100
    assert len(everyone) > len(found)  # opted-out and inactive members come back when asked for


def test_a_group_over_an_imported_and_a_deleted_base(data, store, clock, app_id):
    population = people(400)
    data.put_endpoints(app_id, population)
    imported = segments.create_imported_segment(store, clock, ARN, app_id, "import", {"Format": "CSV"})
    members = [e["Id"] for e in population[:100]]
    store.add_members(app_id, imported["Id"], members)
    base = create(data, store, clock, app_id, Dimensions=GOLD)
    on_imported = create(
        data,
        store,
        clock,
        app_id,
        SegmentGroups={"Groups": [{"SourceSegments": [{"Id": imported["Id"]}], "Dimensions": [GOLD]}]},
    )
    on_deleted = create(data, store, clock, app_id, **group_on(base["Id"]))
    segments.delete_segment(data, store, app_id, base["Id"])

    from_imported = {e["Id"] for e in segments.resolve(data, store, app_id, on_imported, now=clock.now())}
    imported_itself = {e["Id"] for e in segments.resolve(data, store, app_id, imported, now=clock.now())}
    from_deleted = list(segments.resolve(data, store, app_id, on_deleted, now=clock.now()))

    sendable = {e["Id"] for e in population[:100] if e["OptOut"] == "NONE" and e["EndpointStatus"] == "ACTIVE"}
    assert imported_itself == sendable
    assert from_imported == {
        e["Id"] for e in population[:100] if e["Id"] in sendable and e["Attributes"]["tier"] == ["gold"]
    }
    assert from_deleted == []


def test_the_estimate_is_exact_for_a_small_app_and_close_for_a_large_one(data, store, clock, app_id):
    population = people(6000, seed=3)
    data.put_endpoints(app_id, population)
    doc = create(data, store, clock, app_id, Dimensions=GOLD)
    truth = sum(1 for e in population if e["Attributes"]["tier"] == ["gold"] and segments.sendable(e))

    exact = segments.segment_estimate(data, data, store, clock, app_id, doc["Id"])
    sampled = segments.estimate_size(data, store, app_id, doc, now=clock.now(), exact_below=10, rng=random.Random(5))

    assert exact == {
        "SegmentId": doc["Id"],
        "Version": 1,
        "Size": truth,
        "Exact": True,
        "StandardError": 0.0,
        "ShardsRead": ENDPOINT_SHARDS,
    }
    assert (sampled["Exact"], sampled["ShardsRead"]) == (False, 4)
    assert abs(sampled["Size"] - truth) <= 4 * sampled["StandardError"]
