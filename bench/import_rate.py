"""Endpoint import rate and AWS requests per imported endpoint, in LOCAL MODE, plus a projection for 10M on AWS.

A 20,000-row CSV (SMS endpoints, a Japanese attribute, 1% invalid rows) is uploaded to moto's S3 and imported with
the stock boto3 pinpoint client's `create_import_job`; the run is timed from the create call until GetImportJob says
COMPLETED. AWS calls are counted with a botocore `before-call` hook on the handlers' clients (`kizuna.wiring.aws`,
plus the S3 clients the jobs function makes for the job's role, which come from the same botocore session), split
into the handlers' calls and the local SQS pollers' (which stand in for Lambda's event source mapping).

`run()` renders the section of docs/benchmarks.md; standalone, `.venv/bin/python bench/import_rate.py` prints the
figures as JSON. KIZUNA_BENCH_IMPORT_ROWS overrides the row count (a quick smoke run).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aws_meter import LOCAL_RUNTIME, CallCounter  # noqa: E402
from prices import PRICES_USD  # noqa: E402,F401 (campaign_dispatch and journey_transitions import it from here)

from kizuna import wiring  # noqa: E402
from kizuna.catalog import QUEUES  # noqa: E402
from kizuna.domain.jobs import PIECE_ROWS  # noqa: E402
from kizuna.local.system import REGION, LocalKizuna  # noqa: E402
from kizuna.services.import_rows import plan_spans  # noqa: E402

NAME = "import_rate"
ROWS = int(os.environ.get("KIZUNA_BENCH_IMPORT_ROWS", "20000"))
BAD_EVERY = 100
TIMEOUT_S = 600
SERVICES = ("dynamodb", "sqs", "s3", "sts")
TARGET_REQUESTS_PER_ENDPOINT = 0.1

# Projection assumptions (AWS, same region, warm Lambda): typical p50 latencies of the calls a piece makes.
AWS_LATENCY_S = {
    ("dynamodb", "BatchWriteItem"): 0.015,  # 25 items of ~1 KB
    ("dynamodb", "BatchGetItem"): 0.010,  # 100 keys, strongly consistent
    ("s3", "GetObject"): 0.040,  # ~0.5 MB range
}
DEFAULT_LATENCY_S = 0.008
ON_DEMAND_INITIAL_WRITES_S = 4000  # a fresh on-demand table's initial write capacity (1 KB items)
PROJECTED_ENDPOINTS = 10_000_000


def people_csv(rows: int) -> bytes:
    lines = ["Id,ChannelType,Address,Attributes.Name,User.UserId,OptOut"]
    for i in range(1, rows + 1):
        address = "12345" if i % BAD_EVERY == 0 else f"+8190{i:08d}"
        lines.append(f"ep-{i:06d},SMS,{address},山田 {i},user-{i},NONE")
    return ("\n".join(lines) + "\n").encode()


JOBS_MEMORY_GB = 1.0  # catalog FUNCTIONS["jobs"].memory_mb


def run() -> Any:
    from report import PYTHON, Section, table

    m = measure()
    section = Section(
        NAME, "Endpoint import (local mode) and the 10M projection", f"{PYTHON} bench/run.py --only {NAME}"
    )
    p = m["projection"]
    workers = QUEUES["jobs"].max_concurrency
    section.body = [
        f"A {m['rows']:,}-row CSV (1 row in {BAD_EVERY} invalid, Japanese attribute values) imported with the stock "
        f"boto3 client's `create_import_job`: {m['pieces']} pieces, {m['imported']:,} endpoints written, "
        f"{m['failures']:,} rows refused, job {m['status']} in {m['seconds']:.1f} s = "
        f"**{m['endpoints_per_s_local']:,.0f} endpoints/s locally** (moto shares the process and its GIL with the "
        f"functions, so this is a floor, not an AWS figure). CPU for parse + validate + merge, in process: "
        f"{m['cpu_ms_per_row']:.3f} ms per row.",
        "",
        *table(
            ["AWS call by the jobs function", "calls", "per imported endpoint"],
            [[name, n, f"{n / max(m['imported'], 1):.4f}"] for name, n in sorted(m["handler_calls"].items())],
        ),
        "",
        f"**{m['requests_per_endpoint']:.4f} AWS requests per imported endpoint** (target ≤ "
        f"{TARGET_REQUESTS_PER_ENDPOINT}): endpoints are read with BatchGetItem (100 keys) and written with "
        "BatchWriteItem (25 items); a piece is counted with one conditional UpdateItem. Calls made by the local SQS "
        "pollers (Lambda's event source mapping on AWS, not billed per call to the function) are left out: "
        + ", ".join(f"{k} {v}" for k, v in sorted(m["poller_calls"].items())),
        "",
        "**10M endpoints on AWS**, from the calls above (assumed p50 latencies: "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in p["assumptions"]["latency_s"].items())
        + "; the calls of a piece run one after another, CPU measured above):",
        "",
        f"- a piece of {m['imported'] / max(m['pieces'], 1):,.0f} endpoints: {p['seconds_per_piece_io']:.2f} s of I/O "
        f"+ {p['seconds_per_piece_cpu']:.2f} s of CPU → {p['endpoints_per_s_per_worker']:,} endpoints/s per worker",
        *[
            f"- {w} workers: {p[f'concurrency_{w}']['minutes_table_already_scaled']} min on a table already scaled, "
            f"{p[f'concurrency_{w}']['minutes_fresh_on_demand_table']} min on a fresh on-demand table (capped at "
            f"{ON_DEMAND_INITIAL_WRITES_S:,} writes/s until it scales)"
            for w in (workers, 10, 25)
        ],
        *cost_lines(m),
    ]
    met = "met" if m["requests_per_endpoint"] <= TARGET_REQUESTS_PER_ENDPOINT else "MISSED"
    minutes = p[f"concurrency_{workers}"]["minutes_table_already_scaled"]
    section.verdict = (
        f"{m['requests_per_endpoint']:.4f} AWS requests per imported endpoint (target ≤ "
        f"{TARGET_REQUESTS_PER_ENDPOINT}: {met}); {m['endpoints_per_s_local']:,.0f} endpoints/s locally; 10M in "
        f"about {minutes} min on AWS at the jobs queue's concurrency {workers}."
    )
    return section


def cost_lines(m: dict[str, Any]) -> list[str]:
    """Cost of importing 10M endpoints: every billed unit scaled from the measured run."""
    scale = PROJECTED_ENDPOINTS / max(m["imported"], 1)
    calls = m["handler_calls"]
    writes = PROJECTED_ENDPOINTS  # BatchWriteItem bills one WRU per item of <= 1 KB, whatever the batch
    reads = PROJECTED_ENDPOINTS  # BatchGetItem, strongly consistent: 1 RRU per key (4 KB), found or not
    gets = calls.get("s3.GetObject", 0) * scale
    sqs = (calls.get("sqs.SendMessageBatch", 0) + 2 * m["pieces"]) * scale  # + receive and delete per piece
    lambda_s = (
        (m["projection"]["seconds_per_piece_io"] + m["projection"]["seconds_per_piece_cpu"]) * m["pieces"] * scale
    )
    items = {
        "DynamoDB writes": writes * PRICES_USD["dynamodb.write_request_unit"],
        "DynamoDB reads": reads * PRICES_USD["dynamodb.read_request_unit"],
        "S3 GETs": gets * PRICES_USD["s3.get"],
        "SQS": sqs * PRICES_USD["sqs.request"],
        "Lambda": lambda_s * JOBS_MEMORY_GB * PRICES_USD["lambda.gb_second_arm64"]
        + m["pieces"] * scale * PRICES_USD["lambda.request"],
    }
    return [
        "",
        f"**Cost of importing 10M endpoints** (prices us-east-1 on-demand from aws.amazon.com pricing pages, read "
        f"2026-11): {writes:,.0f} WRU × $0.625/M + {reads:,.0f} RRU × $0.125/M + {gets:,.0f} S3 GETs × $0.0004/1k + "
        f"{sqs:,.0f} SQS requests × $0.40/M + {lambda_s:,.0f} s × {JOBS_MEMORY_GB:.0f} GB Lambda arm64 = "
        + " + ".join(f"{k} ${v:.2f}" for k, v in items.items())
        + f" = **${sum(items.values()):.2f}**, almost all of it the one write per endpoint.",
    ]


def measure() -> dict[str, Any]:
    data = people_csv(ROWS)
    started = time.perf_counter()
    plan_spans([data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)], True, 1 << 20, PIECE_ROWS)
    plan_s = time.perf_counter() - started
    cpu_s_per_row = _cpu_per_row(data)

    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), LocalKizuna() as kizuna:
        counter = CallCounter()
        for service in SERVICES:  # clients the handlers already hold...
            wiring.aws(service).meta.events.register("before-call.*.*", counter)
        wiring._session().register("before-call.*.*", counter)  # ...and the role clients made from now on
        pinpoint = kizuna.pinpoint()
        s3 = boto3.client("s3", endpoint_url=kizuna.aws_endpoint, region_name=REGION)
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="people.csv", Body=data)
        app_id = pinpoint.create_app(CreateApplicationRequest={"Name": "bench"})["ApplicationResponse"]["Id"]
        counter.take()

        started = time.perf_counter()
        job_id = pinpoint.create_import_job(
            ApplicationId=app_id,
            ImportJobRequest={
                "Format": "CSV",
                "S3Url": "s3://bench/people.csv",
                "RoleArn": "arn:aws:iam::123456789012:role/bench-import",
            },
        )["ImportJobResponse"]["Id"]
        while True:
            job = pinpoint.get_import_job(ApplicationId=app_id, JobId=job_id)["ImportJobResponse"]
            if job["JobStatus"] in ("COMPLETED", "FAILED") or time.perf_counter() - started > TIMEOUT_S:
                break
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        kizuna.drain(timeout=30)
        calls = counter.take()

    imported = job["TotalProcessed"] - job["TotalFailures"]
    handler = {f"{s}.{op}": n for (who, s, op), n in calls.items() if who != LOCAL_RUNTIME}
    pollers = {f"{s}.{op}": n for (who, s, op), n in calls.items() if who == LOCAL_RUNTIME}
    handler_total = sum(handler.values())
    pieces = job["TotalPieces"]
    return {
        "rows": ROWS,
        "status": job["JobStatus"],
        "pieces": pieces,
        "imported": imported,
        "failures": job["TotalFailures"],
        "seconds": round(seconds, 2),
        "endpoints_per_s_local": round(imported / seconds, 1),
        "plan_rows_per_s_cpu": round(ROWS / plan_s),
        "handler_calls": handler,
        "poller_calls": pollers,
        "requests_per_endpoint": round(handler_total / max(imported, 1), 4),
        "target_requests_per_endpoint": TARGET_REQUESTS_PER_ENDPOINT,
        "cpu_ms_per_row": round(cpu_s_per_row * 1000, 3),
        "projection": projection(handler, imported, pieces, cpu_s_per_row),
    }


def _cpu_per_row(data: bytes) -> float:
    """Parse + validate + merge one piece's rows in-process over in-memory fakes: the CPU a piece spends per row."""
    from kizuna.adapters.memory import InMemoryDataStore
    from kizuna.adapters.memory_jobs import InMemoryJobQueue, InMemoryJobStore, InMemoryObjects
    from kizuna.clock import SystemClock
    from kizuna.domain.jobs import ImportPiece
    from kizuna.services.import_jobs import JobDeps, import_rows

    plan = plan_spans([data], True, 1 << 30, PIECE_ROWS)
    span = plan.spans[0]
    store = InMemoryDataStore()
    deps = JobDeps(store, store, InMemoryJobStore(), InMemoryJobQueue(), InMemoryObjects(), SystemClock())
    piece = ImportPiece(
        app_id="a",
        job_id="j",
        piece=0,
        bucket="b",
        key="k",
        start=span.start,
        end=span.end,
        first_row=1,
        header=plan.header,
    )
    started = time.perf_counter()
    import_rows(deps, "a", {}, data[span.start : span.end + 1], piece)
    return (time.perf_counter() - started) / PIECE_ROWS


