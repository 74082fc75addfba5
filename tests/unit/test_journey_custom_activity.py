"""A journey's CUSTOM activity (in-memory ports, virtual clock): its participants are posted to the customer's webhook
as Pinpoint's custom-channel payload with the journey's ids, through the relay queue (signed by the relay function),
counted SUCCESS, and each participant moves on once; a replayed wake-up queues the same delivery ids; other
channels, opted-out endpoints and capped ones are left out, each with its outcome."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kizuna.adapters.memory_campaigns import InMemoryEndpointCaps
from kizuna.domain.custom_delivery import journey_delivery_id, verify
from kizuna.domain.journey_steps import Send
from kizuna.services import journey_runs, journey_sends
from kizuna.services.relay import relay
from tests.unit.campaign_harness import RecordingRelays
from tests.unit.journey_harness import Setup, sms
from tests.unit.test_relay import SECRET, Keys, ScriptedHttp

HOOK = "https://hooks.example.jp/kizuna/journey?tenant=jp"
DATA = json.dumps({"coupon": "冬のクーポン"}, ensure_ascii=False)


def custom(next_activity: str | None = None, **body) -> dict:
    activity = {"DeliveryUri": HOOK, "MessageConfig": {"Data": DATA}, **body}
    return {"CUSTOM": {**activity, **({"NextActivity": next_activity} if next_activity else {})}}


def test_a_custom_activity_posts_the_journeys_ids_to_the_webhook_and_its_participants_move_on_once():
    s = Setup(endpoints=3)
    s.deps.relays = relays = RecordingRelays()
    journey = s.publish({"hook": custom("thanks", EndpointTypes=["SMS"]), "thanks": sms("thanks")}, "hook")
    s.loops_until_done(journey["Id"])
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())  # nobody is due any more: nothing new

    posted: dict[str, dict] = {}
    for request in relays.queued:  # one request per shard's batch (each of at most 50 endpoints)
        body = json.loads(request.body)
        assert (request.url, request.channel, request.app_id) == (HOOK, "CUSTOM", s.app_id)
        assert {k: body[k] for k in ("ApplicationId", "JourneyId", "JourneyActivityId", "JourneyRunId", "Data")} == {
            "ApplicationId": s.app_id, "JourneyId": journey["Id"], "JourneyActivityId": "hook",
            "JourneyRunId": s.run_id(), "Data": DATA,
        }  # fmt: skip
        assert "CampaignId" not in body and body["Message"] == {}
        assert request.delivery_id == journey_delivery_id(journey["Id"], s.run_id(), "hook", list(body["Endpoints"]))
        assert not set(body["Endpoints"]) & set(posted)
        posted |= body["Endpoints"]
    assert sorted(posted) == ["e0", "e1", "e2"] and posted["e1"]["Address"] == "+819000000001"
    # Each participant went on to the next activity exactly once.
    assert sorted(m.endpoint_id for m in s.sent()) == ["e0", "e1", "e2"] and all(
        "ありがとう" in m.body for m in s.sent()
    )
    tally = s.participants.tally(s.app_id, journey["Id"], s.run_id()).counts
    assert tally["hook|ENTERED"] == tally["hook|SUCCESS"] == tally["thanks|SUCCESS"] == 3
    assert "hook|PERMANENT_FAILURE" not in tally and tally["ENDPOINT_LEFT"] == 3


def test_the_relay_function_signs_a_journey_delivery_for_the_receivers_check():
    s = Setup(endpoints=1)
    s.deps.relays = relays = RecordingRelays()
    journey = s.publish({"hook": custom()}, "hook")
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    http = ScriptedHttp(200)
    assert relay(relays.queued[0], Keys(), http, RecordingRelays()).delivered
    [(url, posted, headers)] = http.posts
    assert url == HOOK and posted == relays.queued[0].body
    assert verify(SECRET, headers["Kizuna-Signature"], posted)
    assert headers["Kizuna-Delivery-Id"] == relays.queued[0].delivery_id


def test_a_replayed_wake_up_queues_the_same_deliveries_and_counts_them_once():  # the receiver sees a repeat
    s = Setup(endpoints=3)
    s.deps.relays = relays = RecordingRelays()
    journey = s.publish({"hook": custom()}, "hook")
    original = s.participants.record_entry

    def crash(app_id, journey_id, run, shard, moves, entry, at):
        if not moves:  # a shard without members: only its entry marker is written
            return original(app_id, journey_id, run, shard, moves, entry, at)
        raise RuntimeError("the function timed out")

    s.participants.record_entry = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):  # the first shard's delivery is queued, then its state write fails
        journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    crashed = {(r.delivery_id, r.body) for r in relays.queued}
    s.participants.record_entry = original  # type: ignore[method-assign]
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())

    replayed = {(r.delivery_id, r.body) for r in relays.queued[len(crashed) :]}
    assert len(crashed) == 1 and len(replayed) == 3 and crashed <= replayed
    assert s.participants.tally(s.app_id, journey["Id"], s.run_id()).counts["hook|SUCCESS"] == 3


def test_other_channels_opted_out_and_capped_endpoints_are_left_out_each_with_its_outcome():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    journey = {"ApplicationId": "app", "Id": "j1", "Limits": {"DailyCap": 1}}
    body = custom(EndpointTypes=["SMS", "CUSTOM"])["CUSTOM"]
    endpoints = [
        {"Id": "sms", "ChannelType": "SMS", "Address": "+819012345678"},
        {"Id": "device", "ChannelType": "CUSTOM", "Address": "d-1"},
        {"Id": "mail", "ChannelType": "EMAIL", "Address": "a@example.jp"},
        {"Id": "out", "ChannelType": "SMS", "Address": "+819012345679", "OptOut": "ALL"},
        {"Id": "full", "ChannelType": "SMS", "Address": "+819012345670"},
    ]
    caps = InMemoryEndpointCaps()
    caps.admit("app", "full", "an earlier message", {"j#j1#d#2026-12-01": 1}, now)
    relays = RecordingRelays()
    items = [(e, Send("hook", "CUSTOM", body, f"id-{e['Id']}")) for e in endpoints]
    outcomes = journey_sends.deliver_custom(relays, caps, {}, journey, "r1", "hook", items, now)
    assert outcomes == {
        "sms": "SUCCESS", "device": "SUCCESS", "mail": "PERMANENT_FAILURE", "out": "OPT_OUT", "full": "CAPPED",
    }  # fmt: skip
    [request] = relays.queued
    assert sorted(json.loads(request.body)["Endpoints"]) == ["device", "sms"]


def test_without_a_relay_queue_a_custom_activity_is_not_sent_and_the_engine_carries_on():
    s = Setup(endpoints=2)
    journey = s.publish({"hook": custom("thanks"), "thanks": sms("thanks")}, "hook")
    s.loops_until_done(journey["Id"])
    tally = s.participants.tally(s.app_id, journey["Id"], s.run_id()).counts
    assert tally["hook|PERMANENT_FAILURE"] == 2 and tally["thanks|SUCCESS"] == 2
