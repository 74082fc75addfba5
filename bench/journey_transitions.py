"""Journey state transitions and cost: a 5-activity journey (SMS → Wait 1 day → ConditionalSplit on the first SMS's
delivery → SMS / SMS) run by the journey state machine's own definition (kizuna.journey_state_machine) through the
local interpreter (kizuna.local.step_functions) on a virtual clock, the production engine over in-memory stores, at
1,000 and 100,000 participants. Target: the second run's state transitions within 2× the first's. From the same
runs, the AWS cost of 1M participants next to Pinpoint's published price.

What is counted, and how:
- State transitions: by the interpreter, as Step Functions Standard bills them (each state entered, an Inline Map's
  inner states once per iteration, each retry).
- The journeys function: every invocation, its CPU time (time.process_time around the handler's work) and the AWS
  requests it would make: each call the engine makes on a port is metered by how the real adapter turns it into
  DynamoDB and SQS requests (`RULES`: chunks of 100 per BatchGetItem, 25 per BatchWriteItem, 99 moves and a tally
  update per TransactWriteItems, 10 per SendMessageBatch) and the request units those consume. A call without a
  rule fails the benchmark, so a new port call cannot go unpriced.
- Checked every run: every participant got the first SMS and exactly one of the two follow-ups, the one its first
  message's delivery (the simulated sender delivers 90%) chose; the journey COMPLETED; every execution SUCCEEDED.
"""

from __future__ import annotations

import cProfile
import gc
import math
import os
import pstats
import time
import types
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from campaign_dispatch import LAMBDA_FULL_VCPU_MB, SEND_BATCH_LATENCY_S
from import_rate import AWS_LATENCY_S, DEFAULT_LATENCY_S
from prices import PINPOINT_FREE_MTA, PRICES_USD
from report import PYTHON, Section, table
from segment_eval import QUERY_PAGE_BYTES, QUERY_PAGE_LATENCY_S

from kizuna.adapters.dynamo_data import endpoint_item
from kizuna.adapters.dynamo_engagement import ASKED_AT_ONCE
from kizuna.adapters.dynamo_participants import MOVES_PER_TRANSACTION, _item
from kizuna.adapters.memory import InMemoryDataStore, InMemoryMessageStore
from kizuna.adapters.memory_engagement import InMemoryEngagementStore
from kizuna.adapters.memory_journeys import InMemoryJourneyStore
from kizuna.adapters.memory_participants import InMemoryParticipantStore
from kizuna.adapters.memory_segments import InMemorySegmentStore
from kizuna.adapters.memory_sending import InMemoryChannelStore, InMemoryConsentStore
from kizuna.adapters.memory_templates import InMemoryTemplateStore
from kizuna.adapters.sqs_queue import SEND_AT_ONCE, SQS_BATCH
from kizuna.catalog import ENDPOINT_SHARDS, FUNCTIONS
from kizuna.clock import VirtualClock
from kizuna.domain.journey_steps import Participant
from kizuna.local.journey_orchestrator import LocalJourneyOrchestrator, fast_forward
from kizuna.local.runtime_scheduler import LocalScheduler
from kizuna.ports_journeys import ENTRY_BATCH
from kizuna.services import journey_runs, journeys
from kizuna.services.apps import create_app
from kizuna.services.endpoints import update_endpoints_batch
from kizuna.services.journey_runs import SHARD_BUDGET
from kizuna.services.segments import create_segment
from kizuna.services.send_messages import SendDeps
from kizuna.services.templates import create_template
from kizuna.simulator.stores import Journal, SimulatedSender

