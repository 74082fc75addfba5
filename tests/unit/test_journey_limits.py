"""Journey limits on the engine (in-memory ports, virtual clock): DailyCap across a journey of three messages in a day,
TotalCap (the journey's or the app's default), the app's daily caps shared with campaigns and across journeys, a
replayed wake-up counting nothing twice, and MessagesPerSecond spreading each shard's messages."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from kizuna.adapters.memory_campaigns import InMemoryEndpointCaps
from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.domain.journey_steps import Send
from kizuna.domain.sharding import endpoint_shard
from kizuna.services import journey_runs, journey_sends
from kizuna.services.app_settings import update_settings
from tests.unit.campaign_harness import Harness
from tests.unit.journey_harness import START, Setup, sms

SALE = {"SMSMessage": {"Body": "冬のセール", "MessageType": "PROMOTIONAL"}}


def capped(s: Setup) -> InMemoryEndpointCaps:
    s.deps.caps = InMemoryEndpointCaps()
    return s.deps.caps


def wait(duration: str, next_activity: str) -> dict:
    return {"Wait": {"WaitTime": {"WaitFor": duration}, "NextActivity": next_activity}}


def counts(s: Setup, journey_id: str, run_id: str | None = None) -> dict[str, int]:
    return s.participants.tally(s.app_id, journey_id, run_id or s.run_id()).counts


def three_messages(gap: str = "PT2H") -> dict:
    return {
        "m1": sms("welcome", "w1"),
        "w1": wait(gap, "m2"),
        "m2": sms("thanks", "w2"),
        "w2": wait(gap, "m3"),
        "m3": sms("again"),
    }


def test_daily_cap_holds_across_a_journey_with_three_messages_in_a_day():
    s = Setup(endpoints=2)
    capped(s)
    journey = s.publish(three_messages(), "m1", Limits={"DailyCap": 2})
    s.loops_until_done(journey["Id"])

    received = s.follow_ups(0)
    assert {e: len(bodies) for e, bodies in received.items()} == {"e0": 2, "e1": 2}
    assert all("もう一度" not in body for bodies in received.values() for body in bodies)
    tally = counts(s, journey["Id"])
    assert tally["m1|SUCCESS"] == tally["m2|SUCCESS"] == 2
    assert tally["m3|CAPPED"] == 2 and "m3|SUCCESS" not in tally
    assert tally["m3|ENTERED"] == 2 and tally["ENDPOINT_LEFT"] == 2  # capped participants still move on


def test_the_daily_cap_is_per_utc_day_so_a_message_the_next_day_goes():
    s = Setup(endpoints=2)
    capped(s)
    journey = s.publish(three_messages("PT12H"), "m1", Limits={"DailyCap": 2})  # m3 at 24:00, a new UTC day
    s.loops_until_done(journey["Id"])
    assert {e: len(bodies) for e, bodies in s.follow_ups(0).items()} == {"e0": 3, "e1": 3}


@pytest.mark.parametrize("where", ["journey", "app"])
def test_total_cap_holds_over_the_whole_journey_and_the_apps_journey_limits_give_the_default(where: str):
    s = Setup(endpoints=2)
    capped(s)
    if where == "app":
        update_settings(s.data, s.clock, s.app_id, {"JourneyLimits": {"TotalCap": 2}})
    extra = {"Limits": {"TotalCap": 2}} if where == "journey" else {}
    journey = s.publish(three_messages("P3D"), "m1", **extra)
    s.loops_until_done(journey["Id"])
    assert {e: len(bodies) for e, bodies in s.follow_ups(0).items()} == {"e0": 2, "e1": 2}
    assert counts(s, journey["Id"])["m3|CAPPED"] == 2


def test_the_apps_daily_limit_counts_journey_and_campaign_messages_together():
    s = Setup(endpoints=3)
    caps = capped(s)
    update_settings(s.data, s.clock, s.app_id, {"Limits": {"Daily": 2}})
    campaigns = Harness(s.clock, data=s.data, segments=s.segments, caps=caps)
    campaigns.app_id = s.app_id
    journey = s.publish({"m1": sms("welcome", "w1"), "w1": wait("PT1H", "m2"), "m2": sms("thanks")}, "m1")

    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())  # m1: one of the day's two
    campaigns.create(Name="冬", SegmentId=s.segment_id, Schedule={"StartTime": "IMMEDIATE"}, MessageConfiguration=SALE)
    campaigns.work()  # the campaign's message: the second
    assert sorted(m.endpoint_id for m, _ in campaigns.sent()) == ["e0", "e1", "e2"]
    s.clock.advance(timedelta(hours=1))
    s.loops_until_done(journey["Id"])

    assert [m.body for m in s.sent()] == ["ようこそ"] * 3  # m2 is over the app's Daily limit
    assert counts(s, journey["Id"])["m2|CAPPED"] == 3
    # ...and a campaign the same day finds the endpoints full too.
    campaigns.create(Name="冬2", SegmentId=s.segment_id, Schedule={"StartTime": "IMMEDIATE"}, MessageConfiguration=SALE)
    campaigns.work()
    assert len(campaigns.sent()) == 3


def test_the_apps_journey_daily_cap_counts_every_journey_together():
    s = Setup(endpoints=2)
    capped(s)
    update_settings(s.data, s.clock, s.app_id, {"JourneyLimits": {"DailyCap": 1}})
    first = s.publish({"m1": sms("welcome")}, "m1")
    second = s.publish({"m1": sms("thanks")}, "m1")
    runs = {journey_id: run_id for _, journey_id, run_id in s.orchestrator.started}
    journey_runs.run_loop(s.deps, s.app_id, first["Id"], runs[first["Id"]])
    journey_runs.run_loop(s.deps, s.app_id, second["Id"], runs[second["Id"]])
    assert [m.body for m in s.sent()] == ["ようこそ", "ようこそ"]
    assert counts(s, second["Id"], runs[second["Id"]])["m1|CAPPED"] == 2


def test_a_replayed_wake_up_counts_its_messages_against_the_caps_once():
    s = Setup(endpoints=2)
    capped(s)
    journey = s.publish({"m1": sms("welcome", "m2"), "m2": sms("thanks")}, "m1", Limits={"DailyCap": 2})
    original = s.participants.record_entry

    def crash(app_id, journey_id, run, shard, moves, entry, at):
        if not moves:  # a shard without members: only its entry marker is written
            return original(app_id, journey_id, run, shard, moves, entry, at)
        raise RuntimeError("the function timed out")

    s.participants.record_entry = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    s.participants.record_entry = original  # type: ignore[method-assign]
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    tally = counts(s, journey["Id"])
    assert tally["m1|SUCCESS"] == tally["m2|SUCCESS"] == 2 and "m2|CAPPED" not in tally


def test_messages_per_second_spreads_each_shards_messages_by_16_over_the_rate():
    s = Setup(endpoints=48)
    journey = s.publish({"m1": sms("welcome")}, "m1", Limits={"MessagesPerSecond": 8})
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())

    offsets: dict[int, list[float]] = defaultdict(list)
    for message in s.sent():
        at = datetime.fromisoformat(message.not_before) if message.not_before else START
        offsets[endpoint_shard(message.endpoint_id)].append((at - START).total_seconds())
    assert len(s.sent()) == 48 and max(len(o) for o in offsets.values()) >= 3
    for shard_offsets in offsets.values():  # 16 shards in parallel at 8/s: 2 s apart within a shard
        assert sorted(shard_offsets) == [2.0 * i for i in range(len(shard_offsets))]


def test_pacing_carries_on_across_the_batches_of_a_wake_up_and_starts_again_once_passed():
    journey = {"ApplicationId": "app", "Id": "j1", "Limits": {"MessagesPerSecond": ENDPOINT_SHARDS}}  # 1 s apart
    now = datetime(2026, 12, 1, tzinfo=UTC)
    same_shard = [f"e{i}" for i in range(200) if endpoint_shard(f"e{i}") == 3][:4]
    items = [({"Id": e, "ChannelType": "SMS", "Address": "+819000000000"}, Send("m1", "SMS", {}, f"id-{e}"))
             for e in same_shard]  # fmt: skip
    pacing: journey_sends.Pacing = {}
    first = journey_sends.gate(None, {}, pacing, journey, "r1", "SMS", items[:2], now)
    second = journey_sends.gate(None, {}, pacing, journey, "r1", "SMS", items[2:], now)
    assert first.not_before == {same_shard[1]: now + timedelta(seconds=1)}
    assert second.not_before == {same_shard[2]: now + timedelta(seconds=2), same_shard[3]: now + timedelta(seconds=3)}
    later = journey_sends.gate(None, {}, pacing, journey, "r1", "SMS", items[:1], now + timedelta(minutes=5))
    assert later.not_before == {}  # the earlier slots have passed: it goes at once
