"""Journey execution metrics and runs over in-memory ports on a virtual clock: after a journey with a holdout, a wait
and a yes/no split runs, the metrics equal what the participants went through; a replayed or duplicated wake-up
does not change them; the run is listed with its status; unknown ids are 404 and a bad page size is 400."""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import timedelta

import pytest

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import iso
from kizuna.domain.messages import ProviderReceipt
from kizuna.errors import BadRequest, NotFound
from kizuna.ports_journeys import ParticipantsMoved
from kizuna.services import journey_metrics, journey_runs
from kizuna.services.journey_metrics import MetricsDeps
from tests.unit.test_journey_runs import START, Setup, sms

ACTIVITIES = {
    "hold": {"Holdout": {"Percentage": 20, "NextActivity": "hello"}},
    "hello": sms("welcome", "wait"),
    "wait": {"Wait": {"WaitTime": {"WaitFor": "P1D"}, "NextActivity": "split"}},
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
}


def metrics_deps(s: Setup) -> MetricsDeps:
    return MetricsDeps(s.data, s.journeys, s.participants, s.clock)


def participants(s: Setup, journey_id: str) -> list:
    return [p for shard in range(ENDPOINT_SHARDS) for p in s.participants.all_participants(s.app_id, journey_id, shard)]


def activity(s: Setup, journey_id: str, activity_id: str) -> dict[str, int]:
    found = journey_metrics.get_journey_execution_activity_metrics(
        metrics_deps(s), s.app_id, journey_id, activity_id, None, None
    )
    return {name: int(value) for name, value in found["Metrics"].items()}


def deliver(s: Setup, messages: list) -> None:
    for message in messages:
        s.messages.claim(message, s.clock.now(), 30)
        s.messages.record_sent(
            message.message_id, ProviderReceipt("SM" + message.message_id[:10], "sent"), s.clock.now()
        )
        s.messages.advance_status(message.message_id, "delivered", None, s.clock.now())


