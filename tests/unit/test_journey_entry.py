"""Journey entry over in-memory ports on a virtual clock: event-started journeys entered from PutEvents (attribute
filters, a start segment, an SDK retry of the same request), a sleeping loop woken in time for an entrant's next
step, the re-entry cap and interval across events and segment refreshes, RefreshFrequency enrolling members added
later, and the review refusing unreadable entry settings with a 400 that names the field."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.cli import main
from kizuna.clock import iso
from kizuna.domain.journey_metrics import journey_metrics
from kizuna.errors import BadRequest
from kizuna.services import journey_engagement, journey_entry, journey_runs, journeys
from kizuna.services.endpoints import update_endpoint
from kizuna.services.ingest_events import put_events
from kizuna.services.journeys import JourneyCatalog
from kizuna.services.segments import create_segment, update_segment
from tests.unit.journey_harness import ARN, START, Setup, sms

SIGNUP = {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["signup"]}}
GOLD_SIGNUP = {**SIGNUP, "Attributes": {"plan": {"AttributeType": "INCLUSIVE", "Values": ["gold"]}}}
WELCOME_THEN_THANKS = {
    "hello": sms("welcome", "wait"),
    "wait": {"Wait": {"WaitTime": {"WaitFor": "P1D"}, "NextActivity": "bye"}},
    "bye": sms("thanks"),
}


def event_start(dimensions: dict, segment_id: str | None = None) -> dict:
    start: dict = {"EventFilter": {"FilterType": "ENDPOINT", "Dimensions": dimensions}}
    return {"EventStartCondition": start | ({"SegmentId": segment_id} if segment_id else {})}


def publish_event_journey(s: Setup, activities: dict, dimensions: dict = SIGNUP, **extra) -> str:
    """Publish, then run the run's first loop (what the execution started by publishing does): nobody waits yet."""
    journey = s.publish(
        activities, "hello", StartCondition=event_start(dimensions, extra.pop("segment", None)), **extra
    )
    assert journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())["done"] is False  # it sleeps
    return journey["Id"]


def post(s: Setup, events: dict[str, dict[str, dict]]) -> dict:
    """PutEvents with the API's triggers: {endpoint id: {event id: event}}; every event is accepted."""

    def triggers(app_id: str, accepted: list) -> None:
        journey_engagement.record_events(s.journeys, s.engagement, s.clock, app_id, accepted)
        journey_entry.on_events(s.deps, app_id, accepted)

    request = {"BatchItem": {e: {"Endpoint": {}, "Events": evs} for e, evs in events.items()}}
    result = put_events(s.data, s.data, s.events, s.clock, s.app_id, request, triggers)
    statuses = {
        r["EventsItemResponse"][i]["StatusCode"] for r in result["Results"].values() for i in r["EventsItemResponse"]
    }
    assert statuses == {202}, result
    return result


def signup(plan: str = "gold", kind: str = "signup") -> dict:
    return {"EventType": kind, "Timestamp": "NOW", "Attributes": {"plan": plan}}


def stamped(s: Setup, events: dict[str, dict[str, dict]]) -> dict[str, dict[str, dict]]:
    return {e: {i: {**ev, "Timestamp": iso(s.clock.now())} for i, ev in evs.items()} for e, evs in events.items()}


def counts(s: Setup, journey_id: str) -> dict[str, int]:
    return s.participants.tally(s.app_id, journey_id, s.run_id()).counts


def bodies(s: Setup) -> list[tuple[str, str]]:
    return [(m.endpoint_id, m.body) for m in s.sent()]