NAME = "journey_transitions"
SIZES = (1_000, 100_000)
PROJECTED = 1_000_000
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
# Prices: bench/prices.py (Step Functions Standard per transition; Pinpoint's Monthly Targeted Audience).
SFN_PER_TRANSITION_USD = PRICES_USD["stepfunctions.transition"]
PINPOINT_MTA_USD = PRICES_USD["pinpoint.mta_endpoint"]
PINPOINT_MTA_FREE = PINPOINT_FREE_MTA
# Assumed request latencies (not measured): import_rate's, campaign_dispatch's, segment_eval's, and one more.
TRANSACT_LATENCY_S = 0.030  # TransactWriteItems of 99 puts + 1 update (assumed, conservative)
LATENCY_S = {
    ("dynamodb", "BatchGetItem"): AWS_LATENCY_S[("dynamodb", "BatchGetItem")],
    ("dynamodb", "BatchWriteItem"): AWS_LATENCY_S[("dynamodb", "BatchWriteItem")],
    ("dynamodb", "TransactWriteItems"): TRANSACT_LATENCY_S,
    ("sqs", "SendMessageBatch"): SEND_BATCH_LATENCY_S,
}


# -- metering the ports -----------------------------------------------------------------------------------------


class Meter:
    def __init__(self, sizes: dict[str, float]) -> None:
        self.sizes = sizes  # bytes of an endpoint item, a participant item
        self.requests: Counter[tuple[str, str]] = Counter()
        self.units: Counter[str] = Counter()  # rru, wru, sqs (billed SQS requests)
        self.io_s = 0.0
        self.phase: datetime | None = None  # the wake-up being metered
        self.call = ""  # the port call being metered
        self.io_by: Counter[tuple[datetime | None, str]] = Counter()  # (wake-up, port call) -> seconds

    def add(
        self, service: str, operation: str, requests: int, unit: str, amount: float, each_s: float = 0, at_once: int = 1
    ) -> None:
        """`requests` requests, `at_once` of them side by side (the adapter's threads): the call waits on
        ceil(requests / at_once) round trips."""
        self.requests[(service, operation)] += requests
        self.units[unit] += amount
        rounds = math.ceil(requests / max(1, at_once))
        seconds = rounds * (each_s or LATENCY_S.get((service, operation), DEFAULT_LATENCY_S))
        self.io_s += seconds
        self.io_by[(self.phase, self.call)] += seconds


def _n(args: tuple) -> int:
    return max((len(a) for a in args if isinstance(a, list | tuple | dict | set)), default=0)


def _get(op: str = "GetItem", unit: str = "rru", amount: float = 1.0) -> Callable:
    return lambda m, args, result: m.add("dynamodb", op, 1, unit, amount)


def _batch_get(per_item: Callable[[Meter], float] = lambda m: 1.0) -> Callable:  # strongly consistent, found or not
    return lambda m, args, result: m.add(
        "dynamodb", "BatchGetItem", math.ceil(_n(args) / 100), "rru", _n(args) * per_item(m)
    )


def _record_moves(m: Meter, args: tuple, result: Any) -> None:
    """Per chunk of 99: one transaction of conditional puts (2 WRU each, items < 1 KB) and the tally ADD (2 WRU);
    the sparse due index is written for each entry put or deleted (1 WRU each)."""
    moves = args[4]
    chunks = math.ceil(len(moves) / MOVES_PER_TRANSACTION)
    index = sum((mv.participant.rev > 0) + (mv.participant.status == "WAITING") for mv in moves)
    m.add("dynamodb", "TransactWriteItems", chunks, "wru", 2 * len(moves) + 2 * chunks + index)


def _record_entry(m: Meter, args: tuple, result: Any) -> None:
    """One batch of a segment entry (at most ENTRY_BATCH moves): one transaction of its moves as _record_moves, the
    tally ADD and the shard's enrolment marker (2 WRU each)."""
    moves = args[4]
    index = sum((mv.participant.rev > 0) + (mv.participant.status == "WAITING") for mv in moves)
    m.add("dynamodb", "TransactWriteItems", 1, "wru", 2 * len(moves) + 4 + index)


def _due(m: Meter, args: tuple, result: list) -> None:  # the due index: eventually consistent, 0.5 RRU per 4 KB
    m.add("dynamodb", "Query", 1, "rru", 0.5 * max(1, math.ceil(len(result) * m.sizes["participant"] / 4096)))


def _scan(m: Meter, args: tuple, count: int) -> None:  # segment entry reads its shard: 1 MB pages, eventual
    pages = max(1, math.ceil(count * m.sizes["endpoint"] / QUERY_PAGE_BYTES))
    rru = 0.5 * max(1, math.ceil(count * m.sizes["endpoint"] / 4096))
    m.add("dynamodb", "Query", pages, "rru", rru, QUERY_PAGE_LATENCY_S if count else DEFAULT_LATENCY_S)