def run_split_journey(s: Setup) -> tuple[dict, str]:
    """Publish, enrol and send the first message; deliver half of them; run to the end."""
    journey = s.publish(ACTIVITIES, "hold")
    run_id = s.orchestrator.started[0][2]
    first = journey_runs.run_loop(s.deps, s.app_id, journey["Id"], run_id)
    s.clock.advance(journey_runs._instant(first["next_wake"]) - s.clock.now())
    sent = s.sent()
    deliver(s, sent[: len(sent) // 2])
    s.loops_until_done(journey["Id"])
    return journey, run_id


def test_the_metrics_equal_what_the_participants_went_through():
    s = Setup(endpoints=24)
    journey, run_id = run_split_journey(s)
    everyone = participants(s, journey["Id"])
    held_out = [p for p in everyone if p.status == "HELD_OUT"]
    reached_split = [p for p in everyone if "split" in p.path]
    said_yes = [p for p in reached_split if "thanks" in p.path]
    assert held_out and said_yes and len(said_yes) < len(reached_split)  # both paths and the holdout were taken

    found = journey_metrics.get_journey_execution_metrics(metrics_deps(s), s.app_id, journey["Id"], None, None)
    assert found["ApplicationId"] == s.app_id and found["JourneyId"] == journey["Id"]
    assert found["Metrics"] == {
        "ENDPOINT_ENTERED": "24",
        "ENDPOINT_ACTIVE": "0",
        "ENDPOINT_LEFT": "24",
        "CANCELLED": "0",
        "ENDED": "0",
        "ENDPOINT_PRODUCED": "24",  # the segment's members, every one sendable
    }
    assert found["LastEvaluatedTime"] == iso(START + timedelta(days=1))  # the last move: the end of the wait

    assert activity(s, journey["Id"], "hold") == {
        "ENTERED": 24, "HOLDOUT": len(held_out), "COMPLETED": 24 - len(held_out)
    }  # fmt: skip
    assert activity(s, journey["Id"], "hello") == {
        "ENTERED": 24 - len(held_out), "SUCCESS": 24 - len(held_out), "OPT_OUT": 0, "PERMANENT_FAILURE": 0,
        "TEMPORARY_FAILURE": 0,
    }  # fmt: skip
    assert activity(s, journey["Id"], "wait") == {"ENTERED": len(reached_split), "COMPLETED": len(reached_split)}
    split = activity(s, journey["Id"], "split")
    assert split == {
        "ENTERED": len(reached_split),
        "TOTAL": len(reached_split),
        "Branch_1": len(said_yes),
        "Branch_2": len(reached_split) - len(said_yes),
    }
    assert split["Branch_1"] + split["Branch_2"] == split["ENTERED"]  # every participant at the split took one path
    assert activity(s, journey["Id"], "thanks")["SUCCESS"] == len(said_yes)
    # The run's metrics are the journey's (one run per publication), with the run id.
    by_run = journey_metrics.get_journey_run_execution_metrics(
        metrics_deps(s), s.app_id, journey["Id"], run_id, "10", None
    )
    assert by_run["Metrics"] == found["Metrics"] and by_run["RunId"] == run_id
    run_split = journey_metrics.get_journey_run_execution_activity_metrics(
        metrics_deps(s), s.app_id, journey["Id"], run_id, "split", None, None
    )
    assert run_split["ActivityType"] == "CONDITIONAL_SPLIT" and run_split["RunId"] == run_id
    assert {k: int(v) for k, v in run_split["Metrics"].items()} == split


def test_participants_still_waiting_are_active_until_the_journey_is_cancelled():
    s = Setup(endpoints=5)
    journey = s.publish(
        {"w": {"Wait": {"WaitTime": {"WaitFor": "P3D"}, "NextActivity": "hello"}}, "hello": sms("welcome")}, "w"
    )
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.orchestrator.started[0][2])
    metrics = journey_metrics.get_journey_execution_metrics(metrics_deps(s), s.app_id, journey["Id"], None, None)
    assert metrics["Metrics"]["ENDPOINT_ENTERED"] == metrics["Metrics"]["ENDPOINT_ACTIVE"] == "5"
    assert activity(s, journey["Id"], "w") == {"ENTERED": 5, "COMPLETED": 0}
    [run] = journey_metrics.get_journey_runs(metrics_deps(s), s.app_id, journey["Id"], None, None)["Item"]
    assert run["Status"] == "RUNNING"
    stored = s.journeys.get_journey(s.app_id, journey["Id"])
    s.journeys.put_journey(
        s.app_id, {**stored, "State": "CANCELLED", "Version": stored["Version"] + 1}, stored["Version"]
    )
    metrics = journey_metrics.get_journey_execution_metrics(metrics_deps(s), s.app_id, journey["Id"], None, None)
    assert (metrics["Metrics"]["ENDPOINT_ACTIVE"], metrics["Metrics"]["CANCELLED"]) == ("0", "5")
    [run] = journey_metrics.get_journey_runs(metrics_deps(s), s.app_id, journey["Id"], None, None)["Item"]
    assert run["Status"] == "CANCELLED"


def test_a_wake_up_replayed_after_a_crash_counts_once():
    s = Setup(endpoints=8)
    journey = s.publish(ACTIVITIES, "hold")
    run_id = s.orchestrator.started[0][2]
    original = s.participants.record_entry
    calls = Counter[str]()

    def crash_once(app_id, journey_id, run, shard, moves, entry, at):
        calls[str(shard)] += 1
        if calls[str(shard)] == 1 and moves:  # the sends went out; the state (and its counts) never got written
            raise RuntimeError("the function timed out")
        original(app_id, journey_id, run, shard, moves, entry, at)

    s.participants.record_entry = crash_once  # type: ignore[method-assign]
    for shard in range(ENDPOINT_SHARDS):
        with contextlib.suppress(RuntimeError):
            journey_runs.wake_shard(s.deps, s.app_id, journey["Id"], run_id, shard)
    assert sum(calls.values()) > 0 and all(n == 1 for n in calls.values())  # every shard crashed (or was empty)
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], run_id)  # the replay
    s.participants.record_entry = original  # type: ignore[method-assign]
    assert activity(s, journey["Id"], "hold")["ENTERED"] == 8
    hello = activity(s, journey["Id"], "hello")
    assert hello["ENTERED"] == hello["SUCCESS"] == len([p for p in participants(s, journey["Id"]) if "hello" in p.path])
    assert len({m.message_id for m in s.sent()}) == hello["SUCCESS"]  # and each message has one id
    s.loops_until_done(journey["Id"])
    found = journey_metrics.get_journey_execution_metrics(metrics_deps(s), s.app_id, journey["Id"], None, None)
    assert found["Metrics"]["ENDPOINT_ENTERED"] == found["Metrics"]["ENDPOINT_LEFT"] == "8"