def test_an_event_journey_enters_each_matching_endpoint_once_per_event_and_sends_its_first_message_at_once():
    s = Setup()
    journey_id = publish_event_journey(s, WELCOME_THEN_THANKS, GOLD_SIGNUP, Limits={"EndpointReentryCap": 0})
    s.clock.advance(timedelta(hours=3))
    request = stamped(s, {
        "e0": {"ev-1": signup("gold")},  # matches
        "e1": {"ev-2": signup("silver")},  # another plan: the attribute filter does not match
        "e2": {"ev-3": signup("gold", "page_view")},  # another event type
        "nobody": {"ev-4": signup("gold")},  # no such endpoint
    })  # fmt: skip
    for _ in range(2):  # the SDK retries the same request: the same event ids enter no one twice
        post(s, request)
    assert bodies(s) == [("e0", "ようこそ")]  # queued within the request, not at the loop's next wake-up
    entered = s.participant(journey_id, "e0")
    assert (entered.status, entered.activity, entered.entries) == ("WAITING", "wait", 1)
    assert entered.wake_at == s.clock.now() + timedelta(days=1)
    # The run's loop slept until the journey's end: the entrant's wait asked for one more execution, once.
    assert len(s.orchestrator.starts) == 2
    poked = journey_runs.run_loop(s.deps, s.app_id, journey_id, s.run_id())  # the execution the entry started
    assert journey_runs._instant(poked["next_wake"]) == entered.wake_at
    s.clock.advance(timedelta(days=1))
    journey_runs.run_loop(s.deps, s.app_id, journey_id, s.run_id())
    assert bodies(s) == [("e0", "ようこそ"), ("e0", "ありがとう")]
    assert s.participant(journey_id, "e0").status == "FINISHED"
    assert (counts(s, journey_id)["ENDPOINT_ENTERED"], counts(s, journey_id)["ENDPOINT_LEFT"]) == (1, 1)
    assert s.journeys.get_journey(s.app_id, journey_id)["State"] == "ACTIVE"  # open for entries until its end


def test_an_endpoint_still_in_the_journey_is_not_entered_again_and_the_refusal_is_counted_once():
    s = Setup()
    journey_id = publish_event_journey(s, WELCOME_THEN_THANKS, Limits={"EndpointReentryCap": 0})
    post(s, stamped(s, {"e0": {"a": signup()}}))
    s.clock.advance(timedelta(hours=1))
    for _ in range(2):
        post(s, stamped(s, {"e0": {"b": signup()}}))  # e0 still waits: rejected, counted once for event b
    assert bodies(s) == [("e0", "ようこそ")]
    assert counts(s, journey_id)["ACTIVE_ENDPOINT_REJECTED"] == 1
    metrics = journey_metrics(counts(s, journey_id), "ACTIVE")  # what GetJourneyExecutionMetrics answers
    assert metrics["ACTIVE_ENDPOINT_REJECTED"] == "1" and metrics["ENDPOINT_ACTIVE"] == "1"


def test_with_a_start_segment_only_its_members_enter():
    s = Setup()
    for endpoint_id in ("e0", "e1"):
        update_endpoint(s.data, s.data, s.clock, s.app_id, endpoint_id, {"Attributes": {"tier": ["vip"]}})
    vip = create_segment(s.data, s.segments, s.clock, ARN, s.app_id, {
        "Name": "vip", "Dimensions": {"Attributes": {"tier": {"AttributeType": "INCLUSIVE", "Values": ["vip"]}}},
    })["Id"]  # fmt: skip
    journey_id = publish_event_journey(s, {"hello": sms("welcome")}, segment=vip)
    post(s, stamped(s, {"e0": {"a": signup()}, "e2": {"b": signup()}, "e3": {"c": signup()}}))
    assert bodies(s) == [("e0", "ようこそ")]
    assert counts(s, journey_id)["ENDPOINT_ENTERED"] == 1
    assert len(s.orchestrator.starts) == 1  # e0 left at once: nobody waits, no loop is needed


def test_the_reentry_cap_holds_across_events_and_without_limits_an_endpoint_enters_once():
    for limits, expected in (
        ({"Limits": {"EndpointReentryCap": 1}}, 1),
        ({}, 1),
        ({"Limits": {"EndpointReentryCap": 3}}, 3),
    ):
        s = Setup()
        journey_id = publish_event_journey(s, {"hello": sms("welcome")}, **limits)
        for n in range(5):  # five purchases a day apart: each time the endpoint has left the one-message journey
            post(s, stamped(s, {"e0": {f"ev-{n}": signup()}}))
            s.clock.advance(timedelta(days=1))
        assert bodies(s) == [("e0", "ようこそ")] * expected
        assert len({m.message_id for m in s.sent()}) == expected  # each entry sends under ids of its own
        assert counts(s, journey_id)["ENDPOINT_ENTERED"] == expected
        assert counts(s, journey_id)["REENTRY_CAP_EXCEEDED"] == 5 - expected
        assert s.participant(journey_id, "e0").entries == expected