def _enqueue(m: Meter, args: tuple, result: Any) -> None:
    batches = math.ceil(_n(args) / SQS_BATCH)  # 10 bodies of ~1 KB: one 64 KB billed chunk each
    m.add("sqs", "SendMessageBatch", batches, "sqs", batches, at_once=SEND_AT_ONCE)  # SqsSendQueue's threads


def _put_asked(m: Meter, args: tuple, result: Any) -> None:  # each SMS becomes its endpoint's latest journey message
    writes = math.ceil(_n(args) / 25)
    m.add("dynamodb", "BatchWriteItem", writes, "wru", _n(args), at_once=ASKED_AT_ONCE)


RULES: dict[tuple[str, str], Callable] = {
    ("participants", "due"): _due,
    ("participants", "next_wake"): _get("Query", "rru", 0.5),
    ("participants", "enrolled"): _get(),
    ("participants", "enrolment"): _get(),  # the shard's entry marker (GetItem, strongly consistent)
    # A refused entrant's count: one transaction of the once-marker put and the tally ADD (2 WRU each).
    ("participants", "count_once"): lambda m, args, result: m.add("dynamodb", "TransactWriteItems", 1, "wru", 4),
    ("participants", "tally"): lambda m, args, result: m.add(
        "dynamodb", "BatchGetItem", 1, "rru", ENDPOINT_SHARDS
    ),  # one tally item per shard
    ("participants", "mark_enrolled"): _get("PutItem", "wru"),
    ("participants", "get_many"): _batch_get(),
    ("participants", "record_moves"): _record_moves,
    ("participants", "record_entry"): _record_entry,
    ("data", "get_endpoints"): _batch_get(lambda m: math.ceil(m.sizes["endpoint"] / 4096)),
    ("data", "scan_shard"): _scan,
    ("data", "get_app"): _get(),
    ("data", "get_settings"): _get(),
    ("channels", "get_rules"): _get("Query"),
    ("consent", "opted_out"): _batch_get(),
    ("templates", "get_head"): _get(),
    ("templates", "get_version"): _get(),
    ("segments", "get_segment"): _get(),
    ("journeys", "get_journey"): _get(),
    ("journeys", "put_journey"): _get("PutItem", "wru", 2.0),
    ("journeys", "index_event_journey"): _get("PutItem", "wru"),
    ("messages", "get"): _get(),  # a delivery record a condition asks about that was not prefetched
    ("messages", "get_many"): _batch_get(),  # the delivery records a split on _SMS.SUCCESS reads, prefetched
    ("engagement", "engagement_many"): _batch_get(),  # replies and clicks, prefetched (none in this journey)
    ("engagement", "put_asked"): _put_asked,
    ("queue", "enqueue"): _enqueue,
}


class Metered:
    """A port whose calls are metered by RULES (only while `meter.on`: setting up the world is not the engine)."""

    def __init__(self, inner: Any, port: str, meter: Meter, on: list[bool]) -> None:
        self._inner, self._port, self._meter, self._on = inner, port, meter, on

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value
        rule = RULES.get((self._port, name))

        def call(*args: Any, **kwargs: Any) -> Any:
            result = value(*args, **kwargs)
            if not self._on[0]:
                return result
            if rule is None:
                raise AssertionError(f"no request rule for {self._port}.{name}: price it in RULES")
            self._meter.call = f"{self._port}.{name}"
            if isinstance(result, types.GeneratorType):
                return self._counted(result, rule, args)
            rule(self._meter, args, result)
            return result

        return call

    def _counted(self, items: Any, rule: Callable, args: tuple) -> Any:
        count = 0
        try:
            for item in items:
                count += 1
                yield item
        finally:
            self._meter.call = f"{self._port}.scan_shard"
            rule(self._meter, args, count)


# -- one run ----------------------------------------------------------------------------------------------------


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


# -- cost -------------------------------------------------------------------------------------------------------


