"""One run of the journey_transitions benchmark: its journey over N SMS endpoints, run by the production engine over
in-memory stores whose ports are metered (journey_transitions_meter), invoked by the journey state machine's own
definition through the local interpreter on a virtual clock; then checked (every participant got the first SMS and
the follow-up its delivery chose, the journey COMPLETED, every execution SUCCEEDED). `profile` is the same run under
cProfile."""

from __future__ import annotations

import cProfile
import gc
import pstats
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from journey_transitions_meter import Meter, Metered

from kizuna.adapters.dynamo_data import endpoint_item
from kizuna.adapters.dynamo_participants import _item
from kizuna.adapters.memory import InMemoryDataStore, InMemoryMessageStore
from kizuna.adapters.memory_engagement import InMemoryEngagementStore
from kizuna.adapters.memory_journeys import InMemoryJourneyStore
from kizuna.adapters.memory_participants import InMemoryParticipantStore
from kizuna.adapters.memory_segments import InMemorySegmentStore
from kizuna.adapters.memory_sending import InMemoryChannelStore, InMemoryConsentStore
from kizuna.adapters.memory_templates import InMemoryTemplateStore
from kizuna.clock import VirtualClock
from kizuna.domain.journey_steps import Participant
from kizuna.local.journey_orchestrator import LocalJourneyOrchestrator, fast_forward
from kizuna.local.runtime_scheduler import LocalScheduler
from kizuna.services import journey_runs, journeys
from kizuna.services.apps import create_app
from kizuna.services.endpoints import update_endpoints_batch
from kizuna.services.segments import create_segment
from kizuna.services.send_messages import SendDeps
from kizuna.services.templates import create_template
from kizuna.simulator.stores import Journal, SimulatedSender

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
ARN = "arn:aws:mobiletargeting:ap-northeast-1:123456789012"
DELIVER_PERCENT = 90
FLOW = "SMS hello → Wait P1D → ConditionalSplit on hello's _SMS.SUCCESS → SMS thanks / SMS again"
TEMPLATES = {"hello": "【Kizuna】ご登録ありがとうございます", "thanks": "届きましたね", "again": "もう一度お送りします"}
ACTIVITIES = {
    "hello": {"SMS": {"TemplateName": "hello", "NextActivity": "wait"}},
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
    "thanks": {"SMS": {"TemplateName": "thanks"}},
    "again": {"SMS": {"TemplateName": "again"}},
}


def run_size(participants: int, profiler: cProfile.Profile | None = None) -> dict[str, Any]:
    clock = VirtualClock(START)
    data, segments, templates = InMemoryDataStore(), InMemorySegmentStore(), InMemoryTemplateStore()
    stored, messages, channels = InMemoryJourneyStore(), InMemoryMessageStore(), InMemoryChannelStore()
    engagement, store = InMemoryEngagementStore(), InMemoryParticipantStore()
    app_id = create_app(data, clock, ARN, {"Name": "bench"}).id
    sender = SimulatedSender(clock, messages, Journal(), engagement, app_id, deliver_percent=DELIVER_PERCENT)
    for begin in range(0, participants, 100):
        items = [
            {
                "Id": f"ep-{i:07d}",
                "ChannelType": "SMS",
                "Address": f"+8190{i:08d}",
                "Demographic": {"Timezone": "Asia/Tokyo"},
            }
            for i in range(begin, min(participants, begin + 100))
        ]
        update_endpoints_batch(data, data, clock, app_id, {"Item": items})
    segment_id = create_segment(data, segments, clock, ARN, app_id, {"Name": "SMS"})["Id"]
    for name, body in TEMPLATES.items():
        create_template(templates, clock, ARN, "SMS", name, {"Body": body})
    meter, on = Meter(_sizes(app_id, data)), [False]

    def metered(inner: Any, port: str) -> Any:
        return Metered(inner, port, meter, on)

    send = SendDeps(
        metered(data, "data"),
        metered(data, "data"),
        metered(sender, "queue"),
        clock,
        metered(templates, "templates"),
        metered(channels, "channels"),
        metered(InMemoryConsentStore(), "consent"),
    )
    deps = journey_runs.JourneyDeps(
        metered(data, "data"),
        metered(data, "data"),
        metered(segments, "segments"),
        metered(stored, "journeys"),
        metered(store, "participants"),
        send,
        clock,
        None,
        metered(messages, "messages"),
        metered(engagement, "engagement"),
    )
    invocations: list[dict[str, Any]] = []

    def journeys_function(event: dict, context: Any) -> dict:  # functions/journeys/handler.py over these deps
        cpu, io = time.process_time(), meter.io_s
        meter.phase = clock.now()
        app, journey, run = event["app_id"], event["journey_id"], event["run_id"]
        if event["action"] == "wake":
            answer = {"next_wake": journey_runs.wake_shard(deps, app, journey, run, int(event["shard"]))}
        else:
            answer = journey_runs.plan(deps, app, journey, run, event["wakes"], event["loops"], event["started_at"])
        invocations.append(
            {"action": event["action"], "at": clock.now(), "cpu_s": time.process_time() - cpu, "io_s": meter.io_s - io}
        )
        return answer

    scheduler = LocalScheduler(clock, schedules=[])
    orchestrator = LocalJourneyOrchestrator(scheduler, journeys_function, clock)
    deps.orchestrator = orchestrator
    request = {
        "Name": "bench",
        "StartActivity": "hello",
        "Activities": ACTIVITIES,
        "State": "ACTIVE",
        "StartCondition": {"SegmentStartCondition": {"SegmentId": segment_id}},
    }
    catalog = journeys.JourneyCatalog(templates, segments, app_id)
    gc.collect()
    on[0] = True
    if profiler is not None:
        profiler.enable()
    wall, cpu = time.perf_counter(), time.process_time()
    journey = journeys.create_journey(
        data, stored, catalog, clock, ARN, app_id, request, lambda j: journey_runs.start(deps, j)
    )
    fast_forward(scheduler, clock, START + timedelta(days=30), sender.run_until)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler is not None:
        profiler.disable()
    on[0] = False
    outcome = _check(participants, sender, messages, stored.get_journey(app_id, journey["Id"]), orchestrator)
    return {
        "participants": participants,
        "wall_s": wall,
        "cpu_s": cpu,
        "invocations": invocations,
        "transitions": orchestrator.transitions,
        "executions": orchestrator.executions,
        "meter": meter,
        **outcome,
    }


