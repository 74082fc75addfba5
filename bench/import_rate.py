"""Endpoint import rate and AWS requests per imported endpoint, in LOCAL MODE, plus a projection for 10M on AWS.

A 20,000-row CSV (SMS endpoints, a Japanese attribute, 1% invalid rows) is uploaded to moto's S3 and imported with
the stock boto3 pinpoint client's `create_import_job`; the run is timed from the create call until GetImportJob says
COMPLETED. AWS calls are counted with a botocore `before-call` hook on the handlers' clients (`kizuna.wiring.aws`,
plus the S3 clients the jobs function makes for the job's role, which come from the same botocore session), split
into the handlers' calls and the local SQS pollers' (which stand in for Lambda's event source mapping).

Standalone: `.venv/bin/python bench/import_rate.py` prints the figures as JSON; `run()` returns them.
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

from send_path import LOCAL_RUNTIME, CallCounter  # noqa: E402

from kizuna import wiring  # noqa: E402
from kizuna.catalog import QUEUES  # noqa: E402
from kizuna.domain.jobs import PIECE_ROWS  # noqa: E402
from kizuna.local.system import REGION, LocalKizuna  # noqa: E402
from kizuna.services.import_rows import plan_spans  # noqa: E402

NAME = "import_rate"
ROWS = 20_000
BAD_EVERY = 100
TIMEOUT_S = 600
SERVICES = ("dynamodb", "sqs", "s3", "sts")
TARGET_REQUESTS_PER_ENDPOINT = 0.1

# Projection assumptions (AWS, same region, warm Lambda): typical p50 latencies of the calls a piece makes.
AWS_LATENCY_S = {
    ("dynamodb", "BatchWriteItem"): 0.015,  # 25 items of ~1 KB
    ("dynamodb", "BatchGetItem"): 0.010,  # 100 keys, strongly consistent
    ("dynamodb", "TransactWriteItems"): 0.020,
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


def run() -> dict[str, Any]:
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
    piece = ImportPiece(app_id="a", job_id="j", piece=0, bucket="b", key="k", start=span.start, end=span.end,
                        first_row=1, header=plan.header)
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
    print(json.dumps(run(), indent=2, ensure_ascii=False))
