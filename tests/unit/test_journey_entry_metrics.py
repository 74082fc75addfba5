"""What entry produced and filtered out, counted with Pinpoint's run metrics in the same write as the moves
(ENDPOINT_PRODUCED = entered + ENDPOINT_OPT_OUT + ENDPOINT_INACTIVE + FILTERED_OUT_BY_SEGMENT + DUPLICATE_ENDPOINT +
refused), each once however often a wake-up or a PutEvents request is replayed; and a segment entry cut by the
wake-up's time budget, carried on by the next wake-ups without entering or counting anyone twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.domain.journey_metrics import journey_metrics
from kizuna.domain.sharding import endpoint_shard
from kizuna.services import journey_runs, journey_segment_entry
from kizuna.services.endpoints import update_endpoint
from kizuna.services.segments import create_segment
from tests.unit.journey_harness import ARN, Setup, sms
from tests.unit.test_journey_entry import post, publish_event_journey, signup, stamped


def counts(s: Setup, journey_id: str) -> dict[str, int]:
    return s.participants.tally(s.app_id, journey_id, s.run_id()).counts


def test_a_segment_entry_counts_what_it_produced_and_the_members_it_could_not_enter():
    s = Setup(endpoints=6)
    update_endpoint(s.data, s.data, s.clock, s.app_id, "e1", {"OptOut": "ALL"})
    update_endpoint(s.data, s.data, s.clock, s.app_id, "e2", {"EndpointStatus": "INACTIVE"})
    journey = s.publish({"hello": sms("welcome")}, "hello")
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())  # a replayed wake-up enters and counts nothing

    assert sorted(m.endpoint_id for m in s.sent()) == ["e0", "e3", "e4", "e5"]
    metrics = journey_metrics(counts(s, journey["Id"]), "ACTIVE")  # what GetJourneyExecutionMetrics answers
    assert (metrics["ENDPOINT_PRODUCED"], metrics["ENDPOINT_ENTERED"]) == ("6", "4")
    assert (metrics["ENDPOINT_OPT_OUT"], metrics["ENDPOINT_INACTIVE"]) == ("1", "1")


def test_an_event_entry_counts_each_event_once_with_the_reason_its_endpoint_did_not_enter():
    s = Setup(endpoints=6)
    for endpoint_id in ("e0", "e1", "e2"):
        update_endpoint(s.data, s.data, s.clock, s.app_id, endpoint_id, {"Attributes": {"tier": ["vip"]}})
    update_endpoint(s.data, s.data, s.clock, s.app_id, "e2", {"OptOut": "ALL"})
    vip = create_segment(s.data, s.segments, s.clock, ARN, s.app_id, {
        "Name": "vip", "Dimensions": {"Attributes": {"tier": {"AttributeType": "INCLUSIVE", "Values": ["vip"]}}},
    })["Id"]  # fmt: skip
    journey_id = publish_event_journey(s, {"hello": sms("welcome")}, segment=vip)
    request = stamped(s, {
        "e0": {"a": signup(), "b": signup()},  # two matching events: e0 enters once, its second is a duplicate
        "e1": {"c": signup()},  # enters
        "e2": {"d": signup()},  # in the segment, opted out
        "e3": {"e": signup()},  # not in the segment
        "nobody": {"f": signup()},  # no such endpoint: nothing produced
    })  # fmt: skip
    for _ in range(2):  # the SDK retries the same request: nothing is counted twice
        post(s, request)

    assert sorted(m.endpoint_id for m in s.sent()) == ["e0", "e1"]
    tally = counts(s, journey_id)
    assert tally["ENDPOINT_ENTERED"] == 2 and tally["DUPLICATE_ENDPOINT"] == 1
    assert tally["ENDPOINT_OPT_OUT"] == 1 and tally["FILTERED_OUT_BY_SEGMENT"] == 1
    assert tally["ENDPOINT_PRODUCED"] == 5


@pytest.fixture
def tight_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every wake-up runs out of time after one entry batch of two members."""
    monkeypatch.setattr(journey_runs, "SHARD_BUDGET", timedelta(0))
    monkeypatch.setattr(journey_segment_entry, "ENTRY_BATCH", 2)


@pytest.mark.usefixtures("tight_budget")
def test_an_entry_cut_by_the_budget_carries_on_at_the_next_wake_up_and_enters_everyone_once():
    s = Setup(endpoints=40)
    update_endpoint(s.data, s.data, s.clock, s.app_id, "e7", {"OptOut": "ALL"})
    journey = s.publish({"hello": sms("welcome")}, "hello")
    per_shard = max(sum(1 for i in range(40) if endpoint_shard(f"e{i}") == shard) for shard in range(ENDPOINT_SHARDS))
    assert per_shard > 2  # some shard needs more than one wake-up

    first = journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    assert journey_runs._instant(first["next_wake"]) == s.clock.now()  # the rest of the segment, at once
    loops = 1 + s.loops_until_done(journey["Id"])

    assert loops == -(-per_shard // 2)  # one batch per shard and wake-up, as many wake-ups as the fullest shard needs
    assert sorted(m.endpoint_id for m in s.sent()) == sorted(f"e{i}" for i in range(40) if i != 7)
    tally = counts(s, journey["Id"])
    assert (tally["ENDPOINT_PRODUCED"], tally["ENDPOINT_ENTERED"], tally["ENDPOINT_OPT_OUT"]) == (40, 39, 1)
    assert tally["hello|SUCCESS"] == 39


@pytest.mark.usefixtures("tight_budget")
def test_a_crash_in_the_middle_of_a_cut_entry_replays_its_batch_into_one_count():
    s = Setup(endpoints=40)
    journey = s.publish({"hello": sms("welcome")}, "hello")
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())  # every shard's first batch
    original = s.participants.record_entry
    crashed: list[int] = []

    def crash_once(app_id, journey_id, run, shard, moves, entry, at):
        if moves and not crashed:  # the batch's messages are queued; its write never happens
            crashed.append(shard)
            raise RuntimeError("the function timed out")
        return original(app_id, journey_id, run, shard, moves, entry, at)

    s.participants.record_entry = crash_once  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    s.loops_until_done(journey["Id"])  # the retried wake-up takes the same batch again, then the rest

    assert crashed
    assert len({m.message_id for m in s.sent()}) == 40  # a replayed send repeats its id; the sender sends it once
    tally = counts(s, journey["Id"])
    assert tally["ENDPOINT_PRODUCED"] == tally["ENDPOINT_ENTERED"] == tally["hello|SUCCESS"] == 40