PROFILED = 5_000
# (module path suffix, function): where the journeys function's CPU goes
PROFILE_OF = {
    "wake_shard": ("services/journey_runs.py", "wake_shard"),
    "send": ("services/send_messages.py", "send_to_endpoints"),
    "phone": ("services/endpoints.py", "parse_phone"),
    "advance": ("domain/journey_steps.py", "advance_traced"),
    "moves": ("services/journey_moves.py", "move"),
}


def profile() -> dict[str, Any]:
    """cProfile over the journey run alone (not the setup), at PROFILED participants: cumulative seconds and calls."""
    profiler = cProfile.Profile()
    run_size(PROFILED, profiler)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    found = {}
    for key, (path, function) in PROFILE_OF.items():
        rows = [v for (file, _, name), v in stats.items() if name == function and file.endswith(path)]
        found[key] = {"s": sum(r[3] for r in rows), "calls": sum(r[1] for r in rows)}
    return found


def _sizes(app_id: str, data: InMemoryDataStore) -> dict[str, float]:
    endpoints = list(data.endpoints.values())[:1000]
    waiting = Participant(
        "ep-0000000", "wait", START, "WAITING", START + timedelta(days=1), {"hello": "0" * 32}, ("hello", "wait"), 1
    )
    return {
        "endpoint": sum(_item_bytes(endpoint_item(app_id, e)) for e in endpoints) / len(endpoints),
        "participant": _item_bytes(_item(f"{app_id}#{'0' * 32}#15", waiting, 2)),
    }


def _item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (strings in UTF-8, numbers ~1 byte per 2 digits)."""
    size = 0
    for name, value in item.items():
        (kind, raw), *_ = value.items()
        size += len(name.encode()) + (len(raw.encode()) if kind == "S" else len(raw) // 2 + 1)
    return size


def _check(
    participants: int,
    sender: SimulatedSender,
    messages: InMemoryMessageStore,
    journey: dict | None,
    orchestrator: LocalJourneyOrchestrator,
) -> dict[str, Any]:
    got: dict[str, list[str]] = {}
    delivered_first: set[str] = set()
    for message in sender.queued.values():
        activity = message.attribution["journey_activity_id"]
        got.setdefault(message.endpoint_id or "", []).append(activity)
        record = messages.get(message.message_id)
        if activity == "hello" and record is not None and record.status == "delivered":
            delivered_first.add(message.endpoint_id or "")
    expected = {e: ["hello", "thanks" if e in delivered_first else "again"] for e in got}
    if len(got) != participants or got != expected:
        raise AssertionError(f"{len(got)} participants messaged, or not the branch their delivery chose")
    if journey is None or journey["State"] != "COMPLETED":
        raise AssertionError(f"journey ended {journey and journey['State']}")
    if any(e.status != "SUCCEEDED" for e in orchestrator.executions):
        raise AssertionError(f"executions: {[(e.status, e.error) for e in orchestrator.executions]}")
    return {
        "thanks": len(delivered_first),
        "again": participants - len(delivered_first),
        "messages": len(sender.queued),
    }
