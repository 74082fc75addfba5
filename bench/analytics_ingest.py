"""Analytics in LOCAL MODE: events ingested per second, DynamoDB writes per event (requests and write units, the
ledger's claim included), reads per KPI query over 31 days, and Firehose bytes per event.

A reproducible mix of a week's events for one app (bench/analytics_event_mix.py: transactional SMS, app sessions and
custom events, 2% of the lines replayed). The lines are cut into objects of 1,000 (a busy minute of Firehose's 60 s
buffer) and put into moto's events bucket; S3 announces each object and the real analytics_ingest handler counts it
through the local SQS poller. Timed from the first put until every queue is idle. Then every KPI below is queried
with the stock boto3 client for the 31 days ending today and compared with a recount of the generated events.

Then PutEvents through the management API (the stock client → the api function), metered per request. The
section's figures (per event line and per PutEvents request: invocations, CPU, request units, Firehose bytes) are
what bench/cost.py prices.

Write units: a PutItem of an item up to 1 KB is one WRU; a transaction's items cost two each; an UpdateItem costs the
size of the item after it (upper bound: the counter item's final size). Sizes follow DynamoDB's item-size rules.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics_event_mix import APP_ENDPOINTS, MESSAGES, exactness, generate, iso  # noqa: E402
from aws_meter import FIREHOSE_BILLING_INCREMENT, CallCounter, LogBytes, Metering, logging_as_deployed  # noqa: E402
from dynamo_units import DynamoUnits, item_size, write_units  # noqa: E402

from kizuna import wiring  # noqa: E402
from kizuna.adapters.firehose_events import pack_records  # noqa: E402
from kizuna.local.system import LocalKizuna  # noqa: E402
from kizuna.services.ingest_events import stream_event  # noqa: E402

NAME = "analytics_ingest"
LINES_PER_OBJECT = 1000
TARGET_WRITES_PER_EVENT = 1.0
# PutEvents through the management API (the stock client → the api function), metered for the cost model.
PUT_EVENTS_REQUESTS = 50
EVENTS_PER_REQUEST = 10  # a mobile SDK's batch (Amplify flushes what it queued; up to 100 per request)
TARGET_READS_PER_QUERY = 3
KPIS = [
    "txn-sms-sent",
    "txn-sms-delivered-grouped-by-date",
    "txn-sms-delivery-rate-grouped-by-date",
    "txn-sms-error-distribution",
    "txn-sms-sent-grouped-by-country",
    "messages-sent-grouped-by-date",
    "daily-active-endpoints-grouped-by-date",
    "monthly-active-endpoints-grouped-by-date",
    "sticky-factor-grouped-by-date",
    "sessions-grouped-by-date",
    "retention-7-day-grouped-by-date",
    "events-grouped-by-event-type",
]


class WriteUnits:
    """A before-parameter-build hook (it sees the API parameters) adding up the write units of the analytics writes;
    updates are sized after the run."""

    def __init__(self) -> None:
        self.units: Counter = Counter()
        self.updates: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.service_model.service_name != "dynamodb":
            return
        if model.name == "PutItem":
            self.units["PutItem (ledger claims)" if "src" in params["Item"] else "PutItem (sketches)"] += write_units(
                item_size(params["Item"])
            )
        elif model.name == "TransactWriteItems":
            for action in params["TransactItems"]:
                if "Put" in action:
                    self.units["TransactWriteItems"] += 2 * write_units(item_size(action["Put"]["Item"]))
                elif "Update" in action:
                    self.updates.append((action["Update"]["TableName"], action["Update"]["Key"]))

    def settle(self, ddb: Any) -> None:
        sizes: dict[str, int] = {}
        for table, key in self.updates:
            ident = json.dumps(key, sort_keys=True)
            if ident not in sizes:
                item = ddb.get_item(TableName=table, Key=key).get("Item", {})
                sizes[ident] = item_size(item)
            self.units["TransactWriteItems"] += 2 * write_units(sizes[ident])


def _billed(emits: list[list[int]]) -> float:
    """Billed Firehose bytes per event when each inner list of event sizes is one emit call of the sink."""
    records = [len(r) for sizes in emits for r in pack_records([b"x" * n for n in sizes])]
    return sum(math.ceil(n / FIREHOSE_BILLING_INCREMENT) * FIREHOSE_BILLING_INCREMENT for n in records) / sum(
        len(sizes) for sizes in emits
    )


def measure() -> dict[str, Any]:
    stdout = LogBytes()
    with logging_as_deployed(stdout), Metering() as metering, LocalKizuna() as kizuna:
        pinpoint = kizuna.pinpoint()
        app_id = pinpoint.create_app(CreateApplicationRequest={"Name": "bench"})["ApplicationResponse"]["Id"]
        now = datetime.now(UTC)
        lines, truth = generate(app_id, now)
        counter, units, request_units = CallCounter(), WriteUnits(), DynamoUnits(kizuna.resources.tables)
        for service in ("dynamodb", "s3", "sts", "sqs", "firehose"):
            wiring.aws(service).meta.events.register("before-call.*.*", counter)
        wiring.aws("dynamodb").meta.events.register("before-parameter-build.dynamodb.*", units)
        request_units.register(wiring.aws("dynamodb"))
        for meter in (metering, stdout, request_units):
            meter.take()
        s3 = wiring.aws("s3")
        started = time.monotonic()
        for index in range(0, len(lines), LINES_PER_OBJECT):
            body = b"".join(lines[index : index + LINES_PER_OBJECT])
            s3.put_object(
                Bucket=kizuna.resources.bucket, Key=f"events/bench/{index // LINES_PER_OBJECT:05d}", Body=body
            )
        assert kizuna.drain_analytics(timeout=1800), "the analytics pipeline did not settle"
        seconds = time.monotonic() - started
        ingest_calls = {k: v for k, v in counter.take().items() if k[0] == "analytics_ingest"}
        units.settle(wiring.aws("dynamodb"))
        request_units.settle(wiring.aws("dynamodb"))
        invocations, cpu_s, pooled_cpu_s = metering.take()
        ingest = {
            "invocations": invocations["analytics_ingest"],
            "cpu_s": cpu_s["analytics_ingest"] + pooled_cpu_s["analytics_ingest"],
            "log_bytes": stdout.take()[0]["analytics_ingest"],
            "units": request_units.take(),
        }

        reads: dict[str, int] = {}
        answers: dict[str, dict[str, float]] = {}
        for name in KPIS:
            counter.take()
            rows = pinpoint.get_application_date_range_kpi(
                ApplicationId=app_id, KpiName=name, StartTime=now - timedelta(days=30), EndTime=now
            )["ApplicationDateRangeKpiResponse"]["KpiResult"]["Rows"]
            calls = counter.take()
            reads[name] = sum(
                v
                for (caller, service, op), v in calls.items()
                if service == "dynamodb" and op in ("Query", "GetItem", "BatchGetItem", "Scan")
            )  # noqa: E501
            answers[name] = {
                (r["GroupedBys"][0]["Value"] if r["GroupedBys"] else ""): float(r["Values"][0]["Value"]) for r in rows
            }  # noqa: E501
        put_events = _put_events(kizuna, pinpoint, app_id, counter, metering, stdout, request_units)
    return {
        "put_events": put_events,
        "ingest": ingest,
        "lines": len(lines),
        "distinct": truth["distinct_lines"],
        "objects": math.ceil(len(lines) / LINES_PER_OBJECT),
        "seconds": seconds,
        "calls": ingest_calls,
        "units": dict(units.units),
        "reads": reads,
        "answers": answers,
        "truth": truth,
        "bytes": [len(line) for line in lines],
        "exact": exactness(answers, truth),
    }


def _put_events(kizuna, pinpoint, app_id, counter, metering, stdout, units) -> dict[str, Any]:  # noqa: ANN001
    """PUT_EVENTS_REQUESTS PutEvents of EVENTS_PER_REQUEST custom events each, one endpoint per request: what the
    api function does per request (its analytics hooks, its emit) and the event lines it hands to Firehose."""
    kizuna.drain_analytics(timeout=600)
    for meter in (counter, metering, stdout, units):
        meter.take()
    emitted: list[list[int]] = []
    for r in range(PUT_EVENTS_REQUESTS):
        at = datetime.now(UTC)
        events = {
            f"pe{r}-{e}": {"EventType": "view_item", "Timestamp": iso(at), "Attributes": {"item": "抹茶"},
                           "Metrics": {"price": 1200.0}, "Session": {"Id": f"s{r}", "StartTimestamp": iso(at)}}
            for e in range(EVENTS_PER_REQUEST)
        }  # fmt: skip
        pinpoint.put_events(
            ApplicationId=app_id,
            EventsRequest={"BatchItem": {f"app-{r % APP_ENDPOINTS}": {"Endpoint": {}, "Events": events}}},
        )
        emitted.append(
            [len(json.dumps(stream_event(app_id, f"app-{r}", k, v, {}, at, "bench"), ensure_ascii=False,
                            separators=(",", ":")).encode()) + 1 for k, v in events.items()]
        )  # fmt: skip
    kizuna.drain()
    units.settle(wiring.aws("dynamodb"))
    invocations, cpu_s, pooled_cpu_s = metering.take()
    return {
        "requests": PUT_EVENTS_REQUESTS,
        "events": PUT_EVENTS_REQUESTS * EVENTS_PER_REQUEST,
        "invocations": invocations["api"],
        "cpu_s": cpu_s["api"] + pooled_cpu_s["api"],
        "calls": {k: v for k, v in counter.take().items() if k[0] == "api"},
        "log_bytes": stdout.take()[0]["api"],
        "units": units.take(),
        "billed_bytes": _billed(emitted) * PUT_EVENTS_REQUESTS * EVENTS_PER_REQUEST,
        "records": sum(len(list(pack_records([b"x" * n for n in sizes]))) for sizes in emitted),
    }


def run() -> Any:
    from report import PYTHON, Section, table

    m = measure()
    distinct = m["distinct"]
    requests = Counter()
    for (_, service, op), n in m["calls"].items():
        requests[(service, op)] += n
    write_requests = sum(
        n
        for (s, op), n in requests.items()
        if s == "dynamodb" and op in ("PutItem", "TransactWriteItems", "UpdateItem", "BatchWriteItem")
    )  # noqa: E501
    total_units = sum(m["units"].values())
    claim_units = m["units"].get("PutItem (ledger claims)", 0)
    avg_bytes = sum(m["bytes"]) / len(m["bytes"])
    alone = _billed([[b] for b in m["bytes"]])
    # PutEvents requests (≤ 100 events) and sender batches reach the sink as one emit: packed into JSON-lines records.
    packed = _billed([m["bytes"][i : i + 100] for i in range(0, len(m["bytes"]), 100)])
    max_reads = max(m["reads"].values())
    section = Section(NAME, "Analytics ingest and KPI queries (local mode)", f"{PYTHON} bench/run.py --only {NAME}")
    section.body = [
        f"{m['lines']:,} event lines ({distinct:,} distinct, {m['lines'] - distinct:,} replayed) in "
        f"{m['objects']} objects of up to {LINES_PER_OBJECT:,} in event-time order: {MESSAGES:,} transactional SMS "
        f"(3 events each, 2% refused at submission, 4% undelivered) and {APP_ENDPOINTS:,} app endpoints with 1–4 "
        "sessions of 3 events, over the last 7 days. "
        f"Counted in **{m['seconds']:.1f} s = {m['lines'] / m['seconds']:,.0f} events/s locally** (moto, one "
        "process, DynamoDB writes serialised by local mode; an AWS figure would be bounded by DynamoDB, not this).",
        "",
        "AWS requests made by `analytics_ingest` (the local SQS pollers' own calls left out):",
        "",
        *table(
            ["service", "operation", "calls", "per event line"],
            [[s, op, f"{n:,}", f"{n / m['lines']:.4f}"] for (s, op), n in sorted(requests.items())],
        ),
        "",
        "DynamoDB write units (WRU; on-demand billing) by kind:",
        "",
        *table(
            ["writes", "WRU", "per distinct event"],
            [[k, f"{v:,}", f"{v / distinct:.3f}"] for k, v in sorted(m["units"].items())]
            + [["**all**", f"**{total_units:,}**", f"**{total_units / distinct:.3f}**"]],
        ),
        "",
        f"Write requests per event line: {write_requests / m['lines']:.3f}. The ledger claim is one conditional "
        f"PutItem per event ({claim_units / distinct:.2f} WRU per distinct event): recognising a replay of any event "
        "of the last 90 days needs each event id remembered, and that is one item per event. Everything else — "
        f"counters, activity states, sketches, markers — is {(total_units - claim_units) / distinct:.3f} WRU per "
        "event, batched per object chunk.",
        "",
        "KPI queries for the 31 days ending today (stock boto3 client → the `api` handler), reads per query:",
        "",
        *table(["KPI", "DynamoDB reads", "rows"], [[k, m["reads"][k], len(m["answers"][k])] for k in KPIS]),
        "",
        "Exactness, the KPI against a recount of the generated events: "
        + ", ".join(f"{k} {'equal' if ok else 'DIFFERENT'}" for k, ok in m["exact"].items())
        + ".",
        "",
        f"Firehose bytes per event: {avg_bytes:,.0f} B of JSON on average (min {min(m['bytes'])}, max "
        f"{max(m['bytes'])}). Firehose bills each record rounded up to 5 KB: an event emitted alone (a status "
        f"callback) is billed {alone / 1024:.1f} KB; events emitted together (a PutEvents request of 100, a sender "
        f"batch) are packed as JSON lines into shared records (`pack_records`): {packed / 1024:.2f} KB billed "
        "per event.",
    ]
    section.body += ["", *_put_events_note(m["put_events"])]
    section.figures = figures(m, packed, alone)
    met = total_units / distinct <= TARGET_WRITES_PER_EVENT
    section.verdict = (
        f"{m['lines'] / m['seconds']:,.0f} events/s locally; {total_units / distinct:.2f} WRU per event "
        f"(target ≤ {TARGET_WRITES_PER_EVENT:g}: {'met' if met else 'missed'} — the ledger claim alone is "
        f"{claim_units / distinct:.2f}, aggregation {(total_units - claim_units) / distinct:.3f}); at most {max_reads} "
        f"reads per 31-day KPI query (target ≤ {TARGET_READS_PER_QUERY}: "
        f"{'met' if max_reads <= TARGET_READS_PER_QUERY else 'missed'}); {avg_bytes:,.0f} B per event to Firehose; "
        f"KPIs {'equal' if all(m['exact'].values()) else 'DIFFER FROM'} the recount."
    )
    return section


def _sum_units(units: dict[str, Counter], name: str, who: str) -> float:
    return sum(v for (caller, _), v in units[name].items() if caller == who)


def figures(m: dict[str, Any], packed: float, alone: float) -> dict[str, float]:
    """Per event line counted (replays included: each is ingested and billed) and per PutEvents request."""
    lines, ingest, put = m["lines"], m["ingest"], m["put_events"]
    out = {
        "ingest.invocations": ingest["invocations"] / lines,
        "ingest.cpu_s": ingest["cpu_s"] / lines,
        "ingest.log_bytes": ingest["log_bytes"] / lines,
        "ingest.wru": sum(m["units"].values()) / lines,
        "ingest.index_wru": _sum_units(ingest["units"], "index_wru", "analytics_ingest") / lines,
        "ingest.rru": _sum_units(ingest["units"], "rru", "analytics_ingest") / lines,
        "ingest.objects": m["objects"] / lines,  # one Firehose object per LINES_PER_OBJECT lines (60 s buffer)
        "firehose.bytes_per_event": sum(m["bytes"]) / lines,
        "firehose.billed_bytes_per_event_packed": packed,
        "firehose.billed_bytes_per_event_alone": alone,
        "put_events.events": put["events"] / put["requests"],
        "put_events.invocations": put["invocations"] / put["requests"],
        "put_events.cpu_s": put["cpu_s"] / put["requests"],
        "put_events.log_bytes": put["log_bytes"] / put["requests"],
        "put_events.wru": _sum_units(put["units"], "wru", "api") / put["requests"],
        "put_events.index_wru": _sum_units(put["units"], "index_wru", "api") / put["requests"],
        "put_events.rru": _sum_units(put["units"], "rru", "api") / put["requests"],
        "put_events.firehose_records": put["records"] / put["requests"],
        "put_events.firehose_billed_bytes": put["billed_bytes"] / put["requests"],
    }
    for (_, service, op), n in m["calls"].items():
        out[f"ingest.calls.{service}.{op}"] = out.get(f"ingest.calls.{service}.{op}", 0) + n / lines
    for (_, service, op), n in put["calls"].items():
        out[f"put_events.calls.{service}.{op}"] = out.get(f"put_events.calls.{service}.{op}", 0) + n / put["requests"]
    return out


def _put_events_note(put: dict[str, Any]) -> list[str]:
    n = put["requests"]
    calls = ", ".join(f"{s}.{op} {v / n:.2f}" for (_, s, op), v in sorted(put["calls"].items()))
    return [
        f"PutEvents through the management API: {n} requests of {put['events'] // n} custom events (stock boto3 "
        f"client → the `api` function): per request {put['invocations'] / n:.2f} invocations, "
        f"{put['cpu_s'] / n * 1000:.1f} ms CPU, AWS calls {calls or 'none'}; its events reach Firehose as "
        f"{put['records'] / n:.1f} record(s), {put['billed_bytes'] / n / 1024:.1f} KB billed."
    ]


def _jsonable(value: Any) -> Any:
    """The measurement as JSON: its call counters are keyed by (function, service, operation) tuples."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else "/".join(map(str, k)): _jsonable(v) for k, v in value.items()}
    return value


if __name__ == "__main__":
    result = measure()
    result.pop("bytes")
    print(json.dumps(_jsonable({k: v for k, v in result.items() if k != "calls"}), indent=1, default=str))
