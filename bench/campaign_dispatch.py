"""Campaign dispatch: an IMMEDIATE A/B campaign from CreateCampaign until every piece has queued its messages, in
memory (100,000 endpoints) and against moto with the real adapters (5,000 endpoints), plus the 10M projection on
AWS against Mautic's published ~2.5 days per 1M contacts (mautic/mautic#2870).

The run is driven as the jobs function drives it (create_campaign, then start_run and the 16 run_piece, one after
another on one thread). The queued count is checked against an independent count with the campaign's split and
every queued message id must be distinct, so a fast but wrong dispatch cannot produce a figure. AWS requests are
counted with a botocore `before-parameter-build` hook (once per API call) on the adapters' clients, dispatch only.
"""

from __future__ import annotations

import gc
import json
import math
import os
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import boto3
from import_rate import AWS_LATENCY_S, DEFAULT_LATENCY_S, PRICES_USD
from moto import mock_aws
from report import PYTHON, Section, Stats, table
from segment_eval import QUERY_PAGE_BYTES, QUERY_PAGE_LATENCY_S

from kizuna.adapters.dynamo_aggregates import DynamoAggregateStore
from kizuna.adapters.dynamo_campaigns import DynamoCampaignStore
from kizuna.adapters.dynamo_channels import DynamoChannelStore
from kizuna.adapters.dynamo_data import DynamoDataStore, endpoint_item
from kizuna.adapters.dynamo_endpoint_caps import DynamoEndpointCaps
from kizuna.adapters.dynamo_jobs import DynamoJobStore
from kizuna.adapters.dynamo_segments import DynamoSegmentStore
from kizuna.adapters.dynamo_templates import DynamoTemplateStore
from kizuna.adapters.memory import InMemoryDataStore, InMemorySendQueue
from kizuna.adapters.memory_campaigns import InMemoryCampaignStore, InMemoryEndpointCaps, InMemoryRunScheduler
from kizuna.adapters.memory_jobs import InMemoryJobQueue, InMemoryJobStore
from kizuna.adapters.memory_segments import InMemorySegmentStore
from kizuna.adapters.memory_sending import InMemoryChannelStore, InMemoryConsentStore
from kizuna.adapters.memory_templates import InMemoryTemplateStore
from kizuna.adapters.scheduler_runs import EventBridgeRunScheduler
from kizuna.adapters.sqs_jobs import SqsJobQueue
from kizuna.adapters.sqs_queue import SQS_BATCH, SqsSendQueue
from kizuna.catalog import ENDPOINT_SHARDS, FUNCTIONS, QUEUES
from kizuna.clock import VirtualClock
from kizuna.domain.campaigns import split_of
from kizuna.domain.jobs import CampaignPiece, CampaignRun, JobEnvelope
from kizuna.local.aws_resources import create_local_resources
from kizuna.services.apps import create_app
from kizuna.services.campaign_runs import CHUNK, PIECE_BUDGET_S, CampaignDeps, run_piece, run_type, start_run
from kizuna.services.campaigns import create_campaign
from kizuna.services.endpoints import update_endpoints_batch
from kizuna.services.segments import create_segment
from kizuna.services.send_messages import MAX_RECIPIENTS, LinkTracking, SendDeps

NAME = "campaign_dispatch"
ENDPOINTS, MOTO_ENDPOINTS, REPEATS = 100_000, 5_000, 3
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
REGION = "ap-northeast-1"
ARN = f"arn:aws:mobiletargeting:{REGION}:123456789012"
CAPS = {"Daily": 1}
CAMPAIGN = {
    "Name": "冬のセール",
    "Schedule": {"StartTime": "IMMEDIATE"},
    "MessageConfiguration": {"SMSMessage": {"Body": "【Kizuna】冬のセール開催中", "MessageType": "PROMOTIONAL"}},
    "AdditionalTreatments": [{"SizePercent": 40, "MessageConfiguration": {"SMSMessage": {"Body": "本日限定 20% OFF"}}}],
    "HoldoutPercent": 10,
}
# 10M projection (assumptions, stated in the section; the Query page latency is segment_eval's, the DynamoDB ones
# import_rate's).
PROJECTED = 10_000_000
SEND_BATCH_LATENCY_S = 0.020  # SendMessageBatch of 10 ~1 KB messages, same region (assumed, conservative)
LAMBDA_FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB; the jobs function has less
SQS_CHUNK_BYTES = 64 * 1024  # SQS bills a request per 64 KB of payload
MAUTIC_HOURS_PER_MILLION = 60.0  # mautic/mautic#2870: ~2.5 days to send to 1M contacts


