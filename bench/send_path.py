"""Send-path throughput and AWS requests per message, in LOCAL MODE (moto server + sandbox Twilio on loopback).

An app and 200 SMS endpoints are created through the stock boto3 pinpoint client; each round sends one SMS to every
endpoint with `send_messages` (batches of 100) and is timed from the first send until every delivery record in the
messages table is terminal. AWS calls are counted with a botocore `before-call` hook on the handlers' cached clients
(`kizuna.wiring.aws`), split into calls made by the handlers and calls made by the local runtime's SQS pollers
(which stand in for Lambda's event source mapping and cost nothing per call in AWS); the pinpoint client's own calls
are counted separately.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from collections import Counter
from typing import Any

import boto3
from report import PYTHON, Section, Stats, table

from kizuna import wiring
from kizuna.catalog import QUEUES
from kizuna.domain.messages import TERMINAL
from kizuna.local.system import REGION, LocalKizuna

NAME = "send_path"
ENDPOINTS = 200
BATCH = 100
ROUNDS = 3
ROUND_TIMEOUT_S = 60.0
POLL_S = 0.2
BODY = "【Kizuna】ご予約ありがとうございます。明日10時にお待ちしております。"
HANDLER_SERVICES = ("dynamodb", "sqs", "firehose", "secretsmanager", "kms")
LOCAL_RUNTIME = "local SQS poller"


class CallCounter:
    """Counts botocore API calls by (caller, service, operation); thread-safe (handlers run on poller threads)."""

    def __init__(self, caller: str | None = None) -> None:
        self.caller = caller
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any, **_: Any) -> None:
        key = (self.caller or _caller(), model.service_model.service_name, model.name)
        with self._lock:
            self.counts[key] += 1

    def take(self) -> Counter[tuple[str, str, str]]:
        with self._lock:
            counts, self.counts = self.counts, Counter()
        return counts


def _caller() -> str:
    """Who called the client: the local runtime's poller (first frame outside botocore/boto3), else the handler
    whose functions/<key>/handler.py is on the stack."""
    frame = sys._getframe(2)
    while frame is not None and re.search(r"/(botocore|boto3|bench)/", frame.f_code.co_filename.replace("\\", "/")):
        frame = frame.f_back
    if frame is not None and frame.f_code.co_filename.replace("\\", "/").endswith("kizuna/local/runtime_queues.py"):
        return LOCAL_RUNTIME
    while frame is not None:
        match = re.search(r"/functions/(\w+)/handler\.py$", frame.f_code.co_filename.replace("\\", "/"))
        if match:
            return f"`{match.group(1)}` handler"
        frame = frame.f_back
    return "other"


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


def run() -> Section:
    section = Section(NAME, "Send path in local mode (moto + sandbox Twilio)", f"{PYTHON} bench/run.py --only {NAME}")
    rounds, handler_calls, pinpoint_calls = [], [], []
    # The handlers print CloudWatch EMF metrics to stdout (as in Lambda); keep them out of the runner's output.
    with (
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),
        LocalKizuna(firehose_buffer_s=0) as kizuna,
    ):
        counter = CallCounter()
        for service in HANDLER_SERVICES:
            wiring.aws(service).meta.events.register("before-call.*.*", counter)
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
        setup_calls = pinpoint_counter.take()
        counter.take()
        for _ in range(ROUNDS):
            rounds.append(_round(kizuna, pinpoint, observer, app_id, endpoint_ids))
            handler_calls.append(counter.take())
            pinpoint_calls.append(pinpoint_counter.take())

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
        "AWS API calls per delivered message, per round, median (min–max) over the rounds; the SQS poller rows are "
        "the local runtime standing in for Lambda's event source (idle long-polls included), not handler code:",
        "",
    ]
    keys = sorted({k for calls in handler_calls for k in calls}, key=lambda k: (k[0] == LOCAL_RUNTIME, k))
    rows = []
    for key in keys:
        per_message = [calls[key] / max(d, 1) for calls, d in zip(handler_calls, delivered, strict=True)]
        rows.append([key[0], key[1], key[2], Stats.of(per_message).fmt(2)])
    handler_totals = [
        sum(n for k, n in calls.items() if k[0].endswith("handler")) / max(d, 1)
        for calls, d in zip(handler_calls, delivered, strict=True)
    ]
    rows.append(["**handlers, all services**", "", "", f"**{Stats.of(handler_totals).fmt(2)}**"])
    section.body += table(["caller", "service", "operation", "calls per delivered message"], rows)
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
        f"AWS); {Stats.of(handler_totals).median:.1f} handler AWS calls per delivered message; "
        + ("every message reached a terminal status." if lost == 0 else f"**{lost} messages never became terminal.**")
    )
    return section
