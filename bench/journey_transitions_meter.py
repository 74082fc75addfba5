"""The journey_transitions benchmark's meter: each call the journey engine makes on a port is priced by how the real
adapter turns it into DynamoDB and SQS requests (`RULES`), the request units those consume and the time they wait
at the assumed latencies; and what a run costs on AWS from those counts (`cost`, `counts`)."""

from __future__ import annotations

import math
import types
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from campaign_dispatch import LAMBDA_FULL_VCPU_MB, SEND_BATCH_LATENCY_S
from import_rate import AWS_LATENCY_S, DEFAULT_LATENCY_S
from prices import PRICES_USD
from segment_eval import QUERY_PAGE_BYTES, QUERY_PAGE_LATENCY_S

from kizuna.adapters.dynamo_engagement import ASKED_AT_ONCE
from kizuna.adapters.dynamo_participants import MOVES_PER_TRANSACTION
from kizuna.adapters.sqs_queue import SEND_AT_ONCE, SQS_BATCH
from kizuna.catalog import ENDPOINT_SHARDS, FUNCTIONS

SFN_PER_TRANSITION_USD = PRICES_USD["stepfunctions.transition"]  # bench/prices.py: Step Functions Standard
# Assumed request latencies (not measured): import_rate's, campaign_dispatch's, segment_eval's, and one more.
TRANSACT_LATENCY_S = 0.030  # TransactWriteItems of 99 puts + 1 update (assumed, conservative)
LATENCY_S = {
    ("dynamodb", "BatchGetItem"): AWS_LATENCY_S[("dynamodb", "BatchGetItem")],
    ("dynamodb", "BatchWriteItem"): AWS_LATENCY_S[("dynamodb", "BatchWriteItem")],
    ("dynamodb", "TransactWriteItems"): TRANSACT_LATENCY_S,
    ("sqs", "SendMessageBatch"): SEND_BATCH_LATENCY_S,
}


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
