"""The journey engine over in-memory ports on a virtual clock: segment entry, waits across days, a split on the
first message's delivery, a crash between the sends and the state write, a 540-day journey continuing as new
executions, and a loop count that follows wake-ups, not participants."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kizuna.catalog import ENDPOINT_SHARDS, JOURNEY_LOOPS_PER_EXECUTION
from kizuna.clock import iso
from kizuna.domain.messages import ProviderReceipt
from kizuna.services import journey_runs, journeys
from kizuna.services.journeys import JourneyCatalog
from tests.unit.journey_harness import START, Setup, sms


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
    original = s.participants.put_many

    def crash(*_args, **_kwargs):
        raise RuntimeError("the function timed out")

    s.participants.put_many = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        journey_runs.run_loop(s.deps, s.app_id, journey["Id"], run_id)
    before = [m.message_id for m in s.sent()]
    s.participants.put_many = original  # type: ignore[method-assign]
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
