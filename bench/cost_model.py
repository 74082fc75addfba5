"""The cost model's arithmetic: measured per-unit counts (the figures bench/send_path.py, analytics_ingest.py and
journey_transitions.py record) × the prices in bench/prices.py → USD per unit, line by line.

Pure functions over plain dicts, so tests can give them figures and check the dollars. What is assumed rather than
measured is named here, once: request latencies (a Lambda waits on its calls, and waiting is billed), Twilio's API
latency, the sender's pace, X-Ray's sampling, the shape of the log lines Lambda and API Gateway add.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from prices import PRICES

from kizuna.catalog import FUNCTIONS, MESSAGE_RETENTION_DAYS, QUEUES, STREAMS

UNIT = 1_000_000
GB = 1024**3
DAYS_PER_MONTH = 365.25 / 12
LAMBDA_FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB; below, a share
# -- assumptions (not measured here) -------------------------------------------------------------------------------
LATENCY_S = {  # one request, same region, warm client: import_rate's and campaign_dispatch's figures, and guesses
    "dynamodb": 0.008,  # import_rate's single-item request
    "sqs": 0.020,  # campaign_dispatch's SendMessageBatch
    "firehose": 0.020,  # a PutRecordBatch, taken as an SQS batch
    "s3": 0.040,  # import_rate's GetObject
    "secretsmanager": 0.030,
}
OTHER_LATENCY_S = 0.010
POOL_PARALLELISM = 10  # a function's pool tasks (the sender's sends) run this many at once: deliver.MAX_PARALLEL_SENDS
TWILIO_API_LATENCY_S = 0.250  # Twilio's Messages create, answered (assumed, conservative)
SENDER_PACE_PER_S = 100  # the sender spaces a batch's sends 1/pace apart (a short code's or a 10DLC campaign's rate)
XRAY_SAMPLED = 0.05  # X-Ray's default rule: 1 request a second, then 5%; at volume, 5% of entry points are traced
LOG_RETENTION_DAYS = 90  # infra/functions.py LOG_RETENTION and the API access logs: THREE_MONTHS
_REQUEST_ID = "8f5e2d1c-3b4a-4c6d-9e8f-0a1b2c3d4e5f"
# What Lambda writes per invocation besides the function's own lines (START, END, REPORT with the X-Ray line of
# active tracing), and API Gateway's access log lines in the formats infra/rest_api.py (the management REST API)
# and infra/webhooks_api.py (the webhooks HTTP API) configure.
PLATFORM_LOG_BYTES = len(
    f"START RequestId: {_REQUEST_ID} Version: $LATEST\n"
    f"END RequestId: {_REQUEST_ID}\n"
    f"REPORT RequestId: {_REQUEST_ID}\tDuration: 104.37 ms\tBilled Duration: 105 ms\tMemory Size: 512 MB\t"
    "Max Memory Used: 118 MB\t\nXRAY TraceId: 1-674f1c2a-5d0e3b8a9c7f6e5d4c3b2a19\tSegmentId: 3a2b1c0d9e8f7a6b\t"
    "Sampled: false\t\n"
)
ACCESS_LOG_BYTES = 1 + len(
    json.dumps(
        {
            "requestId": _REQUEST_ID,
            "ip": "203.0.113.10",
            "requestTime": "03/Dec/2026:13:44:29 +0000",
            "httpMethod": "POST",
            "resourcePath": "/webhooks/twilio/{proxy+}",
            "status": "200",
            "protocol": "HTTP/1.1",
            "responseLength": "63",
        },
        separators=(",", ":"),
    )
)
WEBHOOK_ACCESS_LOG_BYTES = 1 + len(
    json.dumps(
        {
            "requestId": "cP3mWgHxtjMEbXw=",
            "ip": "203.0.113.10",
            "requestTime": "03/Dec/2026:13:44:29 +0000",
            "httpMethod": "POST",
            "routeKey": "ANY /webhooks/twilio/{proxy+}",
            "status": "200",
            "protocol": "HTTP/1.1",
            "responseLength": "63",
        },
        separators=(",", ":"),
    )
)
PER_MESSAGE_FUNCTIONS = ("api", "sender", "twilio_webhook")  # analytics_ingest is priced per event, below


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    quantity: float  # per unit (one message, one event, one participant)
    price: str  # key in PRICES
    note: str = ""

    @property
    def usd_per_unit(self) -> float:
        return self.quantity * PRICES[self.price].usd

    @property
    def usd_per_million(self) -> float:
        return self.usd_per_unit * UNIT


def total(lines: list[Line]) -> float:
    return sum(line.usd_per_million for line in lines)


def _sum(f: Mapping[str, float], prefix: str, suffix: str = "") -> float:
    return sum(v for k, v in f.items() if k.startswith(prefix) and k.endswith(suffix))


def vcpu_share(function: str) -> float:
    return min(1.0, FUNCTIONS[function].memory_mb / LAMBDA_FULL_VCPU_MB)


def io_seconds(calls: Mapping[str, float], pooled_calls: float = 0.0) -> float:
    """Seconds spent waiting on AWS for calls {"service.Operation": n} made one after another, except `pooled_calls`
    (DynamoDB calls of pool tasks), which overlap POOL_PARALLELISM at a time."""
    serial = sum(n * LATENCY_S.get(key.split(".")[0], OTHER_LATENCY_S) for key, n in calls.items())
    return serial - pooled_calls * LATENCY_S["dynamodb"] * (1 - 1 / POOL_PARALLELISM)


def gb_seconds(function: str, cpu_s: float, io_s: float) -> float:
    """Billed GB-seconds: the CPU measured on one core stretched to the function's vCPU share, plus its waits."""
    return (cpu_s / vcpu_share(function) + io_s) * FUNCTIONS[function].memory_mb / 1024