def cost(result: dict[str, Any]) -> dict[str, float]:
    """The AWS bill of one run (USD): Step Functions transitions, the journeys function (requests and GB-s: CPU
    scaled to its vCPU share, plus the I/O it waits on), DynamoDB request units and SQS requests."""
    spec = FUNCTIONS["journeys"]
    seconds = sum(lambda_seconds(i) for i in result["invocations"])
    units = result["meter"].units
    return {
        "Step Functions": result["transitions"] * SFN_PER_TRANSITION_USD,
        "Lambda": len(result["invocations"]) * PRICES_USD["lambda.request"]
        + seconds * spec.memory_mb / 1024 * PRICES_USD["lambda.gb_second_arm64"],
        "DynamoDB writes": units["wru"] * PRICES_USD["dynamodb.write_request_unit"],
        "DynamoDB reads": units["rru"] * PRICES_USD["dynamodb.read_request_unit"],
        "SQS": units["sqs"] * PRICES_USD["sqs.request"],
    }


def counts(result: dict[str, Any]) -> dict[str, float]:
    """What `cost` prices, as counts: the figures bench/cost.py multiplies by its prices."""
    units = result["meter"].units
    seconds = sum(lambda_seconds(i) for i in result["invocations"])
    return {
        "transitions": result["transitions"],
        "lambda_invocations": len(result["invocations"]),
        "lambda_gb_seconds": seconds * FUNCTIONS["journeys"].memory_mb / 1024,
        "dynamodb_wru": units["wru"],
        "dynamodb_rru": units["rru"],
        "sqs_requests": units["sqs"],
    }


def lambda_seconds(invocation: dict[str, Any]) -> float:
    """Billed duration of one invocation on AWS: the CPU measured here on one core, × the journeys function's share
    of a vCPU (1,769 MB is one), plus its requests one after another; rounded up to the millisecond."""
    share = min(1.0, FUNCTIONS["journeys"].memory_mb / LAMBDA_FULL_VCPU_MB)
    return math.ceil((invocation["cpu_s"] / share + invocation["io_s"]) * 1000) / 1000


def profile_note(found: dict[str, Any], results: list[dict[str, Any]]) -> str:
    wake = found["wake_shard"]["s"] or 1e-9
    messages = 2 * PROFILED
    per = [
        sum(i["cpu_s"] for i in r["invocations"] if i["action"] == "wake") / r["participants"] * 1e6 for r in results
    ]
    return (
        f"Where the journeys function's CPU goes (cProfile of the run alone at {PROFILED:,} participants, cumulative "
        f"times under the profiler): the send path (`send_to_endpoints`: consent, compose, queue) is "
        f"{found['send']['s'] / wake:.0%} of `wake_shard`, the journey logic (`advance_traced`) "
        f"{found['advance']['s'] / wake:.0%}. Within the send path, `parse_phone` (phonenumbers) runs "
        f"{found['phone']['calls'] / messages:.1f}× per message queued and takes {found['phone']['s'] / wake:.0%} of "
        "`wake_shard`, re-parsing addresses that were stored already normalised: the CPU to save next. Wake CPU per "
        "participant (no profiler): "
        + " and ".join(f"{us:.0f} µs at {r['participants']:,}" for us, r in zip(per, results, strict=True))
        + " (CPU time on a shared machine varies by a few tens of percent between runs)."
    )


def at_a_million(large: dict[str, Any]) -> list[dict[str, Any]]:
    """Each wake-up of the large run, and its slowest shard grown to PROJECTED participants (all of its time taken as
    growing with them: conservative). A wake-up stops entering or taking due participants after SHARD_BUDGET, and
    the rest wakes at once: one more loop each time it runs out."""
    growth = PROJECTED / large["participants"]
    out = []
    for index, at in enumerate(sorted({i["at"] for i in large["invocations"]})):
        shards = [i for i in large["invocations"] if i["at"] == at and i["action"] == "wake"]
        slowest = max(shards, key=lambda_seconds)
        io = {call: s for (phase, call), s in large["meter"].io_by.items() if phase == at}
        top = max(io, key=io.get) if io else "-"
        grown = lambda_seconds(slowest) * growth
        out.append({
            "at": at, "what": "split + follow-up SMS" if index else "entry + first SMS",
            "cpu_s": sum(i["cpu_s"] for i in shards), "slowest_cpu_s": slowest["cpu_s"],
            "slowest_s": lambda_seconds(slowest), "slowest_1m_s": grown,
            "top_call": top, "top_share": io.get(top, 0) / max(sum(io.values()), 1e-9),
            "extra_loops": max(0, math.ceil(grown / SHARD_BUDGET.total_seconds()) - 1),
        })  # fmt: skip
    return out


