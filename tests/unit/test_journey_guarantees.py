"""What must hold of every journey run, on a virtual clock over in-memory ports, with the state machine's loop
(kizuna.simulator.driver) calling the production engine: a 540-day journey chains executions that each stay
inside Standard's year and every participant ends exactly once; a pause neither skips nor repeats a step; quiet time
defers a send to the recipient's next open hour."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import iso
from kizuna.services import journey_runs, journeys
from kizuna.services.endpoints import update_endpoint
from kizuna.services.journeys import JourneyCatalog
from kizuna.simulator.driver import run_state_machine
from kizuna.simulator.stores import Change, Journal, JournalingParticipantStore
from tests.unit.journey_harness import START, Setup, sms

TERMINAL = ("FINISHED", "HELD_OUT")
STEPS = {  # hello → 2 days → mid → 5 days → bye
    "hello": sms("welcome", "w1"),
    "w1": {"Wait": {"WaitTime": {"WaitFor": "P2D"}, "NextActivity": "mid"}},
    "mid": sms("thanks", "w2"),
    "w2": {"Wait": {"WaitTime": {"WaitFor": "P5D"}, "NextActivity": "bye"}},
    "bye": sms("again"),
}


def journaled(endpoints: int, start: datetime = START) -> tuple[Setup, Journal]:
    journal = Journal()
    s = Setup(endpoints=endpoints, start=start)
    store = JournalingParticipantStore(s.clock, journal)
    s.participants = s.deps.participants = store
    return s, journal


def run_id(s: Setup) -> str:
    return s.orchestrator.started[-1][2]


def changes(journal: Journal) -> list[Change]:
    return [e for e in journal.entries if isinstance(e, Change)]


def steps(journal: Journal) -> dict[str, list[tuple[str, datetime]]]:
    """Each participant's activities passed, with when it passed each."""
    found: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for change in changes(journal):
        done = len(change.before.path) if change.before else 0
        found[change.after.endpoint_id] += [(a, change.at) for a in change.after.path[done:]]
    return dict(found)


def sends(s: Setup) -> Counter[tuple[str, str]]:
    return Counter((m.endpoint_id, m.attribution["journey_activity_id"]) for m in s.sent())


def test_a_540_day_journey_chains_executions_within_a_year_each_and_every_participant_ends_once():
    s, journal = journaled(endpoints=20)
    journey = s.publish(
        {
            "hold": {"Holdout": {"Percentage": 20, "NextActivity": "hello"}},
            "hello": sms("welcome", "w1"),
            "w1": {"Wait": {"WaitTime": {"WaitFor": "P200D"}, "NextActivity": "mid"}},
            "mid": sms("thanks", "pick"),
            "pick": {"RandomSplit": {"Branches": [{"Percentage": 50, "NextActivity": "long"},
                                                  {"Percentage": 50, "NextActivity": "short"}]}},
            "long": {"Wait": {"WaitTime": {"WaitFor": "P339D"}, "NextActivity": "bye"}},
            "short": {"Wait": {"WaitTime": {"WaitFor": "P30D"}, "NextActivity": "bye"}},
            "bye": sms("again"),
        },
        "hold",
    )  # fmt: skip
    execution = run_state_machine(s.deps, s.clock, s.app_id, journey["Id"], run_id(s), START + timedelta(days=541))

    assert execution.done and s.journeys.get_journey(s.app_id, journey["Id"])["State"] == "COMPLETED"
    assert execution.executions >= 2
    assert all(end - begin <= timedelta(days=365) for begin, end in execution.spans)  # Standard's limit
    assert s.clock.now() == START + timedelta(days=539)
    ended: Counter[str] = Counter()
    for change in changes(journal):
        assert change.before is None or change.before.status not in TERMINAL, "a participant moved after it ended"
        if change.after.status in TERMINAL:
            ended[change.after.endpoint_id] += 1
    assert ended == Counter({f"e{i}": 1 for i in range(20)})
    final = [
        p for shard in range(ENDPOINT_SHARDS) for p in s.participants.all_participants(s.app_id, journey["Id"], shard)
    ]
    assert len(final) == 20 and all(p.status in TERMINAL and p.activity is None for p in final)
    assert max(sends(s).values()) == 1  # at most one send per participant and activity
    held_out = {p.endpoint_id for p in final if p.status == "HELD_OUT"}
    assert 0 < len(held_out) < 20
    for p in final:
        expected = set() if p.endpoint_id in held_out else {"hello", "mid", "bye"}
        assert {a for (e, a) in sends(s) if e == p.endpoint_id} == expected
    lanes = {m.endpoint_id: datetime.fromisoformat(m.accepted_at) - START for m in s.sent() if "もう一度" in m.body}
    assert set(lanes.values()) == {timedelta(days=230), timedelta(days=539)}  # both random-split lanes were taken