def _calls(f: Mapping[str, float], prefix: str) -> dict[str, float]:
    return {k.removeprefix(prefix): v for k, v in f.items() if k.startswith(prefix)}


# -- one delivered SMS ----------------------------------------------------------------------------------------------


def function_seconds(f: Mapping[str, float], fn: str) -> float:
    """GB-seconds per delivered message of one function of the send path (figures of bench/send_path.py)."""
    p = f"fn.{fn}."
    cpu = f.get(p + "cpu_s", 0.0) + f.get(p + "pooled_cpu_s", 0.0)
    io = io_seconds(_calls(f, p + "calls."), f.get(p + "pooled_calls", 0.0))
    invocations = f.get(p + "invocations", 0.0)
    if fn == "sender" and invocations:  # each batch's sends: paced 1/pace apart, the last one's answer awaited
        per_batch = f.get("twilio.twilio_requests", 0.0) / invocations
        io += invocations * (TWILIO_API_LATENCY_S + max(0.0, per_batch - 1) / SENDER_PACE_PER_S)
    return gb_seconds(fn, cpu, io)


def sms_lines(f: Mapping[str, float], a: Mapping[str, float]) -> list[Line]:
    """AWS per delivered SMS, status callbacks and analytics of its events included (f: send_path's figures, a:
    analytics_ingest's)."""
    fns = PER_MESSAGE_FUNCTIONS
    inv = {fn: f.get(f"fn.{fn}.invocations", 0.0) for fn in fns}
    events = sum(f.get(f"fn.{fn}.firehose.events", 0.0) for fn in fns)
    sqs_calls = sum(_sum(f, f"fn.{fn}.calls.sqs.") for fn in fns)
    consumers = sum(inv[fn] for fn in fns if any(q.consumer == fn for q in QUEUES.values()))
    log_bytes = sum(f.get(f"fn.{fn}.log_bytes", 0.0) + inv[fn] * PLATFORM_LOG_BYTES for fn in fns)
    api_requests = inv["twilio_webhook"] + inv["api"]
    access_log_bytes = inv["twilio_webhook"] * WEBHOOK_ACCESS_LOG_BYTES + inv["api"] * ACCESS_LOG_BYTES
    wru = {t: sum(_sum(f, f"fn.{fn}.dynamodb.{t}.", "wru") for fn in fns) for t in _tables(f, fns)}
    lines = [
        Line(
            "API Gateway",
            "webhooks API (HTTP API): Twilio status callbacks",
            inv["twilio_webhook"],
            "apigateway.http_request",
            "each under 512 KB, so one metered request",
        ),
        Line(
            "API Gateway", "management API (REST): SendMessages, 100 a request", inv["api"], "apigateway.rest_request"
        ),
        Line(
            "Lambda", "requests: " + ", ".join(f"{fn} {inv[fn]:.2f}" for fn in fns), sum(inv.values()), "lambda.request"
        ),
        *[
            Line(
                "Lambda",
                f"duration: {fn} ({FUNCTIONS[fn].memory_mb} MB)",
                function_seconds(f, fn),
                "lambda.gb_second_arm64",
            )
            for fn in fns
        ],
        *[
            Line("DynamoDB", f"writes: {t} table and its indexes", n, "dynamodb.write_request_unit")
            for t, n in sorted(wru.items())
            if n
        ],
        Line(
            "DynamoDB",
            "reads: every table",
            sum(_sum(f, f"fn.{fn}.dynamodb.", "rru") for fn in fns),
            "dynamodb.read_request_unit",
        ),
        Line(
            "DynamoDB",
            f"storage: the delivery record for {MESSAGE_RETENTION_DAYS} days (its TTL)",
            f.get("messages.record_bytes", 0.0) / GB * MESSAGE_RETENTION_DAYS / DAYS_PER_MONTH,
            "dynamodb.storage_gb_month",
        ),
        Line("SQS", "sends: the send queue (SendMessageBatch of 10), re-enqueued waits", sqs_calls, "sqs.request"),
        Line(
            "SQS",
            "event source mapping: a ReceiveMessage and a DeleteMessageBatch per batch",
            2 * consumers,
            "sqs.request",
        ),
        Line(
            "Firehose",
            "ingestion: "
            + ", ".join(
                f"{fn} {f.get(f'fn.{fn}.firehose.records', 0):.2f} records"
                for fn in fns
                if f.get(f"fn.{fn}.firehose.records")
            ),
            sum(f.get(f"fn.{fn}.firehose.billed_bytes", 0.0) for fn in fns) / GB,
            "firehose.ingest_gb",
            "each record rounded up to 5 KB",
        ),
        *_stream_lines(events, a),
        Line(
            "CloudWatch Logs",
            "function lines + Lambda's START/END/REPORT + access log lines",
            (log_bytes + access_log_bytes) / GB,
            "logs.ingest_gb",
        ),
        Line(
            "CloudWatch Logs",
            f"storage for {LOG_RETENTION_DAYS} days",
            (log_bytes + access_log_bytes) / GB * LOG_RETENTION_DAYS / DAYS_PER_MONTH,
            "logs.storage_gb_month",
            "uncompressed bytes: an upper bound",
        ),
        Line(
            "X-Ray",
            f"traces: {XRAY_SAMPLED:.0%} of requests and queue batches",
            XRAY_SAMPLED * (api_requests + consumers),
            "xray.trace",
        ),
        Line(
            "Secrets Manager",
            "GetSecretValue (once per cold start)",
            sum(_sum(f, f"fn.{fn}.calls.secretsmanager.") for fn in fns),
            "secretsmanager.request",
        ),
        *ingest_lines(a, events, f"analytics of the message's {events:.1f} events: "),
    ]
    return [line for line in lines if line.quantity]