def million_notes(at_1m: list[dict[str, Any]], extra_transitions: int) -> list[str]:
    timeout, budget = FUNCTIONS["journeys"].timeout_s, SHARD_BUDGET.total_seconds()
    notes = [f"At {PROJECTED:,} a shard holds {PROJECTED // ENDPOINT_SHARDS:,} participants."]
    for w in at_1m:
        notes.append(
            f"The wake-up of {w['at']:%m-%d %H:%M} ({w['what']}) would take ~{w['slowest_1m_s']:.0f} s for its "
            "slowest shard: "
            + (
                f"inside the {budget:.0f} s a shard's wake-up may take (journey_runs.SHARD_BUDGET; the journeys "
                f"function's timeout is {timeout} s)."
                if not w["extra_loops"]
                else f"past the {budget:.0f} s a wake-up may take (journey_runs.SHARD_BUDGET), so the rest (of the "
                f"entry, or of the due participants) waits for the next loop, at once: ~{w['extra_loops']} more "
                f"loop(s) of {ENDPOINT_SHARDS + 5} transitions (counted in the projection above)."
            )
        )
    notes.append(
        "Entry is cut by the same budget as the moves: a shard's segment is entered in batches of "
        f"{ENTRY_BATCH}, each batch's entrants, counts and progress one transaction, and a wake-up that runs out of "
        "time leaves the rest to the next loop. The delivery records a split reads are read in BatchGetItem requests "
        "of 100 keys before a batch moves (kizuna.services.journey_conditions), not one GetItem per participant; "
        f"the send queue sends {SEND_AT_ONCE} SendMessageBatch requests side by side, and the latest journey "
        f"messages go {ASKED_AT_ONCE} BatchWriteItem requests at a time (their time above counts one round trip per "
        "group); every other request is counted one after another."
    )
    if extra_transitions:
        notes.append(
            f"Running out of time costs {extra_transitions} more transitions "
            f"({_usd(extra_transitions * SFN_PER_TRANSITION_USD)}) and a few more invocations."
        )
    return [" ".join(notes)]


def _usd(value: float) -> str:
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def project(small: dict[str, float], large: dict[str, float], n_small: int, n_large: int, n: int) -> dict:
    """Each cost item as fixed + per participant, through the two measured runs."""
    return {k: large[k] + (large[k] - small[k]) * (n - n_large) / (n_large - n_small) for k in large}


# -- the section ------------------------------------------------------------------------------------------------