def test_the_reentry_interval_is_the_least_time_between_two_entries():
    s = Setup()
    journey_id = publish_event_journey(
        s, {"hello": sms("welcome")}, Limits={"EndpointReentryCap": 0, "EndpointReentryInterval": "PT1H"}
    )
    entered_at = []
    for minutes in (0, 10, 59, 60, 70, 125):
        s.clock.advance(START + timedelta(minutes=minutes) - s.clock.now())
        before = len(s.sent())
        post(s, stamped(s, {"e0": {f"ev-{minutes}": signup()}}))
        if len(s.sent()) > before:
            entered_at.append(minutes)
    assert entered_at == [0, 60, 125]
    assert counts(s, journey_id)["REENTRY_CAP_EXCEEDED"] == 3  # the interval is a re-entry limit


def test_a_crash_after_the_first_message_is_queued_retries_into_one_entry_with_the_same_message_id():
    s = Setup()
    journey_id = publish_event_journey(s, WELCOME_THEN_THANKS, Limits={"EndpointReentryCap": 0})
    original = s.participants.record_moves

    def crash(*_args, **_kwargs):
        raise RuntimeError("the function timed out")

    s.participants.record_moves = crash  # type: ignore[method-assign]
    request = {"BatchItem": {"e0": {"Endpoint": {}, "Events": {"ev-1": {**signup(), "Timestamp": iso(s.clock.now())}}}}}
    result = put_events(s.data, s.data, s.events, s.clock, s.app_id, request,
                        lambda app_id, accepted: journey_entry.on_events(s.deps, app_id, accepted))  # fmt: skip
    assert result["Results"]["e0"]["EventsItemResponse"]["ev-1"]["StatusCode"] == 500  # the SDK retries
    s.participants.record_moves = original  # type: ignore[method-assign]
    post(s, {"e0": {"ev-1": {**signup(), "Timestamp": iso(s.clock.now())}}})
    [first, again] = s.sent()
    assert first.message_id == again.message_id  # the sender's claim on the id sends it once
    assert counts(s, journey_id)["ENDPOINT_ENTERED"] == 1


def test_an_idle_event_journey_without_an_end_ends_its_loop_and_the_next_entry_starts_one():
    s = Setup()
    journey = s.publish(WELCOME_THEN_THANKS, "hello", StartCondition=event_start(SIGNUP), Schedule={})
    assert journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id()) == {"done": True}
    assert s.journeys.get_journey(s.app_id, journey["Id"])["State"] == "ACTIVE"  # not completed: it waits for events
    post(s, stamped(s, {"e1": {"a": signup()}}))
    assert len(s.orchestrator.starts) == 2  # no loop ran: the entry started one
    planned = journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    assert journey_runs._instant(planned["next_wake"]) == START + timedelta(days=1)


def test_the_loop_of_an_event_journey_completes_it_at_its_end_time():
    s = Setup()
    journey_id = publish_event_journey(s, WELCOME_THEN_THANKS, Schedule={"EndTime": iso(START + timedelta(days=540))})
    s.clock.advance(timedelta(days=540))
    assert journey_runs.run_loop(s.deps, s.app_id, journey_id, s.run_id()) == {"done": True}
    assert s.journeys.get_journey(s.app_id, journey_id)["State"] == "COMPLETED"
    post(s, stamped(s, {"e0": {"late": signup()}}))
    assert s.sent() == []