def _tables(f: Mapping[str, float], fns: tuple[str, ...]) -> set[str]:
    return {k.split(".")[3] for k in f for fn in fns if k.startswith(f"fn.{fn}.dynamodb.")}


def _stream_lines(events: float, a: Mapping[str, float]) -> list[Line]:
    """After Firehose's ingestion: dynamic partitioning's bytes and objects, S3 objects and their storage."""
    event_bytes = a.get("firehose.bytes_per_event", 0.0)
    objects = events * a.get("ingest.objects", 0.0)
    return [
        Line(
            "Firehose", "dynamic partitioning: bytes delivered", events * event_bytes / GB, "firehose.partitioning_gb"
        ),
        Line("Firehose", "dynamic partitioning: objects delivered", objects, "firehose.partitioning_object"),
        Line("S3", "PUT of the stream's objects (Firehose)", objects, "s3.put"),
        Line(
            "S3",
            f"storage of the events for {STREAMS['events'].expire_days} days (the stream's expiry)",
            events * event_bytes / GB * STREAMS["events"].expire_days / DAYS_PER_MONTH,
            "s3.storage_gb_month",
        ),
    ]


def ingest_lines(a: Mapping[str, float], events: float, label: str = "") -> list[Line]:
    """analytics_ingest counting `events` event lines (figures of bench/analytics_ingest.py, per line)."""
    calls = _calls(a, "ingest.calls.")
    seconds = gb_seconds("analytics_ingest", a.get("ingest.cpu_s", 0.0), io_seconds(calls))
    invocations = a.get("ingest.invocations", 0.0)
    logs = a.get("ingest.log_bytes", 0.0) + invocations * PLATFORM_LOG_BYTES
    return [
        Line(
            "DynamoDB",
            label + "ledger claims and aggregates (writes)",
            events * (a.get("ingest.wru", 0.0) + a.get("ingest.index_wru", 0.0)),
            "dynamodb.write_request_unit",
        ),
        Line("DynamoDB", label + "reads", events * a.get("ingest.rru", 0.0), "dynamodb.read_request_unit"),
        Line("Lambda", label + "analytics_ingest requests", events * invocations, "lambda.request"),
        Line(
            "Lambda",
            label + f"analytics_ingest duration ({FUNCTIONS['analytics_ingest'].memory_mb} MB)",
            events * seconds,
            "lambda.gb_second_arm64",
        ),
        Line("S3", label + "GetObject of the stream's objects", events * calls.get("s3.GetObject", 0.0), "s3.get"),
        Line(
            "SQS",
            label + "S3's notification + the event source's receive and delete",
            events * (a.get("ingest.objects", 0.0) + 2 * invocations),
            "sqs.request",
        ),
        Line("CloudWatch Logs", label + "analytics_ingest's lines", events * logs / GB, "logs.ingest_gb"),
    ]