def _audience(deps: CampaignDeps, app_id: str, count: int) -> str:
    """`count` SMS endpoints with Japanese mobile numbers in Asia/Tokyo, and a one-dimension segment of them."""
    for start in range(0, count, 100):
        items = [
            {"Id": f"ep-{i:07d}", "ChannelType": "SMS", "Address": f"+8190{i:08d}",
             "Demographic": {"Timezone": "Asia/Tokyo"}, "Attributes": {"会員": ["ゴールド"]}}
            for i in range(start, min(count, start + 100))
        ]  # fmt: skip
        update_endpoints_batch(deps.apps, deps.endpoints, deps.clock, app_id, {"Item": items})
    request = {"Name": "SMS", "Dimensions": {"Demographic": {"Channel": {"Values": ["SMS"]}}}}
    return create_segment(deps.apps, deps.segments, deps.clock, ARN, app_id, request)["Id"]


class RecordingQueue:
    """The send queue; records the id of every message that landed. With `consume` (moto), the messages are read
    back from SQS after each enqueue, as the sender would (time spent there is not counted as dispatch)."""

    def __init__(self, inner: Any, consume: Any = None) -> None:
        self.inner, self.consume, self.ids, self.consume_s = inner, consume, [], 0.0

    def enqueue(self, messages: Any, delay_s: int = 0) -> list[str]:
        failed = self.inner.enqueue(messages, delay_s)
        if self.consume is None:
            refused = set(failed)
            self.ids += [m.message_id for m in messages if m.message_id not in refused]
        else:
            started = time.perf_counter()
            self.ids += self.consume()
            self.consume_s += time.perf_counter() - started
        return failed


def _dispatch(deps: CampaignDeps, app_id: str, segment: str, count: int, limits: Any, take: Any, calls: Any) -> dict:
    """CreateCampaign, then every job message handled until the jobs queue is idle; checked against the split."""
    queue: RecordingQueue = deps.send.queue
    queue.ids, queue.consume_s = [], 0.0
    request = {**CAMPAIGN, "SegmentId": segment, **({"Limits": limits} if limits else {})}
    if calls is not None:
        calls.clear()  # from here on: dispatch only
    gc.collect()
    started = time.perf_counter()
    campaign = create_campaign(deps, app_id, request)
    handled = 0
    while batch := take():
        for message in batch:
            handled += 1
            if isinstance(message, CampaignRun):
                start_run(deps, message)
            elif isinstance(message, CampaignPiece):
                run_piece(deps, message)
    seconds = time.perf_counter() - started - queue.consume_s
    counts = Counter(calls)
    split = split_of(campaign)
    shares = Counter(t.id if (t := split.assign(campaign["Id"], f"ep-{i:07d}")) else "holdout" for i in range(count))
    expected = count - shares["holdout"]
    runs, _ = deps.jobs.list_jobs(app_id, run_type(campaign["Id"]), 10, None)
    if len(queue.ids) != expected or len(set(queue.ids)) != expected or handled != 1 + ENDPOINT_SHARDS:
        raise AssertionError(f"queued {len(queue.ids)} ({len(set(queue.ids))} distinct), expected {expected}")
    if [r["JobStatus"] for r in runs] != ["COMPLETED"] or runs[0]["TotalProcessed"] != expected:
        raise AssertionError(f"run job: {runs}")
    return {"seconds": seconds, "rate": count / seconds, "queued": expected, "shares": shares, "calls": counts}


