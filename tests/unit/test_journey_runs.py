"""The journey engine over in-memory ports on a virtual clock: segment entry, waits across days, a split on the
first message's delivery, a crash between the sends and the state write, a 540-day journey continuing as new
executions, a loop count that follows wake-ups, not participants, and splits on what participants did: replies
through the inbound service (a two-way survey), clicks on tracked links, and custom events from PutEvents."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

import pytest

from kizuna.catalog import ENDPOINT_SHARDS, JOURNEY_LOOPS_PER_EXECUTION
from kizuna.clock import iso
from kizuna.domain.messages import ProviderReceipt
from kizuna.services import journey_engagement, journey_runs, journeys
from kizuna.services.ingest_events import put_events
from kizuna.services.journeys import JourneyCatalog
from kizuna.services.links import LINK_PATH, follow_link
from kizuna.services.templates import create_template
from tests.unit.journey_harness import ARN, START, Setup, sms


def test_a_segment_journey_sends_waits_and_branches_on_the_first_messages_delivery():
    s = Setup()
    journey = s.publish(
        {
            "hello": sms("welcome", "wait"),
            "wait": {"Wait": {"WaitTime": {"WaitFor": "P2D"}, "NextActivity": "split"}},
            "split": {
                "ConditionalSplit": {
                    "Condition": {
                        "Conditions": [
                            {
                                "EventCondition": {
                                    "MessageActivity": "hello",
                                    "Dimensions": {"EventType": {"Values": ["_SMS.SUCCESS"]}},
                                }
                            }
                        ]
                    },
                    "TrueActivity": "thanks",
                    "FalseActivity": "again",
                }
            },
            "thanks": sms("thanks"),
            "again": sms("again"),
        },
        "hello",
    )
    assert s.orchestrator.started  # publishing started the run
    assert s.data.get_endpoint  # the audience exists
    started = journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.orchestrator.started[0][2])
    s.clock.advance(journey_runs._instant(started["next_wake"]) - s.clock.now())
    first = s.sent()
    assert sorted(m.endpoint_id for m in first) == [f"e{i}" for i in range(6)]
    assert {m.attribution["journey_activity_id"] for m in first} == {"hello"}
    # Three of the six are delivered by the time the split evaluates.
    for message in first[:3]:
        s.messages.claim(message, s.clock.now(), 30)
        s.messages.record_sent(
            message.message_id, ProviderReceipt("SM" + message.message_id[:10], "sent"), s.clock.now()
        )
        s.messages.advance_status(message.message_id, "delivered", None, s.clock.now())
    loops = s.loops_until_done(journey["Id"])
    later = s.sent()[6:]
    assert {m.endpoint_id for m in later if "ありがとう" in m.body} == {m.endpoint_id for m in first[:3]}
    assert {m.endpoint_id for m in later if "もう一度" in m.body} == {m.endpoint_id for m in first[3:]}
    assert all(datetime.fromisoformat(m.accepted_at) == START + timedelta(days=2) for m in later)
    assert loops == 1  # one wake-up after the first loop: the end of the wait, for everyone at once, not six
    assert s.journeys.get_journey(s.app_id, journey["Id"])["State"] == "COMPLETED"


def test_a_crash_between_the_sends_and_the_state_write_replays_the_same_message_ids():
    s = Setup(endpoints=3)
    journey = s.publish({"hello": sms("welcome")}, "hello")
    run_id = s.orchestrator.started[0][2]
    original = s.participants.record_entry

    def crash(app_id, journey_id, run, shard, moves, entry, at):
        if not moves:  # a shard without members: only its entry marker is written
            return original(app_id, journey_id, run, shard, moves, entry, at)
        raise RuntimeError("the function timed out")

    s.participants.record_entry = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        journey_runs.run_loop(s.deps, s.app_id, journey["Id"], run_id)
    before = [m.message_id for m in s.sent()]
    s.participants.record_entry = original  # type: ignore[method-assign]
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], run_id)
    after = [m.message_id for m in s.sent()][len(before) :]
    assert before and set(before) <= set(after)  # the replay repeats the ids: the sender's claim sends each once
    assert len(after) == len(set(after)) == 3
    finished = [
        p for shard in range(ENDPOINT_SHARDS) for p in s.participants.all_participants(s.app_id, journey["Id"], shard)
    ]
    assert sorted(p.status for p in finished) == ["FINISHED"] * 3


def test_a_540_day_journey_wakes_once_per_wait_and_continues_as_new_executions():
    s = Setup(endpoints=2)
    journey = s.publish(
        {
            "hello": sms("welcome", "long"),
            "long": {"Wait": {"WaitTime": {"WaitFor": "P539D"}, "NextActivity": "bye"}},
            "bye": sms("thanks"),
        },
        "hello",
    )
    # Three wake-ups in 539 days: the start, the execution's horizon (no Standard execution may wait a year), the end.
    assert s.loops_until_done(journey["Id"]) == 3
    [last] = {m.accepted_at for m in s.sent()[2:]}
    assert datetime.fromisoformat(last) == START + timedelta(days=539)
    run_id = s.orchestrator.started[0][2]
    # The state machine's plan asks for a new execution after many loops or ~300 days of one execution.
    s2 = Setup(endpoints=1)
    j2 = s2.publish({"w": {"Wait": {"WaitTime": {"WaitFor": "P10D"}}}}, "w")
    r2 = s2.orchestrator.started[0][2]
    wakes = [journey_runs.wake_shard(s2.deps, s2.app_id, j2["Id"], r2, shard) for shard in range(ENDPOINT_SHARDS)]
    old = iso(START - timedelta(days=301))
    assert journey_runs.plan(s2.deps, s2.app_id, j2["Id"], r2, wakes, 1, old)["continue"] is True
    assert journey_runs.plan(s2.deps, s2.app_id, j2["Id"], r2, wakes, JOURNEY_LOOPS_PER_EXECUTION, iso(START))[
        "continue"
    ]
    assert journey_runs.plan(s2.deps, s2.app_id, j2["Id"], r2, wakes, 1, iso(START))["continue"] is False
    assert run_id


def test_a_paused_journey_stops_its_loop_and_moves_nobody():
    s = Setup(endpoints=2)
    journey = s.publish(
        {"w": {"Wait": {"WaitTime": {"WaitFor": "P1D"}, "NextActivity": "hello"}}, "hello": sms("welcome")}, "w"
    )
    run_id = s.orchestrator.started[0][2]
    assert journey_runs.run_loop(s.deps, s.app_id, journey["Id"], run_id)["done"] is False
    catalog = JourneyCatalog(s.templates, s.segments, s.app_id)
    journeys.update_journey_state(s.data, s.journeys, catalog, s.clock, s.app_id, journey["Id"], {"State": "PAUSED"})
    s.clock.advance(timedelta(days=2))
    assert journey_runs.run_loop(s.deps, s.app_id, journey["Id"], run_id) == {"done": True}
    assert s.sent() == []


def answer(activity: str, answers: list[str]) -> dict:
    """A condition on the reply to `activity`'s message (Kizuna's reply_body extension)."""
    dimensions = {"EventType": {"Values": ["_SMS.REPLY"]}, "Attributes": {"reply_body": {"Values": answers}}}
    return {"EventCondition": {"MessageActivity": activity, "Dimensions": dimensions}}


SURVEY = {
    "ask": sms("welcome", "answer"),
    "answer": {
        "MultiCondition": {
            "EvaluationWaitTime": {"WaitFor": "P1D"},
            "Branches": [
                {"Condition": answer("ask", ["1", "はい"]), "NextActivity": "yes"},
                {"Condition": answer("ask", ["2", "いいえ"]), "NextActivity": "no"},
            ],
            "DefaultActivity": "silent",
        }
    },
    "yes": sms("thanks"),
    "no": sms("again"),
    "silent": sms("remind"),
}


def test_a_two_way_survey_branches_on_each_participants_reply_and_a_webhook_retry_changes_nothing():
    s = Setup(endpoints=3)  # A = e0 answers はい, B = e1 answers 2, C = e2 never answers
    create_template(s.templates, s.clock, ARN, "SMS", "remind", {"Body": "ご回答をお待ちしています"})
    journey = s.publish(SURVEY, "ask")
    wake = s.first_loop(journey["Id"])
    assert wake == START + timedelta(days=1)
    asked = {m.endpoint_id: m.message_id for m in s.sent()}
    assert sorted(asked) == ["e0", "e1", "e2"]

    s.clock.advance(timedelta(hours=3))
    a = s.webhook(0, "はい")
    assert s.reply(a).duplicate is False
    assert s.reply(a).duplicate is True  # Twilio's retry of the same webhook: the MessageSid was claimed
    b = s.webhook(1, "2")
    emit = s.events.emit

    def stream_down(_events):
        raise ConnectionError("the event stream is unavailable")

    s.events.emit = stream_down  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        s.reply(b)  # fails after the reply was kept: the sid is released and Twilio retries
    s.events.emit = emit  # type: ignore[method-assign]
    assert s.reply(b).duplicate is False  # the retry is handled in full ...
    replies = {e: s.engagement.engagement(s.app_id, e, asked[e]).replies for e in asked}
    assert [r.body for r in replies["e0"]] == ["はい"]
    assert [r.body for r in replies["e1"]] == ["2"]  # ... and keeps the reply once
    assert replies["e2"] == ()

    s.clock.advance(wake - s.clock.now())
    s.loops_until_done(journey["Id"])
    assert s.follow_ups(3) == {"e0": ["ありがとう"], "e1": ["もう一度"], "e2": ["ご回答をお待ちしています"]}
    paths = {e: s.participant(journey["Id"], e).path for e in asked}
    assert paths == {
        "e0": ("ask", "answer", "yes"),
        "e1": ("ask", "answer", "no"),
        "e2": ("ask", "answer", "silent"),
    }


def test_a_reply_answers_the_latest_journey_message_and_a_keyword_is_no_answer():
    s = Setup(endpoints=1)
    journey = s.publish(
        {
            "first": sms("welcome", "pause"),
            "pause": {"Wait": {"WaitTime": {"WaitFor": "PT1H"}, "NextActivity": "second"}},
            "second": sms("again", "answer"),
            "answer": {
                "ConditionalSplit": {
                    "EvaluationWaitTime": {"WaitFor": "PT6H"},
                    "Condition": {"Conditions": [answer("second", ["１"])]},
                    "TrueActivity": "yes",
                    "FalseActivity": "no",
                }
            },
            "yes": sms("thanks"),
            "no": sms("welcome"),
        },
        "first",
    )
    s.clock.advance(s.first_loop(journey["Id"]) - s.clock.now())
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())  # sends "second"
    first, second = (m.message_id for m in s.sent())
    assert s.reply(s.webhook(0, "HELP")).reply  # a keyword is answered, never taken for an answer
    s.reply(s.webhook(0, " 1 "))
    assert s.engagement.engagement(s.app_id, "e0", first).replies == ()
    assert [r.body for r in s.engagement.engagement(s.app_id, "e0", second).replies] == [" 1 "]
    s.loops_until_done(journey["Id"])
    assert s.follow_ups(2) == {"e0": ["ありがとう"]}  # " 1 " is the full-width "１" after NFKC and trimming


def test_a_click_on_a_journey_messages_tracked_link_satisfies_its_click_condition():
    s = Setup(endpoints=2)
    s.channels.put_policy(s.app_id, {"TrackLinks": True})
    create_template(s.templates, s.clock, ARN, "SMS", "offer", {"Body": "冬のセール https://shop.example.jp/sale"})
    journey = s.publish(
        {
            "offer": sms("offer", "clicked"),
            "clicked": {
                "ConditionalSplit": {
                    "EvaluationWaitTime": {"WaitFor": "P2D"},
                    "Condition": {
                        "Conditions": [
                            {
                                "EventCondition": {
                                    "MessageActivity": "offer",
                                    "Dimensions": {"EventType": {"Values": ["_SMS.CLICK"]}},
                                }
                            }
                        ]
                    },
                    "TrueActivity": "thanks",
                    "FalseActivity": "again",
                }
            },  # fmt: skip
            "thanks": sms("thanks"),
            "again": sms("again"),
        },
        "offer",
    )
    s.first_loop(journey["Id"])
    codes = {m.endpoint_id: m.body.split(LINK_PATH)[1] for m in s.sent()}
    s.clock.advance(timedelta(hours=5))
    assert follow_link(s.links, s.events, s.clock, codes["e0"], "Mozilla/5.0 (iPhone)", s.engagement)
    # A link preview (the chat app fetching the URL) is redirected but is nobody's click.
    assert follow_link(s.links, s.events, s.clock, codes["e1"], "WhatsApp/2.23.20 A", s.engagement)
    s.loops_until_done(journey["Id"])
    assert s.follow_ups(2) == {"e0": ["ありがとう"], "e1": ["もう一度"]}


def test_a_custom_event_condition_matches_the_participants_events_since_it_reached_the_split():
    s = Setup(endpoints=4)
    purchased = {
        "EventType": {"Values": ["purchase"]},
        "Attributes": {"category": {"Values": ["shoes"]}},
        "Metrics": {"price": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 5000}},
    }
    journey = s.publish(
        {
            "bought": {
                "ConditionalSplit": {
                    "EvaluationWaitTime": {"WaitFor": "P2D"},
                    "Condition": {"Conditions": [{"EventCondition": {"Dimensions": purchased}}]},
                    "TrueActivity": "thanks",
                    "FalseActivity": "again",
                }
            },
            "thanks": sms("thanks"),
            "again": sms("again"),
        },
        "bought",
    )
    assert s.journeys.event_journeys(s.app_id) == [{"Id": journey["Id"], "EventTypes": ["purchase"], "KeepDays": 3}]
    wake = s.first_loop(journey["Id"])  # everyone reaches the split at START and waits two days
    s.clock.advance(timedelta(hours=6))
    later, earlier = iso(s.clock.now()), iso(START - timedelta(hours=1))

    def event(kind: str, at: str, category: str, price: float) -> dict:
        return {"EventType": kind, "Timestamp": at, "Attributes": {"category": category}, "Metrics": {"price": price}}

    request = {
        "BatchItem": {
            "e0": {"Endpoint": {}, "Events": {"a": event("purchase", later, "shoes", 8000)}},  # matches
            "e1": {"Endpoint": {}, "Events": {"b": event("purchase", later, "bags", 8000)}},  # another category
            "e2": {"Endpoint": {}, "Events": {"c": event("purchase", earlier, "shoes", 8000)}},  # before the split
            "e3": {"Endpoint": {}, "Events": {"d": event("page_view", later, "shoes", 8000),  # another type
                                              "e": event("purchase", later, "shoes", 100)}},  # too cheap
        }
    }  # fmt: skip
    triggers = partial(journey_engagement.record_events, s.journeys, s.engagement, s.clock)
    for _ in range(2):  # an SDK's retry of the same request keeps the same events
        result = put_events(s.data, s.data, s.events, s.clock, s.app_id, request, triggers)
        assert {r["EventsItemResponse"][i]["StatusCode"] for r in result["Results"].values()
                for i in r["EventsItemResponse"]} == {202}  # fmt: skip
    kept = {e: list(events) for (_, e), events in s.engagement.events.items()}
    assert {e: len(v) for e, v in kept.items()} == {"e0": 1, "e1": 1, "e2": 1, "e3": 1}  # page_view was not kept
    s.clock.advance(wake - s.clock.now())
    s.loops_until_done(journey["Id"])
    assert s.follow_ups(0) == {"e0": ["ありがとう"], "e1": ["もう一度"], "e2": ["もう一度"], "e3": ["もう一度"]}
    assert s.journeys.get_journey(s.app_id, journey["Id"])["State"] == "COMPLETED"
    assert s.journeys.event_journeys(s.app_id) == []  # a completed journey's event types are kept no longer