def test_a_second_mover_of_the_same_participants_is_refused_and_counts_nothing():
    s = Setup(endpoints=8)
    journey = s.publish(ACTIVITIES, "hold")
    run_id = s.orchestrator.started[0][2]
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], run_id)
    s.clock.advance(timedelta(days=1))
    shard = next(n for n in range(ENDPOINT_SHARDS) if s.participants.due(s.app_id, journey["Id"], n, s.clock.now(), 9))
    # A resumed run's other loop read the same due participants before this one moved them.
    stale = s.participants.due(s.app_id, journey["Id"], shard, s.clock.now(), 500)
    journey_runs.wake_shard(s.deps, s.app_id, journey["Id"], run_id, shard)
    before = activity(s, journey["Id"], "split")
    s.participants.due = lambda *_args: stale  # type: ignore[method-assign]
    with pytest.raises(ParticipantsMoved):
        journey_runs.wake_shard(s.deps, s.app_id, journey["Id"], run_id, shard)
    after = activity(s, journey["Id"], "split")
    assert after == before and after["TOTAL"] == len(stale)


def test_runs_list_the_published_run_with_its_status():
    s = Setup(endpoints=2)
    draft = journey_metrics.get_journey_runs(
        metrics_deps(s), s.app_id, s.publish(ACTIVITIES, "hold", State="DRAFT")["Id"], None, None
    )
    assert draft == {"Item": []}  # a draft has never run
    later = s.publish(
        ACTIVITIES,
        "hold",
        Schedule={"StartTime": iso(START + timedelta(days=2)), "EndTime": iso(START + timedelta(days=9))},
    )
    [scheduled] = journey_metrics.get_journey_runs(metrics_deps(s), s.app_id, later["Id"], None, None)["Item"]
    assert scheduled["Status"] == "SCHEDULED"
    s2 = Setup(endpoints=4)
    journey, run_id = run_split_journey(s2)
    runs = journey_metrics.get_journey_runs(metrics_deps(s2), s2.app_id, journey["Id"], "5", None)
    assert runs == {
        "Item": [
            {
                "CreationTime": iso(START),
                "LastUpdateTime": iso(START + timedelta(days=1)),
                "RunId": run_id,
                "Status": "COMPLETED",
            }
        ]
    }
    assert journey_metrics.get_journey_runs(metrics_deps(s2), s2.app_id, journey["Id"], None, run_id) == {"Item": []}


def test_unknown_ids_are_not_found_and_a_bad_page_size_names_the_field():
    s = Setup(endpoints=1)
    journey = s.publish(ACTIVITIES, "hold")
    run_id = s.orchestrator.started[0][2]
    deps = metrics_deps(s)
    with pytest.raises(NotFound, match="Application"):
        journey_metrics.get_journey_execution_metrics(deps, "nope", journey["Id"], None, None)
    with pytest.raises(NotFound, match="Journey nope"):
        journey_metrics.get_journey_runs(deps, s.app_id, "nope", None, None)
    with pytest.raises(NotFound, match="run r1"):
        journey_metrics.get_journey_run_execution_metrics(deps, s.app_id, journey["Id"], "r1", None, None)
    with pytest.raises(NotFound, match="activity nope"):
        journey_metrics.get_journey_execution_activity_metrics(deps, s.app_id, journey["Id"], "nope", None, None)
    with pytest.raises(NotFound, match="activity nope"):
        journey_metrics.get_journey_run_execution_activity_metrics(
            deps, s.app_id, journey["Id"], run_id, "nope", None, None
        )
    for bad in ("ten", "0", "101"):
        with pytest.raises(BadRequest, match="page-size"):
            journey_metrics.get_journey_execution_metrics(deps, s.app_id, journey["Id"], bad, None)