def test_a_three_day_pause_moves_nobody_and_then_every_step_happens_once_shifted_by_at_most_the_pause():
    unpaused, journal_a = journaled(endpoints=5)
    journey_a = unpaused.publish(STEPS, "hello")
    run_state_machine(unpaused.deps, unpaused.clock, unpaused.app_id, journey_a["Id"], run_id(unpaused),
                      START + timedelta(days=30))  # fmt: skip

    s, journal = journaled(endpoints=5)
    journey = s.publish(STEPS, "hello")
    catalog = JourneyCatalog(s.templates, s.segments, s.app_id)
    first = run_state_machine(s.deps, s.clock, s.app_id, journey["Id"], run_id(s), START + timedelta(days=1))
    assert not first.done and s.clock.now() == START + timedelta(days=1)  # everyone waits at w1 until day 2
    journeys.update_journey_state(s.data, s.journeys, catalog, s.clock, s.app_id, journey["Id"], {"State": "PAUSED"})
    # Day 2: the waiting execution wakes during the pause, moves nobody and ends.
    s.clock.advance(timedelta(days=1))
    before = len(journal.entries)
    assert run_state_machine(s.deps, s.clock, s.app_id, journey["Id"], run_id(s), START + timedelta(days=30)).done
    assert len(journal.entries) == before and len(s.sent()) == 5
    s.clock.advance(timedelta(days=2))  # day 4: three days after the pause
    journeys.update_journey_state(s.data, s.journeys, catalog, s.clock, s.app_id, journey["Id"], {"State": "ACTIVE"},
                                  lambda j: journey_runs.start(s.deps, j))  # fmt: skip
    resumed = run_state_machine(s.deps, s.clock, s.app_id, journey["Id"], run_id(s), START + timedelta(days=30))
    assert resumed.done and s.journeys.get_journey(s.app_id, journey["Id"])["State"] == "COMPLETED"

    paused_steps, unpaused_steps = steps(journal), steps(journal_a)
    assert set(paused_steps) == set(unpaused_steps) == {f"e{i}" for i in range(5)}
    for endpoint_id, path in paused_steps.items():
        reference = unpaused_steps[endpoint_id]
        assert [a for a, _ in path] == [a for a, _ in reference] == list(STEPS)  # nothing skipped or repeated
        for (_, at), (_, then) in zip(path, reference, strict=True):
            assert timedelta() <= at - then <= timedelta(days=3)
            assert not START + timedelta(days=1) < at < START + timedelta(days=4)  # nothing moved while paused
    assert sends(s) == sends(unpaused) and set(sends(s).values()) == {1}
    bye = {datetime.fromisoformat(m.accepted_at) for m in s.sent() if m.attribution["journey_activity_id"] == "bye"}
    assert bye == {START + timedelta(days=9)}  # mid went out at the resume (day 4), bye five days later


def test_an_execution_that_waited_through_a_short_pause_ends_instead_of_looping_beside_the_resumed_one():
    s, journal = journaled(endpoints=3)
    journey = s.publish(STEPS, "hello")
    catalog = JourneyCatalog(s.templates, s.segments, s.app_id)
    old = run_state_machine(s.deps, s.clock, s.app_id, journey["Id"], run_id(s), START + timedelta(hours=12))
    journeys.update_journey_state(s.data, s.journeys, catalog, s.clock, s.app_id, journey["Id"], {"State": "PAUSED"})
    s.clock.advance(timedelta(hours=12))
    journeys.update_journey_state(s.data, s.journeys, catalog, s.clock, s.app_id, journey["Id"], {"State": "ACTIVE"},
                                  lambda j: journey_runs.start(s.deps, j))  # fmt: skip
    day_2 = START + timedelta(days=2)
    resumed = run_state_machine(s.deps, s.clock, s.app_id, journey["Id"], run_id(s), day_2 - timedelta(seconds=1))
    assert not resumed.done
    # Day 2: both executions wake (the old one's Wait was set before the pause). The old one moves the due
    # participants, as the resumed one would have, and its plan ends it instead of looping on beside the other.
    s.clock.advance(day_2 - s.clock.now())
    wakes = [journey_runs.wake_shard(s.deps, s.app_id, journey["Id"], run_id(s), n) for n in range(ENDPOINT_SHARDS)]
    assert journey_runs.plan(s.deps, s.app_id, journey["Id"], run_id(s), wakes, 1, iso(old.started_at)) == {
        "done": True
    }
    assert len(s.sent()) == 6
    rest = run_state_machine(s.deps, s.clock, s.app_id, journey["Id"], run_id(s), START + timedelta(days=30))
    assert rest.done
    assert set(sends(s).values()) == {1} and len(sends(s)) == 9
    assert all([a for a, _ in path] == list(STEPS) for path in steps(journal).values())


def test_quiet_time_defers_a_journey_send_due_at_23_tokyo_to_08_whatever_its_message_type():
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
    s, _ = journaled(endpoints=0, start=start)
    for endpoint_id, address, zone in (
        ("tokyo", "+819011112222", "Asia/Tokyo"),
        ("tokyo-by-number", "+819033334444", None),  # no Demographic.Timezone: the number's (Asia/Tokyo)
        ("london", "+819055556666", "Europe/London"),
    ):
        request = {"ChannelType": "SMS", "Address": address, **({"Demographic": {"Timezone": zone}} if zone else {})}
        update_endpoint(s.data, s.data, s.clock, s.app_id, endpoint_id, request)
    journey = s.publish(
        {"w": {"Wait": {"WaitTime": {"WaitFor": "PT14H"}, "NextActivity": "hello"}}, "hello": sms("welcome")},
        "w",
        QuietTime={"Start": "22:00", "End": "08:00"},
    )
    run_state_machine(s.deps, s.clock, s.app_id, journey["Id"], run_id(s), start + timedelta(days=2))

    queued = {m.endpoint_id: m for m in s.sent()}
    assert set(queued) == {"tokyo", "tokyo-by-number", "london"}
    for message in queued.values():
        assert message.message_type == "TRANSACTIONAL"  # the activity sets no MessageType
        assert datetime.fromisoformat(message.accepted_at) == start + timedelta(hours=14)  # 23:00 in Tokyo
    assert queued["tokyo"].not_before == queued["tokyo-by-number"].not_before == "2026-12-01T23:00:00.000Z"  # 08:00
    assert queued["london"].not_before is None  # 14:00 in London is an open hour