def run_memory() -> dict[str, Any]:
    clock, data, channels = VirtualClock(NOW), InMemoryDataStore(), InMemoryChannelStore()
    queue = InMemorySendQueue()
    send = SendDeps(data, data, RecordingQueue(queue), clock, InMemoryTemplateStore(), channels,
                    InMemoryConsentStore())  # fmt: skip
    deps = CampaignDeps(data, data, InMemorySegmentStore(), InMemoryCampaignStore(), InMemoryJobStore(),
                        InMemoryJobQueue(), InMemoryRunScheduler(), clock, send, InMemoryEndpointCaps(),
                        ARN)  # fmt: skip
    app_id = create_app(data, clock, ARN, {"Name": "bench"}).id
    segment_id = _audience(deps, app_id, ENDPOINTS)
    out: dict[str, Any] = {"none": [], "caps": []}
    for _ in range(REPEATS):
        for key, limits in (("none", None), ("caps", CAPS)):
            deps.caps.states.clear()
            queue.messages.clear()
            out[key].append(_dispatch(deps, app_id, segment_id, ENDPOINTS, limits, deps.jobs_queue.take, None))
    docs = [json.dumps(e, ensure_ascii=False) for e in data.endpoints.values()]
    items = [endpoint_item(app_id, e) for e in data.endpoints.values()]  # DynamoDB's size: names + string values
    out["item_bytes"] = sum(len(k.encode()) + len(v["S"].encode()) for i in items for k, v in i.items()) / ENDPOINTS
    out["body_bytes"] = max(len(m.model_dump_json().encode()) for m, _ in queue.messages[:1000])
    started = time.perf_counter()
    decoded = [json.loads(d) for d in docs]  # as DynamoDataStore.scan_shard does with each item's doc
    out["decode_s"] = (time.perf_counter() - started) / len(decoded)
    tracemalloc.start()
    decoded = [json.loads(d) for d in docs[:20_000]]  # what a piece holds: its whole shard, decoded
    out["decoded_bytes"] = tracemalloc.get_traced_memory()[0] / len(decoded)
    tracemalloc.stop()
    return out


def run_moto() -> dict[str, Any]:
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    with mock.patch.dict(os.environ, env), mock_aws():
        for variable in [v for v in os.environ if v.startswith("AWS_ENDPOINT_URL")]:
            del os.environ[variable]  # restored by patch.dict on exit
        session = boto3.Session(region_name=REGION)
        res = create_local_resources(session)  # every table and queue of kizuna.catalog, as local mode makes them
        ddb, sqs, scheduler, poller = (session.client(s) for s in ("dynamodb", "sqs", "scheduler", "sqs"))
        scheduler.create_schedule_group(Name="kizuna-campaigns")
        table, jobs_url, send_url = res.tables["data"], res.queue_urls["jobs"], res.queue_urls["send"]
        names = {table: "data", res.tables["limits"]: "limits", send_url: "send queue", jobs_url: "jobs queue",
                 "kizuna-campaigns": "schedule group"}  # fmt: skip
        calls: Counter = Counter()

        def count(model: Any, params: dict[str, Any], **_: Any) -> None:  # by service, operation, table or queue
            target = params.get("TableName") or params.get("QueueUrl") or params.get("GroupName", "")
            target = target or next(iter(params.get("RequestItems", {})), "")
            target = target or next((v["TableName"] for t in params.get("TransactItems", []) for v in t.values()), "")
            calls[(model.service_model.service_name, model.name, names.get(target, ""))] += 1

        for client in (ddb, sqs, scheduler):  # the poller (Lambda's event source mapping) is not counted
            client.meta.events.register("before-parameter-build.*.*", count)

        def receive(url: str) -> list[dict[str, Any]]:
            got = poller.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if got:
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
                poller.delete_message_batch(QueueUrl=url, Entries=entries)
            return got

        def consume() -> list[str]:  # keeps moto's send queue short: moto's SendMessage is O(queue length)
            ids = []
            while got := receive(send_url):
                ids += [json.loads(m["Body"])["message_id"] for m in got]
            return ids

        # As kizuna.wiring_campaigns.campaign_deps builds them, on these clients.
        clock, data, channels = VirtualClock(NOW), DynamoDataStore(table, ddb), DynamoChannelStore(table, ddb)
        links = LinkTracking(DynamoAggregateStore(res.tables["analytics"], ddb), "https://hooks.example.jp")
        send = SendDeps(data, data, RecordingQueue(SqsSendQueue(send_url, sqs), consume), clock,
                        DynamoTemplateStore(table, ddb), channels, channels, links)  # fmt: skip
        runs = EventBridgeRunScheduler(scheduler, "kizuna-campaigns", res.queue_arns["jobs"],
                                       "arn:aws:iam::123456789012:role/scheduler", res.dlq_arns["jobs"])  # fmt: skip
        deps = CampaignDeps(data, data, DynamoSegmentStore(table, ddb), DynamoCampaignStore(table, ddb),
                            DynamoJobStore(table, ddb), SqsJobQueue(jobs_url, sqs), runs, clock, send,
                            DynamoEndpointCaps(res.tables["limits"], ddb), ARN)  # fmt: skip
        app_id = create_app(data, clock, ARN, {"Name": "bench"}).id
        segment_id = _audience(deps, app_id, MOTO_ENDPOINTS)

        def take() -> list[Any]:
            return [JobEnvelope.model_validate_json(m["Body"]).message for m in receive(jobs_url)]

        return {
            key: _dispatch(deps, app_id, segment_id, MOTO_ENDPOINTS, limits, take, calls)
            for key, limits in (("none", None), ("caps", CAPS))
        }


