"""Send-path throughput and AWS requests per message, in LOCAL MODE (moto server + sandbox Twilio on loopback).

An app and 200 SMS endpoints are created through the stock boto3 pinpoint client; each round sends one SMS to every
endpoint with `send_messages` (batches of 100) and is timed from the first send until every delivery record in the
messages table is terminal. AWS calls are counted with botocore hooks on the handlers' cached clients
(`kizuna.wiring.aws`) and charged to the Lambda function whose invocation made them (bench/aws_meter.py: its
thread-pool work included), or to the local runtime's SQS pollers, which stand in for Lambda's event source mapping;
the pinpoint client's own calls are counted separately. The same run meters what AWS bills besides requests
(invocations, CPU, DynamoDB request units (bench/dynamo_units.py), Firehose records, log bytes) into the section's
figures for bench/cost.py.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import boto3
from aws_meter import CallCounter, FirehoseRecords, LogBytes, Metering, PoolCalls, logging_as_deployed
from dynamo_units import DynamoUnits, item_size
from report import PYTHON, Section, Stats, table

from kizuna import wiring
from kizuna.catalog import FUNCTIONS, QUEUES
from kizuna.domain.messages import TERMINAL
from kizuna.local.sandbox_twilio import SandboxTwilio
from kizuna.local.system import REGION, LocalKizuna

NAME = "send_path"
ENDPOINTS = 200
BATCH = 100
ROUNDS = 3
ROUND_TIMEOUT_S = 180.0  # a shared machine can be slow; only a lost message takes this long
TWILIO_WEBHOOK_TIMEOUT_S = 15.0  # how long Twilio waits for a status callback's answer before it retries
POLL_S = 0.2
BODY = "【Kizuna】ご予約ありがとうございます。明日10時にお待ちしております。"
HANDLER_SERVICES = ("dynamodb", "sqs", "firehose", "secretsmanager", "kms")


def _statuses(ddb: Any, table_name: str, message_ids: list[str]) -> dict[str, str]:
    """Current status of each given delivery record (BatchGetItem, 100 keys a call; cheap for moto, unlike a scan)."""
    found: dict[str, str] = {}
    for start in range(0, len(message_ids), 100):
        request = {
            table_name: {
                "Keys": [{"message_id": {"S": m}} for m in message_ids[start : start + 100]],
                "ProjectionExpression": "message_id, #s",
                "ExpressionAttributeNames": {"#s": "status"},
            }
        }
        while request:
            page = ddb.batch_get_item(RequestItems=request)
            found |= {item["message_id"]["S"]: item["status"]["S"] for item in page["Responses"].get(table_name, [])}
            request = page.get("UnprocessedKeys") or {}
    return found


def _record_sizes(ddb: Any, table_name: str) -> list[int]:
    """DynamoDB item sizes of the delivery records a round left (one scan page: what each message keeps stored
    until its TTL)."""
    return [item_size(i) for i in ddb.scan(TableName=table_name, Limit=100).get("Items", [])]


def _round(kizuna: LocalKizuna, pinpoint: Any, observer: Any, app_id: str, endpoint_ids: list[str]) -> dict:
    twilio_requests, callbacks = len(kizuna.sandbox.requests), len(kizuna.sandbox.callback_log)
    started = time.perf_counter()
    message_ids: set[str] = set()
    for start in range(0, len(endpoint_ids), BATCH):
        response = pinpoint.send_messages(
            ApplicationId=app_id,
            MessageRequest={
                "Endpoints": {e: {} for e in endpoint_ids[start : start + BATCH]},
                "MessageConfiguration": {"SMSMessage": {"Body": BODY, "MessageType": "TRANSACTIONAL"}},
            },
        )["MessageResponse"]
        message_ids |= {r["MessageId"] for r in response["EndpointResult"].values() if "MessageId" in r}
    accepted_s = time.perf_counter() - started
    deadline = started + ROUND_TIMEOUT_S
    final: dict[str, str] = {}
    while True:
        outstanding = sorted(message_ids - final.keys())
        now = _statuses(observer, kizuna.resources.tables["messages"], outstanding)
        final |= {m: s for m, s in now.items() if s in TERMINAL}
        if len(final) == len(message_ids) or time.perf_counter() > deadline:
            break
        time.sleep(POLL_S)
    seconds = time.perf_counter() - started
    kizuna.drain(timeout=ROUND_TIMEOUT_S)  # let trailing event writes finish before the calls are read
    return {
        "seconds": seconds,
        "accepted_s": accepted_s,
        "messages": len(message_ids),
        "terminal": len(final),
        "statuses": Counter(final.values()),
        "twilio_requests": len(kizuna.sandbox.requests) - twilio_requests,
        "callbacks": len(kizuna.sandbox.callback_log) - callbacks,
    }


def measure() -> dict[str, Any]:
    rounds, calls, pooled, pinpoint_calls, metered = [], [], [], [], []
    stdout = LogBytes()
    sandbox = SandboxTwilio(callback_timeout_s=TWILIO_WEBHOOK_TIMEOUT_S)
    local = LocalKizuna(firehose_buffer_s=0, sandbox=sandbox)
    with logging_as_deployed(stdout), Metering() as metering, local as kizuna:
        counter, pool_calls, firehose = CallCounter(), PoolCalls(), FirehoseRecords()
        units = DynamoUnits(kizuna.resources.tables)
        for service in HANDLER_SERVICES:
            for hook in (counter, pool_calls):
                wiring.aws(service).meta.events.register("before-call.*.*", hook)
        units.register(wiring.aws("dynamodb"))
        firehose.register(wiring.aws("firehose"))
        pinpoint = kizuna.pinpoint()
        pinpoint_counter = CallCounter("pinpoint client")
        pinpoint.meta.events.register("before-call.*.*", pinpoint_counter)
        observer = boto3.client("dynamodb", endpoint_url=kizuna.aws_endpoint, region_name=REGION)

        app_id = pinpoint.create_app(CreateApplicationRequest={"Name": "bench"})["ApplicationResponse"]["Id"]
        endpoint_ids = [f"bench-{i:04d}" for i in range(ENDPOINTS)]
        for index, endpoint_id in enumerate(endpoint_ids):
            pinpoint.update_endpoint(
                ApplicationId=app_id,
                EndpointId=endpoint_id,
                EndpointRequest={"ChannelType": "SMS", "Address": f"+8190{index:08d}"},
            )
        kizuna.drain()
        units.settle(observer)
        setup_calls = pinpoint_counter.take()
        for meter in (counter, pool_calls, metering, stdout, units, firehose):
            meter.take()
        for _ in range(ROUNDS):
            rounds.append(_round(kizuna, pinpoint, observer, app_id, endpoint_ids))
            units.settle(observer)
            calls.append(counter.take())
            pooled.append(pool_calls.take())
            pinpoint_calls.append(pinpoint_counter.take())
            invocations, cpu_s, pooled_cpu_s = metering.take()
            log_bytes, log_lines = stdout.take()
            if not rounds[-1].get("record_bytes"):
                rounds[-1]["record_bytes"] = _record_sizes(observer, kizuna.resources.tables["messages"])
            metered.append({
                "invocations": invocations, "cpu_s": cpu_s, "pooled_cpu_s": pooled_cpu_s, "log_bytes": log_bytes,
                "log_lines": log_lines, **units.take(), "firehose": firehose.take(),
            })  # fmt: skip
    return {"rounds": rounds, "calls": calls, "pooled": pooled, "pinpoint": pinpoint_calls, "setup": setup_calls,
            "metered": metered}  # fmt: skip


def figures(m: dict[str, Any]) -> dict[str, float]:
    """Per delivered message, over all rounds: what bench/cost.py prices. `fn.<function>.*` are a Lambda
    function's; `local.<caller>.*` the local runtime's own calls (not a function's)."""
    delivered = sum(r["statuses"]["delivered"] for r in m["rounds"])
    out: Counter[str] = Counter()
    for calls, pooled in zip(m["calls"], m["pooled"], strict=True):
        for (who, service, op), n in calls.items():
            scope = f"fn.{who}" if who in FUNCTIONS else f"local.{who}"
            out[f"{scope}.calls.{service}.{op}"] += n / delivered
        for (who, _, _), n in pooled.items():
            out[f"fn.{who}.pooled_calls"] += n / delivered
    for metered in m["metered"]:
        for name in ("invocations", "cpu_s", "pooled_cpu_s", "log_bytes", "log_lines"):
            for who, value in metered[name].items():
                out[f"fn.{who}.{name}" if who in FUNCTIONS else f"local.{who}.{name}"] += value / delivered
        for name in ("rru", "wru", "index_wru"):
            for (who, table_key), value in metered[name].items():
                scope = f"fn.{who}" if who in FUNCTIONS else f"local.{who}"
                out[f"{scope}.dynamodb.{table_key}.{name}"] += value / delivered
        for who, counts in metered["firehose"].items():
            for name, value in counts.items():
                out[f"fn.{who}.firehose.{name}"] += value / delivered
    for name in ("twilio_requests", "callbacks"):
        out[f"twilio.{name}"] = sum(r[name] for r in m["rounds"]) / delivered
    sizes = [b for r in m["rounds"] for b in r.get("record_bytes", [])]
    out["messages.record_bytes"] = sum(sizes) / max(len(sizes), 1)
    out["delivered"] = delivered
    out["accepted"] = sum(r["messages"] for r in m["rounds"])
    return dict(out)


def run() -> Section:
    section = Section(NAME, "Send path in local mode (moto + sandbox Twilio)", f"{PYTHON} bench/run.py --only {NAME}")
    m = measure()
    rounds, handler_calls, pinpoint_calls, setup_calls = m["rounds"], m["calls"], m["pinpoint"], m["setup"]
    section.figures = figures(m)
    rates = [r["terminal"] / r["seconds"] for r in rounds]
    delivered = [r["statuses"]["delivered"] for r in rounds]
    section.body += [
        "**Local-mode throughput**, not an AWS figure: every AWS call goes to one moto server on loopback, Twilio is "
        "the sandbox (status steps 50 ms apart), and the SQS pollers emulate the event source "
        f"(send queue: batch {QUEUES['send'].batch_size}, max concurrency {QUEUES['send'].max_concurrency}). "
        f"{ENDPOINTS} endpoints, one SMS each per round, `send_messages` in batches of {BATCH}; {ROUNDS} rounds in "
        "one local system (round 1 includes the handlers' first secret fetch and Twilio client). Wall time runs from "
        "the first `send_messages` call until every delivery record is terminal (delivered/failed/undelivered).",
        "",
        *table(
            ["figure", "median (min–max)"],
            [
                ["wall time, first send → all terminal (s)", Stats.of([r["seconds"] for r in rounds]).fmt(2)],
                [
                    "`send_messages` calls, both batches accepted (s)",
                    Stats.of([r["accepted_s"] for r in rounds]).fmt(2),
                ],
                ["messages/s to a terminal status", Stats.of(rates).fmt(1)],
                ["delivered per round", Stats.of(delivered).fmt()],
                [
                    "Twilio API requests per message",
                    Stats.of([r["twilio_requests"] / r["messages"] for r in rounds]).fmt(2),
                ],
                [
                    "Twilio status callbacks per message",
                    Stats.of([r["callbacks"] / r["messages"] for r in rounds]).fmt(2),
                ],
            ],
        ),
        "",
        "AWS API calls per delivered message, per round, median (min–max) over the rounds, by the Lambda function "
        "whose invocation made them (work it hands to a thread pool included: the sender's concurrent sends, the "
        "analytics ledger's claims). The SQS poller rows are the local runtime standing in for Lambda's event source "
        "(idle long-polls included), not a function's calls; any other caller is named by the local-mode module "
        "that made the call:",
        "",
    ]
    keys = sorted({k for calls in handler_calls for k in calls}, key=lambda k: (k[0] not in FUNCTIONS, k))
    rows = []
    for key in keys:
        per_message = [calls[key] / max(d, 1) for calls, d in zip(handler_calls, delivered, strict=True)]
        rows.append([key[0], key[1], key[2], Stats.of(per_message).fmt(2)])
    handler_totals = [
        sum(n for k, n in calls.items() if k[0] in FUNCTIONS) / max(d, 1)
        for calls, d in zip(handler_calls, delivered, strict=True)
    ]
    rows.append(["**functions, all services**", "", "", f"**{Stats.of(handler_totals).fmt(2)}**"])
    section.body += table(["caller", "service", "operation", "calls per delivered message"], rows)
    section.body += ["", *_billing_table(section.figures)]
    pinpoint_rows = [
        [op, Stats.of([calls[("pinpoint client", svc, op)] for calls in pinpoint_calls]).fmt()]
        for (_, svc, op) in sorted({k for calls in pinpoint_calls for k in calls})
    ]
    section.body += [
        "",
        "The pinpoint client's own calls per round: "
        + ", ".join(f"`{op}` × {n}" for op, n in pinpoint_rows)
        + " (setup before the rounds: "
        + ", ".join(f"`{op}` × {n}" for (_, _, op), n in sorted(setup_calls.items()))
        + ").",
    ]
    lost = sum(r["messages"] - r["terminal"] for r in rounds)
    section.verdict = (
        f"{Stats.of(rates).median:.0f} messages/s end to end in local mode (no target: the local stack bounds it, not "
        f"AWS); {Stats.of(handler_totals).median:.1f} AWS calls by the functions per delivered message; "
        + ("every message reached a terminal status." if lost == 0 else f"**{lost} messages never became terminal.**")
    )
    return section


def _billing_table(f: dict[str, float]) -> list[str]:
    """Per delivered message, by function: what AWS bills besides the calls (priced in docs/cost.md)."""
    functions = sorted({k.split(".")[1] for k in f if k.startswith("fn.") and k.endswith(".invocations")})

    def units(fn: str, name: str) -> str:
        by_table = {k.split(".")[3]: v for k, v in f.items() if k.startswith(f"fn.{fn}.dynamodb.") and k.endswith(name)}
        shown = [f"{t} {v:.2f}" for t, v in sorted(by_table.items()) if v]
        return f"{sum(by_table.values()):.2f}" + (f" ({', '.join(shown)})" if len(shown) > 1 else "")

    rows = [
        [
            f"`{fn}`",
            f"{f.get(f'fn.{fn}.invocations', 0):.3f}",
            f"{(f.get(f'fn.{fn}.cpu_s', 0) + f.get(f'fn.{fn}.pooled_cpu_s', 0)) * 1000:.2f}",
            units(fn, ".wru"),
            units(fn, ".index_wru"),
            units(fn, ".rru"),
            f"{f.get(f'fn.{fn}.firehose.records', 0):.2f} / {f.get(f'fn.{fn}.firehose.events', 0):.2f} / "
            f"{f.get(f'fn.{fn}.firehose.billed_bytes', 0) / 1024:.1f}",
            f"{f.get(f'fn.{fn}.log_bytes', 0):,.0f} ({f.get(f'fn.{fn}.log_lines', 0):.1f})",
        ]
        for fn in functions
    ]
    return [
        "Metered per delivered message, by function (all rounds together): invocations; CPU time of the invocation "
        "and its pool tasks on this machine (moto runs on other threads); DynamoDB write units by table, the "
        "writes of the tables' global secondary indexes (entering or leaving an index, one; changing an index key, "
        "two; updating other attributes, one in an index that holds every attribute and none in a keys-only one, "
        "such as the messages table's `open_since`; each sized by what the index holds), and read units (item "
        "sizes by DynamoDB's rules; an update sized by its item afterwards); Firehose records / events / KB billed "
        "(each record rounded up to 5 KB); bytes "
        "written to stdout with logs at INFO and metrics on, as deployed (lines). These are the figures "
        "`docs/cost.md` prices.",
        "",
        *table(
            [
                "function",
                "invocations",
                "CPU (ms)",
                "WRU (by table)",
                "index WRU",
                "RRU",
                "Firehose records / events / KB",
                "log bytes (lines)",
            ],
            rows,
        ),  # fmt: skip
    ]