def test_refresh_frequency_enrols_members_added_to_the_segment_later_once():
    s = Setup(endpoints=3)
    journey = s.publish({"hello": sms("welcome")}, "hello", RefreshFrequency="PT1H",
                        Schedule={"EndTime": iso(START + timedelta(hours=6))})  # fmt: skip
    s.clock.advance(timedelta(minutes=1))
    first = journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    assert journey_runs._instant(first["next_wake"]) == START + timedelta(minutes=61)  # the next refresh
    s.clock.advance(timedelta(minutes=20))
    for n, endpoint_id in enumerate(("late-a", "late-b")):  # join the segment between two refreshes
        update_endpoint(
            s.data, s.data, s.clock, s.app_id, endpoint_id, {"ChannelType": "SMS", "Address": f"+8190999{n:05d}"}
        )
    loops = s.loops_until_done(journey["Id"])
    assert sorted(e for e, _ in bodies(s)) == ["e0", "e1", "e2", "late-a", "late-b"]  # each once
    late = [m for m in s.sent() if m.endpoint_id.startswith("late")]
    assert {datetime.fromisoformat(m.accepted_at) for m in late} == {START + timedelta(minutes=61)}
    assert 5 <= loops <= 6  # one wake-up per refresh until the end time
    tally = counts(s, journey["Id"])
    assert tally["ENDPOINT_ENTERED"] == 5
    assert tally["REENTRY_CAP_EXCEEDED"] > 0  # the later refreshes found them, and the cap of one entry held
    assert s.journeys.get_journey(s.app_id, journey["Id"])["State"] == "COMPLETED"


def test_the_reentry_cap_and_interval_hold_across_segment_refreshes():
    s = Setup(endpoints=2)
    journey = s.publish({"hello": sms("welcome")}, "hello", RefreshFrequency="PT6H",
                        Limits={"EndpointReentryCap": 2, "EndpointReentryInterval": "P1D"},
                        Schedule={"EndTime": iso(START + timedelta(days=3))})  # fmt: skip
    s.loops_until_done(journey["Id"])
    for endpoint_id in ("e0", "e1"):
        sent = sorted(datetime.fromisoformat(m.accepted_at) for m in s.sent() if m.endpoint_id == endpoint_id)
        assert sent == [START, START + timedelta(days=1)]  # refreshes at 6 h, 12 h, 18 h: too soon; then the cap
    assert counts(s, journey["Id"])["ENDPOINT_ENTERED"] == 4


def test_refresh_on_segment_update_enrols_the_new_members_of_an_updated_segment():
    s = Setup(endpoints=2)
    for endpoint_id in ("e0", "e1"):
        update_endpoint(s.data, s.data, s.clock, s.app_id, endpoint_id, {"Attributes": {"tier": [endpoint_id]}})
    segment = create_segment(s.data, s.segments, s.clock, ARN, s.app_id, {
        "Name": "one", "Dimensions": {"Attributes": {"tier": {"Values": ["e0"]}}},
    })["Id"]  # fmt: skip
    journey = s.publish(WELCOME_THEN_THANKS, "hello", StartCondition={"SegmentStartCondition": {"SegmentId": segment}},
                        RefreshOnSegmentUpdate=True)  # fmt: skip
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    assert bodies(s) == [("e0", "ようこそ")]
    s.clock.advance(timedelta(hours=2))
    update_segment(s.data, s.segments, s.clock, s.app_id, segment,
                   {"Dimensions": {"Attributes": {"tier": {"Values": ["e0", "e1"]}}}})  # fmt: skip
    assert journey_entry.segment_updated(s.deps, s.app_id, segment) == 1  # UpdateSegment wakes the run's loop
    assert len(s.orchestrator.starts) == 2
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())  # which sees the segment's new Version
    assert bodies(s) == [("e0", "ようこそ"), ("e1", "ようこそ")]
    assert counts(s, journey["Id"])["ACTIVE_ENDPOINT_REJECTED"] == 1  # e0 still waits in the journey


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"Limits": {"EndpointReentryCap": 101}}, "Limits.EndpointReentryCap"),
        ({"Limits": {"EndpointReentryInterval": "an hour"}}, "Limits.EndpointReentryInterval"),
        ({"RefreshFrequency": "PT5M"}, "RefreshFrequency"),
        ({"RefreshFrequency": "P1D", "StartCondition": event_start(SIGNUP)}, "RefreshFrequency"),
        ({"StartCondition": event_start({**SIGNUP, "Metrics": {"n": {"ComparisonOperator": "ABOUT", "Value": 1}}})},
         "EventStartCondition.EventFilter.Dimensions.Metrics"),
    ],
)  # fmt: skip
def test_unreadable_entry_settings_refuse_the_activation_with_a_400_naming_the_field(extra, named):
    s = Setup()
    request = {"Name": "j", "StartActivity": "hello", "Activities": {"hello": sms("welcome")},
               "StartCondition": {"SegmentStartCondition": {"SegmentId": s.segment_id}}, **extra}  # fmt: skip
    catalog = JourneyCatalog(s.templates, s.segments, s.app_id)
    draft = journeys.create_journey(s.data, s.journeys, catalog, s.clock, ARN, s.app_id, request)
    with pytest.raises(BadRequest, match=named.replace(".", r"\.")):
        journeys.update_journey_state(s.data, s.journeys, catalog, s.clock, s.app_id, draft["Id"], {"State": "ACTIVE"})
    assert s.journeys.get_journey(s.app_id, draft["Id"])["State"] == "DRAFT"  # nothing published, nothing indexed
    assert s.journeys.event_journeys(s.app_id) == []