def run() -> Section:
    mem, moto = run_memory(), run_moto()
    rates = {k: Stats.of([r["rate"] for r in mem[k]]) for k in ("none", "caps")}
    shares = mem["none"][0]["shares"]
    section = Section(
        NAME, "Campaign dispatch (in memory, moto, 10M projection)", f"{PYTHON} bench/run.py --only {NAME}"
    )
    labels = {"none": "no caps", "caps": 'Limits {"Daily": 1} (a cap read + write per endpoint)'}
    keys = sorted(set(moto["none"]["calls"]) | set(moto["caps"]["calls"]))
    calls = [[f"{k[0]} {k[1]}", k[2], *(_per(moto[r]["calls"].get(k, 0)) for r in labels)] for k in keys]
    calls.append(["**all**", "", *(f"**{_per(sum(moto[r]['calls'].values()))}**" for r in labels)])
    projected, verdict = projection(mem, moto, rates)
    section.body = [
        f"{ENDPOINTS:,} SMS endpoints (`+8190XXXXXXXX`, Demographic.Timezone Asia/Tokyo), a one-dimension segment "
        "(Demographic.Channel SMS), an IMMEDIATE campaign with one additional treatment (40%) and a 10% holdout. Timed "
        f"from `create_campaign` until the run's {ENDPOINT_SHARDS} pieces are handled (start_run + run_piece × 16, one "
        "thread): each piece resolves its shard, assigns treatments, counts caps and queues through the send path "
        f"(consent, compose). Checked every run: the {mem['none'][0]['queued']:,} queued messages are the endpoints "
        f"`split_of(campaign).assign` does not hold out (first run: treatment 0 {shares['0']:,}, treatment 1 "
        f"{shares['1']:,}, holdout {shares['holdout']:,}), every id distinct, the run job COMPLETED with that count.",
        "",
        f"**In memory** (in-memory adapters and send queue), {REPEATS} runs each, a new campaign per run:",
        "",
        *table(
            ["campaign", "endpoints/s", "seconds for 100k"],
            [[v, rates[k].fmt(), Stats.of([r["seconds"] for r in mem[k]]).fmt(2)] for k, v in labels.items()],
        ),
        "",
        f"**moto** (in-process `mock_aws`; the real DynamoDB, SQS and EventBridge Scheduler adapters wired as "
        "`kizuna.wiring_campaigns.campaign_deps` does, on the catalog's tables and queues from "
        "`create_local_resources`), "
        f"{MOTO_ENDPOINTS:,} endpoints, one run each: **{moto['none']['rate']:,.0f} endpoints/s** without caps, "
        f"**{moto['caps']['rate']:,.0f}/s** with Daily 1 (moto's CPU bounds this, not AWS; the send queue is read "
        "back after each enqueue to check what landed, untimed). AWS requests per endpoint (count) during dispatch; "
        "the jobs queue's receives and deletes (Lambda's event source on AWS) are not counted:",
        "",
        *table(["request", "table / queue", "no caps", "Daily 1"], calls),
        "",
        *projected,
    ]
    section.verdict = verdict
    return section


