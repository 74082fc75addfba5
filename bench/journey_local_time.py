"""A journey in each participant's local time (`LocalTime: true`): its wake-ups and state transitions as the number
of participants and the number of their time zones grow. The journey `SMS hello → Wait P1D → SMS bye`, scheduled
from 09:00 on 5 December on each participant's wall clock, runs through the state machine's own definition in the
local interpreter (kizuna.local.step_functions) with the production engine over in-memory stores, on a virtual
clock. Target: the wake-ups (and so the transitions) follow the zones, never the participants.

Checked every run: each participant got `hello` at 09:00 in its own zone and `bye` 24 hours later, and the journey
COMPLETED.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from report import PYTHON, Section, table

from kizuna.adapters.memory import InMemoryDataStore, InMemoryMessageStore
from kizuna.adapters.memory_engagement import InMemoryEngagementStore
from kizuna.adapters.memory_journeys import InMemoryJourneyStore
from kizuna.adapters.memory_participants import InMemoryParticipantStore
from kizuna.adapters.memory_segments import InMemorySegmentStore
from kizuna.adapters.memory_sending import InMemoryChannelStore
from kizuna.adapters.memory_templates import InMemoryTemplateStore
from kizuna.clock import VirtualClock
from kizuna.local.journey_orchestrator import LocalJourneyOrchestrator, fast_forward
from kizuna.local.runtime_scheduler import LocalScheduler
from kizuna.services import journey_runs, journeys
from kizuna.services.apps import create_app
from kizuna.services.endpoints import update_endpoints_batch
from kizuna.services.segments import create_segment
from kizuna.services.send_messages import SendDeps
from kizuna.services.templates import create_template
from kizuna.simulator.stores import Journal, SimulatedSender

NAME = "journey_local_time"
PUBLISHED = datetime(2026, 12, 1, tzinfo=UTC)
WALL_START = datetime(2026, 12, 5, 9, 0)  # naive: 09:00 on each participant's clock
ARN = "arn:aws:mobiletargeting:ap-northeast-1:123456789012"
FLOW = "SMS hello → Wait P1D → SMS bye"
ACTIVITIES = {
    "hello": {"SMS": {"TemplateName": "hello", "NextActivity": "wait"}},
    "wait": {"Wait": {"WaitTime": {"WaitFor": "P1D"}, "NextActivity": "bye"}},
    "bye": {"SMS": {"TemplateName": "bye"}},
}
# 24 zones with 24 different UTC offsets in December, from UTC+14 to UTC-11.
ZONES = (
    "Pacific/Kiritimati", "Pacific/Auckland", "Australia/Sydney", "Asia/Tokyo", "Asia/Shanghai", "Asia/Bangkok",
    "Asia/Kathmandu", "Asia/Kolkata", "Asia/Dubai", "Europe/Moscow", "Africa/Cairo", "Europe/Paris", "Europe/London",
    "Atlantic/Azores", "America/Noronha", "America/Sao_Paulo", "America/Halifax", "America/New_York",
    "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu",
    "Pacific/Pago_Pago",
)  # fmt: skip
ZONE_SETS = {3: ("Asia/Tokyo", "Europe/London", "America/New_York"), 24: ZONES}
CASES = ((1_000, 3), (10_000, 3), (1_000, 24), (10_000, 24))
TRANSITION_USD = 0.000025  # Step Functions Standard, per state transition


def run_case(participants: int, zones: int) -> dict[str, Any]:
    clock = VirtualClock(PUBLISHED)
    data, segments, templates = InMemoryDataStore(), InMemorySegmentStore(), InMemoryTemplateStore()
    stored, messages, engagement = InMemoryJourneyStore(), InMemoryMessageStore(), InMemoryEngagementStore()
    app_id = create_app(data, clock, ARN, {"Name": "bench"}).id
    sender = SimulatedSender(clock, messages, Journal(), engagement, app_id)
    zone_of = {f"ep-{i:07d}": ZONE_SETS[zones][i % zones] for i in range(participants)}
    ids = sorted(zone_of)
    for begin in range(0, participants, 100):
        items = [
            {"Id": e, "ChannelType": "SMS", "Address": f"+8190{i:08d}", "Demographic": {"Timezone": zone_of[e]}}
            for i, e in enumerate(ids[begin : begin + 100], start=begin)
        ]
        update_endpoints_batch(data, data, clock, app_id, {"Item": items})
    segment_id = create_segment(data, segments, clock, ARN, app_id, {"Name": "SMS"})["Id"]
    for name in ACTIVITIES:
        if "SMS" in ACTIVITIES[name]:
            create_template(templates, clock, ARN, "SMS", name, {"Body": f"({name})"})
    send = SendDeps(data, data, sender, clock, templates, InMemoryChannelStore())
    deps = journey_runs.JourneyDeps(
        data, data, segments, stored, InMemoryParticipantStore(), send, clock, None, messages, engagement
    )
    plans = []

    def journeys_function(event: dict, context: Any) -> dict:  # functions/journeys/handler.py over these deps
        app, journey, run = event["app_id"], event["journey_id"], event["run_id"]
        if event["action"] == "wake":
            return {"next_wake": journey_runs.wake_shard(deps, app, journey, run, int(event["shard"]))}
        plans.append(clock.now())
        return journey_runs.plan(deps, app, journey, run, event["wakes"], event["loops"], event["started_at"])

    scheduler = LocalScheduler(clock, schedules=[])
    orchestrator = LocalJourneyOrchestrator(scheduler, journeys_function, clock)
    deps.orchestrator = orchestrator
    request = {
        "Name": "bench", "StartActivity": "hello", "Activities": ACTIVITIES, "State": "ACTIVE", "LocalTime": True,
        "StartCondition": {"SegmentStartCondition": {"SegmentId": segment_id}},
        "Schedule": {"StartTime": WALL_START.isoformat(), "EndTime": (WALL_START + timedelta(days=15)).isoformat()},
    }  # fmt: skip
    cpu = time.process_time()
    journey = journeys.create_journey(
        data, stored, journeys.JourneyCatalog(templates, segments, app_id), clock, ARN, app_id, request,
        lambda j: journey_runs.start(deps, j),
    )  # fmt: skip
    fast_forward(scheduler, clock, PUBLISHED + timedelta(days=30), sender.run_until)
    cpu = time.process_time() - cpu
    _check(participants, zone_of, sender, stored.get_journey(app_id, journey["Id"]))
    return {
        "participants": participants,
        "zones": zones,
        "wake_ups": len(plans),
        "executions": len(orchestrator.executions),
        "transitions": orchestrator.transitions,
        "cpu_s": cpu,
        "messages": len(sender.queued),
    }


def _check(participants: int, zone_of: dict[str, str], sender: SimulatedSender, journey: dict | None) -> None:
    assert journey is not None and journey["State"] == "COMPLETED", journey and journey["State"]
    sent: dict[tuple[str, str], datetime] = {}
    for message in sender.queued.values():
        activity = message.attribution["journey_activity_id"]
        sent[(message.endpoint_id or "", activity)] = datetime.fromisoformat(message.accepted_at)
    assert len(sent) == 2 * participants, len(sent)
    for endpoint_id, zone in zone_of.items():
        local = WALL_START.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
        assert sent[(endpoint_id, "hello")] == local, (endpoint_id, zone, sent[(endpoint_id, "hello")])
        assert sent[(endpoint_id, "bye")] == local + timedelta(days=1), (endpoint_id, zone)


def run() -> Section:
    results = [run_case(n, z) for n, z in CASES]
    rows = [
        [f"{r['participants']:,}", str(r["zones"]), str(r["wake_ups"]), str(r["executions"]),
         f"**{r['transitions']:,}**", f"{r['messages']:,}", f"{r['cpu_s']:.1f}",
         f"${r['transitions'] * TRANSITION_USD:.4f}"]
        for r in results
    ]  # fmt: skip
    by = {(r["participants"], r["zones"]): r for r in results}
    same = all(by[(1_000, z)]["transitions"] == by[(10_000, z)]["transitions"] for z in (3, 24))
    body = [
        f"The journey `{FLOW}` with `LocalTime: true` and `Schedule.StartTime` 09:00 on 5 December (a wall clock),"
        " published on 1 December, over N SMS endpoints spread evenly over Z time zones of different UTC offsets"
        " (`Demographic.Timezone`), run by the state machine's own definition through the local interpreter on a"
        " virtual clock. Checked every run: each participant got `hello` at 09:00 on its own clock and `bye` 24 hours"
        " later, and the journey COMPLETED.",
        "",
        *table(
            [
                "participants",
                "zones",
                "wake-ups",
                "executions",
                "state transitions",
                "messages",
                "run CPU (s)",
                "transitions cost",
            ],
            rows,
        ),  # fmt: skip
        "",
        "Wake-ups: the publication's, the enrolment (09:00 at UTC+14), then one per zone for `hello` and one per zone"
        " for `bye` (its wait ends a day after each zone's start): at most 2 + 2 × Z. Wake-ups falling at the same"
        " instant are one: with the 24 zones, UTC+14 starts at the enrolment, and UTC+14's and UTC+13's `bye` fall"
        " when UTC-10 and UTC-11 start (47). Transitions follow the wake-ups (≈ 21 each); the participants change"
        " only the CPU. Zones: Tokyo, London, New York; and 24 from UTC+14 to UTC-11. Cost at $0.025 per 1,000 state"
        " transitions.",
    ]
    verdict = (
        "the wake-ups and transitions are the same for 1,000 and 10,000 participants at 3 and at 24 zones: they grow"
        " with the zones, not the participants"
        if same
        else "the transitions differ with the number of participants: they should not"
    )
    return Section(
        NAME,
        "Journey in local time: wake-ups by zones and participants (local interpreter)",
        f"{PYTHON} bench/run.py --only {NAME}",
        body,
        verdict,
    )