def test_one_request_enters_endpoints_of_every_shard():
    s = Setup(endpoints=16)
    journey_id = publish_event_journey(s, {"hello": sms("welcome")})
    post(s, stamped(s, {f"e{i}": {f"ev{i}": signup()} for i in range(16)}))
    assert sorted(e for e, _ in bodies(s)) == sorted(f"e{i}" for i in range(16))
    assert sum(len(s.participants.all_participants(s.app_id, journey_id, n)) for n in range(ENDPOINT_SHARDS)) == 16
    assert counts(s, journey_id)["ENDPOINT_ENTERED"] == 16


def test_the_simulator_runs_a_refreshed_journey_and_prints_each_reentry(tmp_path, capsys):
    journey = {
        "Name": "refresh", "StartActivity": "hello", "Activities": {"hello": {"SMS": {"TemplateName": "welcome"}}},
        "StartCondition": {"SegmentStartCondition": {"SegmentId": "all"}}, "RefreshFrequency": "PT6H",
        "Limits": {"EndpointReentryCap": 2, "EndpointReentryInterval": "P1D"},
        "Schedule": {"StartTime": "2026-12-01T00:00:00Z", "EndTime": "2026-12-04T00:00:00Z"},
    }  # fmt: skip
    (tmp_path / "journey.json").write_text(json.dumps(journey))
    (tmp_path / "endpoints.jsonl").write_text('{"Id": "a", "ChannelType": "SMS", "Address": "+819012340001"}\n')
    code = main(["journeys", "simulate", str(tmp_path / "journey.json"), "--endpoints",
                 str(tmp_path / "endpoints.jsonl"), "--until", "4d"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    entries = [line for line in out.splitlines() if "  a  entered at 'hello'" in line]
    assert entries == [
        "2026-12-01T00:00:00Z  a  entered at 'hello'",
        "2026-12-02T00:00:00Z  a  entered at 'hello' (entry 2)",
    ]


def test_a_resumed_event_journey_is_carried_by_the_execution_its_resume_started():
    s = Setup()
    journey_id = publish_event_journey(s, WELCOME_THEN_THANKS)
    post(s, stamped(s, {"e0": {"a": signup()}}))  # e0 waits until START + 1 day
    slept = iso(s.clock.now())
    assert journey_runs.run_loop(s.deps, s.app_id, journey_id, s.run_id())["done"] is False  # P sleeps until then
    catalog = JourneyCatalog(s.templates, s.segments, s.app_id)
    s.clock.advance(timedelta(hours=2))
    journeys.update_journey_state(s.data, s.journeys, catalog, s.clock, s.app_id, journey_id, {"State": "PAUSED"})
    s.clock.advance(timedelta(hours=1))
    journeys.update_journey_state(s.data, s.journeys, catalog, s.clock, s.app_id, journey_id, {"State": "ACTIVE"})
    # The execution the resume started plans e0's wake-up itself: P, asleep since before the pause, ends at its plan.
    resumed = journey_runs.run_loop(s.deps, s.app_id, journey_id, s.run_id())
    assert journey_runs._instant(resumed["next_wake"]) == START + timedelta(days=1)
    s.clock.advance(START + timedelta(days=1) - s.clock.now())
    wakes = [journey_runs.wake_shard(s.deps, s.app_id, journey_id, s.run_id(), n) for n in range(ENDPOINT_SHARDS)]
    assert journey_runs.plan(s.deps, s.app_id, journey_id, s.run_id(), wakes, 1, slept) == {"done": True}
    assert bodies(s) == [("e0", "ようこそ"), ("e0", "ありがとう")]  # moved once, by whichever loop woke first