def _per(n: int) -> str:
    return f"{n / MOTO_ENDPOINTS:.4f} ({n:,})"


def projection(mem: dict[str, Any], moto: dict[str, Any], rates: dict[str, Stats]) -> tuple[list[str], str]:
    jobs, per_shard = FUNCTIONS["jobs"], PROJECTED / ENDPOINT_SHARDS
    treated = {t: per_shard * n / ENDPOINTS for t, n in mem["none"][0]["shares"].items() if t != "holdout"}
    targeted = sum(treated.values())  # per shard
    pages = math.ceil(per_shard * mem["item_bytes"] / QUERY_PAGE_BYTES)
    consent = sum(math.ceil(n / MAX_RECIPIENTS) for n in treated.values())
    sends = sum(math.ceil(n / SQS_BATCH) for n in treated.values())
    chunks = math.ceil(SQS_BATCH * mem["body_bytes"] / SQS_CHUNK_BYTES)
    scaling = {("BatchGetItem", "data"), ("SendMessageBatch", "send queue"), ("GetItem", "limits"),
               ("PutItem", "limits")}  # fmt: skip
    # Everything else is per run or per piece; of the Queries, the 16 shard scans are 1 page each at 5,000.
    fixed = sum(n for k, n in moto["caps"]["calls"].items() if k[1:] not in scaling) - ENDPOINT_SHARDS
    cpu_factor = LAMBDA_FULL_VCPU_MB / jobs.memory_mb
    waves = math.ceil(ENDPOINT_SHARDS / QUEUES["jobs"].max_concurrency)
    batch_get_s = AWS_LATENCY_S[("dynamodb", "BatchGetItem")]
    mautic_h = MAUTIC_HOURS_PER_MILLION * PROJECTED / 1e6
    rows, out = [], {}
    for key, label in (("none", "no caps"), ("caps", "Daily 1")):
        caps = 2 * targeted if key == "caps" else 0
        cpu = per_shard * (1 / rates[key].median + mem["decode_s"]) * cpu_factor
        io = {"Query": pages * QUERY_PAGE_LATENCY_S, "consent": consent * batch_get_s,
              "send": sends * SEND_BATCH_LATENCY_S, "caps": caps * DEFAULT_LATENCY_S}  # fmt: skip
        piece = cpu + sum(io.values())
        requests = ENDPOINT_SHARDS * (pages + consent + sends + caps) + fixed
        rru = PROJECTED * mem["item_bytes"] / 8192 + ENDPOINT_SHARDS * (targeted + caps / 2)
        cost = {
            "DynamoDB": rru * PRICES_USD["dynamodb.read_request_unit"]
            + ENDPOINT_SHARDS * caps / 2 * PRICES_USD["dynamodb.write_request_unit"],
            "SQS": ENDPOINT_SHARDS * sends * chunks * PRICES_USD["sqs.request"],
            "Lambda": ENDPOINT_SHARDS * piece * jobs.memory_mb / 1024 * PRICES_USD["lambda.gb_second_arm64"],
        }
        total = waves * piece
        out[key] = {"hours": total / 3600, "ratio": mautic_h * 3600 / total, "piece": piece,
                    "fits": PROJECTED * jobs.timeout_s / piece, "cost": sum(cost.values())}  # fmt: skip
        parts = " + ".join(f"{v:,.0f} {k}" for k, v in io.items() if v)
        rows.append([
            label, f"{cpu:,.0f} CPU + {parts} = {piece:,.0f}", f"{out[key]['hours']:.1f} h",
            f"{requests:,.0f} ({requests / PROJECTED:.3f}/endpoint)",
            " + ".join(f"${v:.2f} {k}" for k, v in cost.items()) + f" = **${out[key]['cost']:.2f}**",
            f"**{out[key]['ratio']:,.0f}×**",
        ])  # fmt: skip
    lines = [
        f"**10M endpoints on AWS**, same audience and split: {ENDPOINT_SHARDS} pieces of {per_shard:,.0f} endpoints "
        f"({targeted:,.0f} targeted); the jobs queue runs {QUEUES['jobs'].max_concurrency} at once, so {waves} waves; "
        "inside a piece each call waits for the one before, as `run_piece` does. Assumed latencies (conservative, "
        f"not measured): {QUERY_PAGE_LATENCY_S * 1000:.0f} ms per 1 MB Query page (segment_eval), "
        f"{batch_get_s * 1000:.0f} ms per BatchGetItem of 100 keys and {DEFAULT_LATENCY_S * 1000:.0f} ms per cap "
        f"GetItem or PutItem (import_rate), {SEND_BATCH_LATENCY_S * 1000:.0f} ms per SendMessageBatch. CPU: the "
        f"in-memory rate plus json.loads of each item ({mem['decode_s'] * 1e6:.0f} µs), × {cpu_factor:.2f} because "
        f"the jobs function's {jobs.memory_mb} MB get {jobs.memory_mb / LAMBDA_FULL_VCPU_MB:.2f} vCPU. Prices: "
        "import_rate's (us-east-1 on-demand, aws.amazon.com pricing pages, read 2026-11): "
        f"${PRICES_USD['dynamodb.read_request_unit'] * 1e6:.3f}/M RRU, "
        f"${PRICES_USD['dynamodb.write_request_unit'] * 1e6:.3f}/M WRU, ${PRICES_USD['sqs.request'] * 1e6:.2f}/M "
        "SQS requests, Lambda arm64 GB-s.",
        "",
        *table(["campaign", "one piece (s)", "10M run", "AWS requests", "cost", "vs Mautic"], rows),
        "",
        f"Requests: {ENDPOINT_SHARDS} × ({pages} Query pages [{mem['item_bytes']:.0f} B items] + {consent:,} consent "
        f"BatchGetItem + {sends:,} SendMessageBatch [{mem['body_bytes']:.0f} B bodies, {chunks} billed request each] "
        f"+ with caps 2 × {targeted:,.0f}) + {fixed} per run (campaign, segment, settings, channel rules, job, "
        "schedules). Query reads are eventually consistent (8 KB per RRU); consent keys and cap reads strongly "
        "consistent (1 RRU each, found or not); a cap write is 1 WRU. Mautic (mautic/mautic#2870): "
        f"{MAUTIC_HOURS_PER_MILLION:.0f} h per 1M contacts → {mautic_h:.0f} h for 10M.",
        "",
        f"A piece does not run that long in one invocation: it sends its shard in chunks of {CHUNK:,} and hands the "
        f"rest to a continuation after {PIECE_BUDGET_S:.0f} s (the jobs function's timeout is {jobs.timeout_s} s), "
        f"so a 10M piece is about {math.ceil(out['none']['piece'] / PIECE_BUDGET_S)} parts "
        f"({math.ceil(out['caps']['piece'] / PIECE_BUDGET_S)} with caps); a redelivered part resumes from its own "
        "cursor, and only one chunk of the shard is held in memory at a time. The run's time is the same sum.",
    ]
    verdict = (
        f"in memory {rates['none'].median:,.0f} endpoints/s ({rates['caps'].median:,.0f}/s with caps); moto "
        f"{moto['none']['rate']:,.0f}/s, {sum(moto['none']['calls'].values()) / MOTO_ENDPOINTS:.3f} AWS requests per "
        f"endpoint ({sum(moto['caps']['calls'].values()) / MOTO_ENDPOINTS:.3f} with caps); 10M projected at "
        f"{out['none']['hours']:.1f} h for ${out['none']['cost']:.2f}, {out['none']['ratio']:,.0f}× faster than "
        f"Mautic's {mautic_h:.0f} h ({out['caps']['hours']:.1f} h, {out['caps']['ratio']:,.0f}× with caps), each "
        f"piece in parts of at most {PIECE_BUDGET_S:.0f} s. Caps cost a read and a write per endpoint, one after "
        "another: the next thing to batch."
    )
    return lines, verdict