# -- one ingested event (PutEvents) ---------------------------------------------------------------------------------


def event_lines(a: Mapping[str, float]) -> list[Line]:
    """AWS per event sent with PutEvents through the management API, counted into the KPIs and kept in S3."""
    per = 1 / max(a.get("put_events.events", 1.0), 1.0)  # a request's share per event
    calls = _calls(a, "put_events.calls.")
    invocations = a.get("put_events.invocations", 0.0)
    seconds = gb_seconds("api", a.get("put_events.cpu_s", 0.0), io_seconds(calls))
    logs = a.get("put_events.log_bytes", 0.0) + invocations * PLATFORM_LOG_BYTES + ACCESS_LOG_BYTES
    lines = [
        Line(
            "API Gateway",
            "management API (REST): PutEvents",
            per,
            "apigateway.rest_request",
            f"{1 / per:.0f} events a request",
        ),
        Line("Lambda", "api requests", per * invocations, "lambda.request"),
        Line("Lambda", f"api duration ({FUNCTIONS['api'].memory_mb} MB)", per * seconds, "lambda.gb_second_arm64"),
        Line(
            "DynamoDB",
            "api reads (the caller's key, event-triggered campaigns and journeys)",
            per * a.get("put_events.rru", 0.0),
            "dynamodb.read_request_unit",
        ),
        Line(
            "DynamoDB",
            "api writes",
            per * (a.get("put_events.wru", 0.0) + a.get("put_events.index_wru", 0.0)),
            "dynamodb.write_request_unit",
        ),
        Line(
            "Firehose",
            "ingestion: a request's events packed as JSON lines",
            per * a.get("put_events.firehose_billed_bytes", 0.0) / GB,
            "firehose.ingest_gb",
        ),
        *_stream_lines(1.0, a),
        Line("CloudWatch Logs", "api lines + Lambda's lines + the access log line", per * logs / GB, "logs.ingest_gb"),
        Line("X-Ray", f"traces: {XRAY_SAMPLED:.0%} of requests", per * XRAY_SAMPLED, "xray.trace"),
        *ingest_lines(a, 1.0),
    ]
    return [line for line in lines if line.quantity]


# -- one journey participant ----------------------------------------------------------------------------------------


def journey_lines(j: Mapping[str, float]) -> list[Line]:
    """AWS per participant of bench/journey_transitions.py's journey (its messages priced as SMS, apart)."""
    p = "per_participant."
    invocations = j.get(p + "lambda_invocations", 0.0)
    lines = [
        Line("Step Functions", "Standard state transitions", j.get(p + "transitions", 0.0), "stepfunctions.transition"),
        Line("Lambda", "journeys requests", invocations, "lambda.request"),
        Line(
            "Lambda",
            f"journeys duration ({FUNCTIONS['journeys'].memory_mb} MB)",
            j.get(p + "lambda_gb_seconds", 0.0),
            "lambda.gb_second_arm64",
        ),
        Line(
            "DynamoDB",
            "participant moves, enrolment, the latest journey message (writes)",
            j.get(p + "dynamodb_wru", 0.0),
            "dynamodb.write_request_unit",
        ),
        Line(
            "DynamoDB",
            "endpoint, consent and delivery-record reads",
            j.get(p + "dynamodb_rru", 0.0),
            "dynamodb.read_request_unit",
        ),
        Line(
            "SQS",
            "the messages onto the send queue (SendMessageBatch of 10)",
            j.get(p + "sqs_requests", 0.0),
            "sqs.request",
        ),
        Line(
            "CloudWatch Logs",
            "Lambda's lines of the journeys invocations",
            invocations * PLATFORM_LOG_BYTES / GB,
            "logs.ingest_gb",
        ),
    ]
    return [line for line in lines if line.quantity]
