"""Campaigns on a virtual clock: schedules across DST for 400 days, local-time delivery, A/B shares, caps across
campaigns and crashes, event-triggered sends, versions, pause and activities."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kizuna.clock import VirtualClock
from kizuna.domain.campaigns import split_of
from kizuna.domain.jobs import CampaignPiece
from kizuna.domain.sharding import endpoint_shard
from kizuna.errors import BadRequest, NotFound
from kizuna.services import campaigns as service
from kizuna.services.campaign_runs import on_events, run_piece, send_test
from tests.unit.campaign_harness import Harness

START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
SMS = {"SMSMessage": {"Body": "こんにちは {{Attributes.Name}}", "MessageType": "PROMOTIONAL"}}


@pytest.fixture
def h() -> Harness:
    return Harness(VirtualClock(START))


def _audience(h: Harness, n: int) -> str:
    for i in range(n):
        h.endpoint(f"e{i:05d}", f"+8190{i:08d}", "Asia/Tokyo", Name=f"n{i}")
    return h.segment()


def test_validation_errors_name_their_field(h: Harness):
    segment = _audience(h, 1)
    base = {"Name": "c", "SegmentId": segment, "MessageConfiguration": SMS, "Schedule": {"StartTime": "IMMEDIATE"}}
    cases = [
        ({**base, "Name": ""}, "WriteCampaignRequest.Name"),
        ({**base, "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "YEARLY"}}, "Schedule.Frequency"),
        ({**base, "Schedule": {"StartTime": "2026-11-02T09:00:00", "Timezone": "Mars/Olympus"}}, "Timezone"),
        ({**base, "HoldoutPercent": 60, "AdditionalTreatments": [{"SizePercent": 50}]}, "at most 100%"),
        ({**base, "AdditionalTreatments": [{}]}, "AdditionalTreatments[0].SizePercent"),
        ({**base, "Limits": {"Daily": 500}}, "Limits.Daily"),
        ({**base, "MessageConfiguration": {"APNSMessage": {"Body": "x"}}}, "APNSMessage"),
        ({k: v for k, v in base.items() if k != "MessageConfiguration"}, "MessageConfiguration"),
    ]
    for request, field in cases:
        with pytest.raises(BadRequest, match=field.replace("[", r"\[").replace("]", r"\]")):
            h.create(**request)
    with pytest.raises(NotFound, match="Segment nope"):
        h.create(**{**base, "SegmentId": "nope"})
    assert h.store.campaigns == {}  # nothing half-written


def test_an_immediate_campaign_sends_once_to_each_endpoint_and_records_its_activity(h: Harness):
    segment = _audience(h, 40)
    campaign = h.create(
        Name="welcome", SegmentId=segment, MessageConfiguration=SMS, Schedule={"StartTime": "IMMEDIATE"}
    )
    h.work()

    sent = h.sent()
    assert sorted(m.endpoint_id for m, _ in sent) == [f"e{i:05d}" for i in range(40)]
    assert {m.attribution["campaign_id"] for m, _ in sent} == {campaign["Id"]}
    assert {m.priority for m, _ in sent} == {"bulk"}
    assert sent[0][0].body.startswith("こんにちは n")
    [activity] = service.get_campaign_activities(h.deps, h.app_id, campaign["Id"], None, None)["Item"]
    assert activity["State"] == "COMPLETED"
    assert (activity["TotalEndpointCount"], activity["SuccessfulEndpointCount"]) == (40, 40)
    assert service.get_campaign(h.deps, h.app_id, campaign["Id"])["State"]["CampaignStatus"] == "COMPLETED"


def test_a_redelivered_run_and_piece_repeat_the_same_message_ids_and_count_once(h: Harness):
    segment = _audience(h, 30)
    campaign = h.create(
        Name="c", SegmentId=segment, MessageConfiguration=SMS, Schedule={"StartTime": "IMMEDIATE"}, Limits={"Total": 1}
    )
    [run] = h.jobs_queue.take()
    h.jobs_queue.enqueue([run, run])  # the run message delivered twice
    h.work()
    first = sorted(m.message_id for m, _ in h.sent())
    # A crash after a piece sent but before it was acknowledged: SQS delivers every piece again.
    for shard in range(16):
        piece = CampaignPiece(
            app_id=h.app_id, job_id=campaign["Id"], run_key=_run_key(h, campaign), version=1, shard=shard, piece=shard
        )
        run_piece(h.deps, piece)
    again = sorted(m.message_id for m, _ in h.sent())
    assert len(set(first)) == 30
    assert set(again) == set(first)  # the sender's claim refuses every second copy: no new message id
    [activity] = service.get_campaign_activities(h.deps, h.app_id, campaign["Id"], None, None)["Item"]
    assert activity["TotalEndpointCount"] == 30  # each piece counted once


def _run_key(h: Harness, campaign: dict) -> str:
    [run] = h.jobs.list_jobs(h.app_id, f"RUN#{campaign['Id']}", 10, None)[0]
    return run["Definition"]["RunKey"]


@pytest.mark.parametrize(
    ("zone", "winter_utc_hour", "summer_utc_hour"), [("Asia/Tokyo", 0, 0), ("America/New_York", 14, 13)]
)
def test_a_daily_campaign_fires_at_nine_local_for_400_days_across_dst_and_stops_at_end_time(
    h: Harness, zone: str, winter_utc_hour: int, summer_utc_hour: int
):
    segment = _audience(h, 1)
    end = datetime(2027, 12, 8, 9, 0, tzinfo=ZoneInfo(zone))  # 400 runs from 2026-11-03; none at EndTime itself
    campaign = h.create(
        Name="daily",
        SegmentId=segment,
        MessageConfiguration=SMS,
        Schedule={
            "StartTime": "2026-11-03T09:00:00",
            "Timezone": zone,
            "Frequency": "DAILY",
            "EndTime": end.isoformat(),
        },
    )
    h.run_until(START + timedelta(days=500))

    instants = [at for _, at in h.sent()]
    assert len(instants) == 400
    assert all(at.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "09:00" for at in instants)
    hours = {at.strftime("%m"): at.hour for at in instants}
    assert (hours["01"], hours["07"]) == (winter_utc_hour, summer_utc_hour)
    assert max(instants) < end
    assert len(service.get_campaign_activities(h.deps, h.app_id, campaign["Id"], None, None)["Item"]) == 100  # a page
    assert h.scheduler.pending == {}


def test_is_local_time_sends_at_ten_in_each_endpoints_own_zone(h: Harness):
    h.endpoint("tokyo", "+819011112222", "Asia/Tokyo")
    h.endpoint("newyork", "+12125550100", "America/New_York")
    h.endpoint("london", "+447700900123", "Europe/London")
    h.endpoint("guessed", "+819033334444")  # no zone: estimated from the number (Japan)
    segment = h.segment()
    h.create(
        Name="local",
        SegmentId=segment,
        MessageConfiguration=SMS,
        Schedule={"StartTime": "2026-11-03T10:00:00", "Timezone": "UTC", "IsLocalTime": True},
    )
    h.run_until(START + timedelta(days=3))

    local = {m.endpoint_id: at for m, at in h.sent()}
    assert set(local) == {"tokyo", "newyork", "london", "guessed"}
    for endpoint_id, zone in [
        ("tokyo", "Asia/Tokyo"),
        ("newyork", "America/New_York"),
        ("london", "Europe/London"),
        ("guessed", "Asia/Tokyo"),
    ]:
        assert local[endpoint_id].astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") == "2026-11-03 10:00"


def test_treatment_and_holdout_shares_are_within_two_points_over_10000_endpoints_and_stable():
    campaign = {
        "Id": "c1",
        "HoldoutPercent": 10,
        "MessageConfiguration": SMS,
        "AdditionalTreatments": [{"Id": "1", "SizePercent": 30}, {"Id": "2", "SizePercent": 20}],
    }
    split = split_of(campaign)
    ids = [f"endpoint-{i}" for i in range(10_000)]
    first = {i: (t.id if (t := split.assign("c1", i)) else "holdout") for i in ids}
    shares = Counter(first.values())
    for name, percent in {"holdout": 10, "1": 30, "2": 20, "0": 40}.items():
        assert abs(shares[name] / 100 - percent) <= 2, (name, shares[name])
    assert first == {i: (t.id if (t := split_of(campaign).assign("c1", i)) else "holdout") for i in ids}


def test_daily_app_limit_holds_across_two_campaigns_and_total_across_runs(h: Harness):
    segment = _audience(h, 10)
    h.data.put_settings(h.app_id, {"Limits": {"Daily": 1}})
    for name in ("first", "second"):
        h.create(Name=name, SegmentId=segment, MessageConfiguration=SMS, Schedule={"StartTime": "IMMEDIATE"})
    h.work()
    assert Counter(m.endpoint_id for m, _ in h.sent()) == {f"e{i:05d}": 1 for i in range(10)}

    h.data.put_settings(h.app_id, {})
    h.create(
        Name="total",
        SegmentId=segment,
        MessageConfiguration=SMS,
        Limits={"Total": 2},
        Schedule={"StartTime": "2026-11-03T09:00:00", "Frequency": "DAILY", "Timezone": "Asia/Tokyo"},
    )
    h.run_until(START + timedelta(days=5))
    per_endpoint = Counter(m.endpoint_id for m, _ in h.sent())
    assert set(per_endpoint.values()) == {3}  # 1 from the first pair, 2 (its Total) from the daily campaign


def test_an_event_campaign_sends_once_per_matching_event_and_never_for_others(h: Harness):
    h.endpoint("buyer", "+819011112222", "Asia/Tokyo")
    h.endpoint("other", "+819011113333", "Asia/Tokyo")
    segment = h.segment()
    h.create(
        Name="thanks",
        SegmentId=segment,
        MessageConfiguration=SMS,
        Schedule={
            "StartTime": "IMMEDIATE",
            "Frequency": "EVENT",
            "EventFilter": {
                "FilterType": "ENDPOINT",
                "Dimensions": {
                    "EventType": {"DimensionType": "INCLUSIVE", "Values": ["purchase"]},
                    "Attributes": {"plan": {"AttributeType": "INCLUSIVE", "Values": ["gold"]}},
                },
            },
        },
    )
    h.work()
    assert h.sent() == []  # EVENT campaigns are not scheduled

    def event(event_id: str, endpoint_id: str, event_type: str, plan: str) -> dict:
        return {
            "event_id": event_id,
            "event_type": event_type,
            "client": {"client_id": endpoint_id},
            "attributes": {"plan": plan},
            "metrics": {},
        }

    assert on_events(h.deps, h.app_id, [event("ev1", "buyer", "purchase", "gold")]) == 1
    assert on_events(h.deps, h.app_id, [event("ev1", "buyer", "purchase", "gold")]) == 1  # an SDK retry
    assert (
        on_events(
            h.deps, h.app_id, [event("ev2", "other", "purchase", "silver"), event("ev3", "other", "view", "gold")]
        )
        == 0
    )
    sent = h.sent()
    assert {m.endpoint_id for m, _ in sent} == {"buyer"}
    assert len({m.message_id for m, _ in sent}) == 1  # the retry carries the same id: the sender sends it once
    assert datetime.fromisoformat(sent[0][0].not_after) == START + timedelta(minutes=5)  # else dropped, as Pinpoint


def test_versions_pause_and_resume(h: Harness):
    segment = _audience(h, 2)
    campaign = h.create(
        Name="daily",
        SegmentId=segment,
        MessageConfiguration=SMS,
        Schedule={"StartTime": "2026-11-03T09:00:00", "Frequency": "DAILY", "Timezone": "UTC"},
    )
    assert h.scheduler.pending
    paused = service.update_campaign(h.deps, h.app_id, campaign["Id"], {"IsPaused": True})
    assert paused["Version"] == 2 and paused["State"]["CampaignStatus"] == "PAUSED"
    assert h.scheduler.pending == {}
    h.clock.advance(timedelta(days=2))  # past the runs of Nov 3 (09:00) and Nov 4 (00:00 now)
    h.run_until(START + timedelta(days=2))
    assert h.sent() == []
    service.update_campaign(h.deps, h.app_id, campaign["Id"], {"IsPaused": False})
    h.run_until(START + timedelta(days=2, hours=10))
    assert [at.day for _, at in h.sent()] == [4, 4]  # the run of Nov 4 only
    versions = service.get_campaign_versions(h.deps, h.app_id, campaign["Id"], None, None)["Item"]
    assert [v["Version"] for v in versions] == [3, 2, 1]
    assert service.get_campaign_version(h.deps, h.app_id, campaign["Id"], "1")["IsPaused"] is False
    assert h.store.put_campaign(h.app_id, {**versions[0], "Version": 4}, 1) is False  # a stale writer loses


def test_delete_stops_future_runs_and_a_test_send_reaches_only_the_listed_endpoints(h: Harness):
    segment = _audience(h, 3)
    campaign = h.create(
        Name="weekly",
        SegmentId=segment,
        MessageConfiguration=SMS,
        Schedule={"StartTime": "2026-11-03T09:00:00", "Frequency": "WEEKLY", "Timezone": "UTC"},
    )
    response = send_test(h.deps, h.app_id, campaign["Id"], {"EndpointIds": ["e00001"]})
    assert response["EndpointResult"]["e00001"]["DeliveryStatus"] == "SUCCESSFUL"
    assert [m.attribution["campaign_activity_id"] for m, _ in h.sent()] == ["test"]
    deleted = service.delete_campaign(h.deps, h.app_id, campaign["Id"])
    assert deleted["State"]["CampaignStatus"] == "DELETED"
    h.run_until(START + timedelta(days=30))
    assert len(h.sent()) == 1
    with pytest.raises(NotFound):
        service.get_campaign(h.deps, h.app_id, campaign["Id"])


def test_messages_per_second_paces_each_shard_and_maximum_duration_sets_the_expiry(h: Harness):
    segment = _audience(h, 60)
    h.data.put_settings(h.app_id, {"Limits": {"MaximumDuration": 600}})
    h.create(Name="paced", SegmentId=segment, MessageConfiguration=SMS, Schedule={"StartTime": "IMMEDIATE"},
             Limits={"MessagesPerSecond": 16})  # fmt: skip
    h.work()
    by_shard: dict[int, list[datetime]] = {}
    for message, _ in h.sent():
        by_shard.setdefault(endpoint_shard(message.endpoint_id), []).append(datetime.fromisoformat(message.not_before))
        assert datetime.fromisoformat(message.not_after) == START + timedelta(seconds=600)  # the app's default
    assert max(len(v) for v in by_shard.values()) > 1
    for instants in by_shard.values():  # 16 pieces side by side at 16/s: one message a second in each
        ordered = sorted(instants)
        assert {(b - a).total_seconds() for a, b in itertools.pairwise(ordered)} <= {1.0}


def test_a_large_shard_is_sent_in_parts_that_each_fit_the_timeout_and_the_run_still_counts_once(
    h: Harness, monkeypatch
):
    from kizuna.services import campaign_runs

    monkeypatch.setattr(campaign_runs, "CHUNK", 3)
    monkeypatch.setattr(campaign_runs, "PIECE_BUDGET_S", -1.0)  # every chunk hands the rest to a continuation
    segment = _audience(h, 50)
    campaign = h.create(Name="parts", SegmentId=segment, MessageConfiguration=SMS, Schedule={"StartTime": "IMMEDIATE"})
    h.work()
    assert sorted(m.endpoint_id for m, _ in h.sent()) == [f"e{i:05d}" for i in range(50)]
    [run] = h.jobs.list_jobs(h.app_id, f"RUN#{campaign['Id']}", 10, None)[0]
    assert run["JobStatus"] == "COMPLETED" and run["TotalPieces"] > 16 and run["TotalProcessed"] == 50