def run() -> Section:
    results = [run_size(n) for n in SIZES]
    profiled = profile()
    small, large = results
    ratio = large["transitions"] / small["transitions"]
    costs = [cost(r) for r in results]
    projected = project(*costs, *SIZES, PROJECTED)
    at_1m = at_a_million(large)
    extra_transitions = sum(w["extra_loops"] for w in at_1m) * (ENDPOINT_SHARDS + 5)
    projected["Step Functions"] += extra_transitions * SFN_PER_TRANSITION_USD
    total = sum(projected.values())
    pinpoint = (PROJECTED - PINPOINT_MTA_FREE) * PINPOINT_MTA_USD
    at_projection = project(*[counts(r) for r in results], *SIZES, PROJECTED)
    at_projection["transitions"] += extra_transitions
    section = Section(
        NAME,
        "Journey state transitions and cost (local interpreter, 1,000 and 100,000 participants)",
        f"{PYTHON} bench/run.py --only {NAME}",
    )
    rows = []
    for r, c in zip(results, costs, strict=True):
        wakes = [i for i in r["invocations"] if i["action"] == "wake"]
        loops = len(r["invocations"]) - len(wakes)
        rows.append(
            [
                f"{r['participants']:,}",
                loops,
                len(r["executions"]),
                f"**{r['transitions']}**",
                len(r["invocations"]),
                f"{sum(i['cpu_s'] for i in wakes):.2f}",
                f"{r['cpu_s']:.1f}",
                f"{r['wall_s']:.1f}",
                f"{r['messages']:,}",
                f"{r['thanks']:,} / {r['again']:,}",
                f"${sum(c.values()):.4f}",
            ]
        )
    per_wake = [
        [
            w["at"].strftime("%Y-%m-%d %H:%M"),
            w["what"],
            f"{w['cpu_s']:.2f}",
            f"{w['slowest_cpu_s'] * 1000:.0f}",
            f"{w['slowest_s']:.1f}",
            f"~{w['slowest_1m_s']:.0f}",
            f"{w['top_call']} ({w['top_share']:.0%})",
        ]
        for w in at_1m
    ]
    meter: Meter = large["meter"]
    requests = [
        [f"{service} {operation}", f"{count / large['participants'] * 1000:,.1f}"]
        for (service, operation), count in sorted(meter.requests.items())
    ]
    units = meter.units
    section.body = [
        f"The journey `{FLOW}` "
        f"(5 activities) over a segment of N SMS endpoints (Asia/Tokyo), published ACTIVE at {START:%Y-%m-%d %H:%M} "
        "UTC: the production engine (`journey_runs.wake_shard` / `plan`, in-memory stores, the simulator's sender, "
        f"which delivers {DELIVER_PERCENT}% of messages by a hash of their id and writes the delivery records the "
        "split reads) invoked by **the state machine's own definition** (`kizuna.journey_state_machine`) through the "
        "local interpreter (`kizuna.local.step_functions`), on a virtual clock. Transitions are counted by the "
        "interpreter as Step Functions Standard bills them: each state entered (an Inline Map's inner states once "
        "per iteration, the iterations themselves free), each retry (none happened). Checked every run: each "
        "participant got `hello` and then exactly the follow-up its first message's delivery chose, the journey "
        "COMPLETED, every execution SUCCEEDED.",
        "",
        *table(
            [
                "participants",
                "wake-ups",
                "executions",
                "state transitions",
                "journeys invocations",
                "wake CPU (s)",
                "run CPU (s)",
                "run wall (s)",
                "messages",
                "thanks / again",
                "AWS cost",
            ],
            rows,
        ),
        "",
        f"**Ratio: {ratio:.2f}×** the state transitions for {SIZES[1] // SIZES[0]}× the participants (target ≤ 2×). "
        "Each wake-up is "
        f"{ENDPOINT_SHARDS + 5} transitions (Shards, {ENDPOINT_SHARDS} × WakeShard, Plan, Next, UntilNextWake, "
        f"CountLoop) and the last {ENDPOINT_SHARDS + 4} (… Next, Done), so the count follows the journey's wake-ups "
        "(here: entry at once, the split a day later), never its participants. Run CPU includes the simulated "
        "sender and the interpreter; wall time is on a shared machine (load average "
        f"{os.getloadavg()[0]:.1f} when this section was written), CPU time is the steadier figure.",
        "",
        f"Journeys function at {large['participants']:,} participants, per wake-up of the 16 shards (one invocation "
        "each; AWS duration = CPU here ÷ the function's "
        f"{min(1.0, FUNCTIONS['journeys'].memory_mb / LAMBDA_FULL_VCPU_MB):.2f} vCPU + its requests one after "
        "another at the assumed latencies below, but for those the adapters send side by side, noted at the end):",
        "",
        *table(
            [
                "wake-up (UTC)",
                "moves",
                "CPU, 16 shards (s)",
                "slowest shard CPU (ms)",
                "slowest shard on AWS (s)",
                f"… at {PROJECTED:,} (s)",
                "most of its I/O",
            ],
            per_wake,
        ),
        "",
        profile_note(profiled, results),
        "",
        f"AWS requests per 1,000 participants at {large['participants']:,} (from the port calls, by the real "
        f"adapters' chunking): {units['wru'] / large['participants']:.2f} WRU and "
        f"{units['rru'] / large['participants']:.2f} RRU per participant (the moves: transactional puts at 2 WRU, "
        "the due index 1 WRU per entry written or removed, the tally ADD per 99; the latest journey message per SMS; "
        "endpoint, delivery-record and consent reads at 1 RRU per key):",
        "",
        *table(["request", "per 1,000 participants"], requests),
        "",
        f"**Cost per {PROJECTED:,} participants** (each cost item fixed + per participant through the two runs; "
        "Step Functions Standard $0.025 per 1,000 state transitions, aws.amazon.com/step-functions/pricing read "
        "2026-12; Lambda arm64 $0.20/M requests + GB-s, DynamoDB on-demand "
        f"${PRICES_USD['dynamodb.write_request_unit'] * 1e6:.3f}/M WRU and "
        f"${PRICES_USD['dynamodb.read_request_unit'] * 1e6:.3f}/M RRU, SQS ${PRICES_USD['sqs.request'] * 1e6:.2f}/M, "
        "as import_rate's; assumed latencies: "
        f"{DEFAULT_LATENCY_S * 1000:.0f} ms per single-item request, "
        f"{LATENCY_S[('dynamodb', 'BatchGetItem')] * 1000:.0f} ms per BatchGetItem, "
        f"{LATENCY_S[('dynamodb', 'BatchWriteItem')] * 1000:.0f} ms per BatchWriteItem, "
        f"{TRANSACT_LATENCY_S * 1000:.0f} ms per TransactWriteItems, "
        f"{SEND_BATCH_LATENCY_S * 1000:.0f} ms per SendMessageBatch, {QUERY_PAGE_LATENCY_S * 1000:.0f} ms per 1 MB "
        "Query page). What happens after the send queue (the sender function, Twilio, delivery records) is the same "
        "for a campaign's messages and left out, as Pinpoint's per-message SMS charges are left out of its side:",
        "",
        *table(
            ["", f"{SIZES[0]:,}", f"{SIZES[1]:,}", f"{PROJECTED:,} (projected)"],
            [[k, _usd(costs[0][k]), _usd(costs[1][k]), _usd(projected[k])] for k in projected]
            + [
                [
                    "**all**",
                    f"**{_usd(sum(costs[0].values()))}**",
                    f"**{_usd(sum(costs[1].values()))}**",
                    f"**{_usd(total)}**",
                ]
            ],
        ),
        "",
        f"**Pinpoint** charged journeys by Monthly Targeted Audience: ${PINPOINT_MTA_USD} per endpoint a campaign or "
        f"journey targets in a month, the first {PINPOINT_MTA_FREE:,} free (aws.amazon.com/pinpoint/pricing, as "
        "recorded by api-evangelist/amazon-pinpoint `plans/amazon-pinpoint-plans-pricing.yml`, read from the AWS page "
        f"2026-08-13; Pinpoint's $0.0001 is its price per e-mail, not per journey endpoint): {PROJECTED:,} "
        f"participants = **${pinpoint:,.0f}** a month, against **${total:.2f}** of AWS resources here "
        f"(Pinpoint {pinpoint / total:,.0f}× as much), of which Step Functions is {_usd(projected['Step Functions'])}.",
        "",
        *million_notes(at_1m, extra_transitions),
    ]
    section.figures = {f"per_participant.{k}": v / PROJECTED for k, v in at_projection.items()} | {
        "per_participant.sms": large["messages"] / large["participants"],
        "projected_participants": PROJECTED,
    }
    section.verdict = (
        f"{small['transitions']} state transitions at {SIZES[0]:,} participants and {large['transitions']} at "
        f"{SIZES[1]:,} (**{ratio:.2f}×**, target ≤ 2×); the {SIZES[1]:,} run took {large['cpu_s']:.0f} s CPU "
        f"({large['wall_s']:.0f} s wall on a shared machine). {PROJECTED:,} participants cost about "
        f"**{_usd(total)}** on AWS (Step Functions {_usd(projected['Step Functions'])}; mostly DynamoDB writes, "
        f"${projected['DynamoDB writes']:.2f}) against Pinpoint's **${pinpoint:,.0f}** a month of targeted audience."
    )
    return section
