"""Segment evaluation rate: a 5-dimension segment over 100,000 endpoints in memory, on one thread (= one core),
plus the projection for 10M endpoints on AWS with its arithmetic.

Two figures: the full resolution (`services.segments.resolve_shard` over the 16 shards: read each endpoint from the
in-memory store, match, skip opted-out/inactive) and the compiled predicate alone over a materialised list (the
CPU cost of matching). The matched count is checked against a plain-Python count, so a fast but wrong matcher
cannot produce a figure.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from prices import usd
from report import PYTHON, Section, Stats, table

from kizuna.adapters.memory import InMemoryDataStore
from kizuna.adapters.memory_segments import InMemorySegmentStore
from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.domain.segments import compile_segment
from kizuna.services.segments import resolve_shard, sendable

NAME = "segment_eval"
ENDPOINTS = 100_000
REPEATS = 5
NOW = datetime(2026, 11, 24, tzinfo=UTC)
SEGMENT = {
    "Id": "bench",
    "SegmentType": "DIMENSIONAL",
    "Version": 1,
    "Dimensions": {
        "Demographic": {"Channel": {"Values": ["SMS"]}},
        "Location": {"Country": {"Values": ["JP"]}},
        "Attributes": {"会員": {"AttributeType": "INCLUSIVE", "Values": ["ゴールド"]}},
        "UserAttributes": {"都市": {"Values": ["東京", "大阪"]}},
        "Metrics": {"visits": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 3}},
    },
}
# 10M projection on AWS (assumptions, stated in the section).
PROJECTED = 10_000_000
QUERY_PAGE_BYTES = 1024 * 1024  # DynamoDB returns at most 1 MB per Query page
QUERY_PAGE_LATENCY_S = 0.100  # a 1 MB page incl. botocore parsing it (assumed, conservative; not measured here)
RRU_PRICE_PER_MILLION = round(usd("dynamodb.read_request_unit") * 1e6, 6)  # bench/prices.py
RRU_BYTES = 4096  # one read request unit: 4 KB strongly consistent, 8 KB eventually consistent


def endpoints(count: int, rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        out.append(
            {
                "Id": f"ep-{i:07d}",
                "ChannelType": rng.choice(["SMS", "SMS", "SMS", "EMAIL"]),
                "Address": f"+8190{i:08d}",
                "Location": {"Country": rng.choice(["JP", "JP", "JP", "US"])},
                "Attributes": {"会員": [rng.choice(["ゴールド", "シルバー", "ブロンズ"])]},
                "User": {"UserId": f"u{i}", "UserAttributes": {"都市": [rng.choice(["東京", "大阪", "福岡"])]}},
                "Metrics": {"visits": float(rng.randrange(10))},
                "Demographic": {"Platform": rng.choice(["ios", "android"]), "Timezone": "Asia/Tokyo"},
                "EffectiveDate": (NOW - timedelta(days=rng.randrange(60))).isoformat(),
                "OptOut": "ALL" if rng.random() < 0.05 else "NONE",
                "EndpointStatus": "ACTIVE",
            }
        )
    return out


def brute_force(endpoint: dict[str, Any]) -> bool:
    return (
        endpoint["ChannelType"] == "SMS"
        and endpoint["Location"]["Country"] == "JP"
        and "ゴールド" in endpoint["Attributes"]["会員"]
        and endpoint["User"]["UserAttributes"]["都市"][0] in ("東京", "大阪")
        and endpoint["Metrics"]["visits"] >= 3
    )


def run() -> Section:
    population = endpoints(ENDPOINTS, random.Random(7))
    store, segments = InMemoryDataStore(), InMemorySegmentStore()
    store.put_endpoints("bench", population)
    expected = sum(1 for e in population if brute_force(e) and sendable(e))
    expected_matching = sum(1 for e in population if brute_force(e))

    resolve_s, matched = [], 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        matched = sum(
            1
            for shard in range(ENDPOINT_SHARDS)
            for _ in resolve_shard(store, segments, "bench", SEGMENT, shard, now=NOW)
        )
        resolve_s.append(time.perf_counter() - started)
    predicate = compile_segment(SEGMENT, NOW, lambda _ref, _field: lambda _e: False)
    match_s, predicate_matched = [], 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        predicate_matched = sum(1 for e in population if predicate(e))
        match_s.append(time.perf_counter() - started)
    # On AWS each endpoint arrives as the JSON `doc` attribute of a DynamoDB item: decoding it is part of the work.
    docs = [json.dumps(e, ensure_ascii=False) for e in population]
    decode_s, decoded_matched = [], 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        decoded_matched = sum(1 for d in docs if predicate(e := json.loads(d)) and sendable(e))
        decode_s.append(time.perf_counter() - started)
    if (matched, predicate_matched, decoded_matched) != (expected, expected_matching, expected):
        raise AssertionError(f"matcher disagrees with brute force: {matched}/{expected}, {predicate_matched}")

    resolve_rate = Stats.of([ENDPOINTS / s for s in resolve_s])
    match_rate = Stats.of([ENDPOINTS / s for s in match_s])
    decode_rate = Stats.of([ENDPOINTS / s for s in decode_s])
    item_bytes = sum(len(json.dumps(e, ensure_ascii=False).encode()) for e in population) / ENDPOINTS

    section = Section(
        NAME, "Segment evaluation (5 dimensions, in memory, one core)", f"{PYTHON} bench/run.py --only {NAME}"
    )
    section.body = [
        f"{ENDPOINTS:,} generated endpoints (seed 7, mean item {item_bytes:.0f} bytes as JSON); the segment has five "
        "dimensions: Demographic.Channel SMS, Location.Country JP, Attributes 会員 INCLUSIVE ゴールド, "
        "UserAttributes 都市 東京/大阪, Metrics visits ≥ 3. "
        f"{matched:,} sendable endpoints match ({predicate_matched:,} before the opt-out filter), equal to a plain "
        f"Python count. {REPEATS} repeats, one thread.",
        "",
        *table(
            ["what", "endpoints/s/core", "seconds for 100k"],
            [
                [
                    "resolve_shard × 16 (read from store + match + sendable)",
                    resolve_rate.fmt(),
                    Stats.of(resolve_s).fmt(3),
                ],
                ["compiled predicate alone", match_rate.fmt(), Stats.of(match_s).fmt(3)],
                [
                    "as on AWS: json.loads of the item's doc + match + sendable",
                    decode_rate.fmt(),
                    Stats.of(decode_s).fmt(3),
                ],
            ],
        ),
        "",
        *projection(decode_rate.median, item_bytes),
    ]
    section.verdict = (
        f"{resolve_rate.median:,.0f} endpoints/s/core resolved in memory, {decode_rate.median:,.0f}/s with the JSON "
        f"decoding DynamoDB items need ({match_rate.median:,.0f}/s for the predicate alone); no target was set."
    )
    return section


def projection(rate: float, item_bytes: float) -> list[str]:
    per_shard = PROJECTED / ENDPOINT_SHARDS
    pages = per_shard * item_bytes / QUERY_PAGE_BYTES
    io_s = pages * QUERY_PAGE_LATENCY_S
    cpu_s = per_shard / rate
    rru = PROJECTED * item_bytes / RRU_BYTES  # Query bills the bytes read, rounded up per page, not per item
    cost = rru / 1e6 * RRU_PRICE_PER_MILLION
    return [
        "**10M endpoints on AWS** (16 shards resolved in parallel, one worker each; assumptions: "
        f"{QUERY_PAGE_LATENCY_S * 1000:.0f} ms per 1 MB Query page, the measured decode + match rate per worker, "
        f"strongly consistent reads at ${RRU_PRICE_PER_MILLION} per million RRU, us-east-1 on-demand, 2026-11):",
        "",
        f"- per shard: {PROJECTED:,} / 16 = {per_shard:,.0f} endpoints × {item_bytes:.0f} B = "
        f"{per_shard * item_bytes / 1e6:,.0f} MB = {pages:,.0f} pages × {QUERY_PAGE_LATENCY_S * 1000:.0f} ms = "
        f"**{io_s:,.0f} s of reads**; matching {per_shard:,.0f} / {rate:,.0f} per s = **{cpu_s:,.0f} s of CPU**",
        f"- one evaluation takes about max(reads, CPU) when a worker pipelines them, {max(io_s, cpu_s):,.0f} s "
        f"(sum {io_s + cpu_s:,.0f} s if not); a campaign run that splits shards further divides it",
        f"- read cost: {PROJECTED:,} × {item_bytes:.0f} B / 4 KB = {rru:,.0f} RRU × ${RRU_PRICE_PER_MILLION}/M = "
        f"**${cost:.3f} per full evaluation**; `GetSegmentEstimate` on a large app reads 4 of 16 shards: "
        f"${cost / 4:.3f}",
    ]