def projection(handler: dict[str, int], imported: int, pieces: int, cpu_s_per_row: float) -> dict[str, Any]:
    """10M endpoints on AWS: per piece, the calls' latency summed (a piece's calls run one after another) plus its
    CPU; pieces run in parallel at the jobs queue's maximum concurrency, capped by what a fresh on-demand table
    accepts."""
    per_piece_s = 0.0
    for name, count in handler.items():
        service, operation = name.split(".", 1)
        per_piece_s += count / max(pieces, 1) * AWS_LATENCY_S.get((service, operation), DEFAULT_LATENCY_S)
    rows_per_piece = imported / max(pieces, 1)
    cpu_s = cpu_s_per_row * rows_per_piece
    per_worker = rows_per_piece / (per_piece_s + cpu_s) if per_piece_s else 0.0
    concurrency = QUEUES["jobs"].max_concurrency
    result: dict[str, Any] = {
        "assumptions": {
            "latency_s": {f"{s}.{o}": v for (s, o), v in AWS_LATENCY_S.items()} | {"other": DEFAULT_LATENCY_S},
            "calls_in_a_piece": "sequential",
            "on_demand_initial_writes_per_s": ON_DEMAND_INITIAL_WRITES_S,
            "cpu": "measured locally (one core), added to the I/O: a piece is one thread",
        },
        "seconds_per_piece_io": round(per_piece_s, 2),
        "seconds_per_piece_cpu": round(cpu_s, 2),
        "endpoints_per_s_per_worker": round(per_worker),
    }
    for workers in (concurrency, 10, 25):
        uncapped = per_worker * workers
        capped = min(uncapped, ON_DEMAND_INITIAL_WRITES_S)
        result[f"concurrency_{workers}"] = {
            "minutes_fresh_on_demand_table": round(PROJECTED_ENDPOINTS / capped / 60, 1) if capped else None,
            "minutes_table_already_scaled": round(PROJECTED_ENDPOINTS / uncapped / 60, 1) if uncapped else None,
        }
    return result


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2, ensure_ascii=False))
