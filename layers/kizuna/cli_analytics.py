"""`kizuna analytics export|dashboard-url`: KPIs or raw events as CSV, and signed dashboard links.

    kizuna analytics export --app APP --from 2026-10-01 --to 2026-11-30 --csv --kpis txn-sms-sent-grouped-by-date \
        --endpoint-url URL [--campaign ID | --journey ID] [--output kpis.csv]
    kizuna analytics export --app APP --from ... --to ... --csv --events --bucket EVENTS_BUCKET [--s3-endpoint-url URL]
    kizuna analytics dashboard-url --app APP --endpoint-url URL [--expires-in 3600] [--campaign ID | --journey ID]

KPIs go through the API with KIZUNA_ACCESS_KEY_ID / KIZUNA_SECRET_ACCESS_KEY, one query per KPI and 31-day window;
events are read from the event stream's S3 objects with ordinary AWS credentials (the stack's EventsBucket
output). Both are limited to the 90-day analytics window. A progress bar goes to stderr, CSV to stdout or --output.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime
from typing import Any, TextIO

from kizuna.services import analytics_export as export


def add_parser(subparsers: Any) -> None:
    analytics = subparsers.add_parser("analytics", help="export KPIs or events as CSV; signed dashboard links")
    commands = analytics.add_subparsers(dest="analytics_command", required=True)

    exp = commands.add_parser("export", help="KPIs (through the API) or raw events (from S3) as CSV")
    exp.add_argument("--app", required=True, help="application (project) id")
    exp.add_argument("--from", dest="first", required=True, type=date.fromisoformat, help="first UTC day, YYYY-MM-DD")
    exp.add_argument("--to", dest="last", required=True, type=date.fromisoformat, help="last UTC day, YYYY-MM-DD")
    exp.add_argument("--csv", action="store_true", required=True, help="write CSV (the one format)")
    what = exp.add_mutually_exclusive_group(required=True)
    what.add_argument("--kpis", help="comma-separated KPI names, e.g. txn-sms-sent-grouped-by-date,sessions")
    what.add_argument("--events", action="store_true", help="the raw events of the app, from the event stream")
    scope = exp.add_mutually_exclusive_group()
    scope.add_argument("--campaign", help="campaign KPIs of this campaign")
    scope.add_argument("--journey", help="journey KPIs of this journey")
    exp.add_argument("--endpoint-url", help="Kizuna's API URL (for --kpis)")
    exp.add_argument("--bucket", help="the events bucket (stack output EventsBucket; for --events)")
    exp.add_argument("--s3-endpoint-url", default=None, help="S3 endpoint (local mode: moto)")
    exp.add_argument("--output", help="write here instead of stdout")
    exp.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))

    url = commands.add_parser("dashboard-url", help="a signed, short-lived link to an app's read-only dashboard")
    url.add_argument("--app", required=True)
    url.add_argument("--endpoint-url", required=True, help="Kizuna's API URL (stack output ManagementApiUrl)")
    url.add_argument("--expires-in", type=int, default=3600, help="seconds, at most 43200 (12 hours)")
    link_scope = url.add_mutually_exclusive_group()
    link_scope.add_argument("--campaign")
    link_scope.add_argument("--journey")


def run(args: argparse.Namespace) -> int:
    if args.analytics_command == "dashboard-url":
        return _dashboard_url(args)
    out: TextIO = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115
    try:
        return _export_events(args, out) if args.events else _export_kpis(args, out)
    finally:
        if args.output:
            out.close()


def _credentials() -> tuple[str, str]:
    key_id, secret = os.environ.get("KIZUNA_ACCESS_KEY_ID"), os.environ.get("KIZUNA_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        raise SystemExit("Set KIZUNA_ACCESS_KEY_ID and KIZUNA_SECRET_ACCESS_KEY (kizuna keys create prints them)")
    return key_id, secret


def _dashboard_url(args: argparse.Namespace) -> int:
    from kizuna.auth.dashboard_tokens import MAX_LIFETIME_S, mint

    if not 60 <= args.expires_in <= MAX_LIFETIME_S:
        raise SystemExit(f"--expires-in must be between 60 and {MAX_LIFETIME_S} seconds")
    key_id, secret = _credentials()
    token = mint(key_id, secret, args.app, int(time.time()) + args.expires_in)
    path = f"/dashboard/apps/{args.app}"
    if args.campaign:
        path += f"/campaigns/{args.campaign}"
    elif args.journey:
        path += f"/journeys/{args.journey}"
    print(f"{args.endpoint_url.rstrip('/')}{path}?token={token}")
    return 0


def _export_kpis(args: argparse.Namespace, out: TextIO) -> int:
    import boto3
    from tqdm import tqdm

    if not args.endpoint_url:
        raise SystemExit("--endpoint-url is required for --kpis")
    key_id, secret = _credentials()
    pinpoint = boto3.client(
        "pinpoint", endpoint_url=args.endpoint_url, region_name=args.region or "us-east-1",
        aws_access_key_id=key_id, aws_secret_access_key=secret,
    )  # fmt: skip
    names = [n.strip() for n in args.kpis.split(",") if n.strip()]
    windows = _windows(args)
    out.write(export.csv_line(export.KPI_COLUMNS))
    failed = 0
    with tqdm(total=len(names) * len(windows), unit="query", file=sys.stderr, dynamic_ncols=True) as bar:
        for name in names:
            for window in windows:
                try:
                    rows = _query(pinpoint, args, name, window)
                except pinpoint.exceptions.BadRequestException as exc:
                    print(f"{name}: {exc.response['Error']['Message']}", file=sys.stderr)
                    failed += 1
                    bar.update(len(windows) - windows.index(window))
                    break
                for line in export.kpi_rows(name, window, rows):
                    out.write(export.csv_line(line))
                bar.update(1)
    return 1 if failed else 0


def _query(pinpoint: Any, args: argparse.Namespace, name: str, window: tuple[date, date]) -> list[dict[str, Any]]:
    start = datetime.combine(window[0], datetime.min.time(), UTC)
    end = datetime.combine(window[1], datetime.max.time().replace(microsecond=0), UTC)
    common = {"ApplicationId": args.app, "KpiName": name, "StartTime": start, "EndTime": end}
    if args.campaign:
        response = pinpoint.get_campaign_date_range_kpi(CampaignId=args.campaign, **common)
        return response["CampaignDateRangeKpiResponse"]["KpiResult"]["Rows"]
    if args.journey:
        response = pinpoint.get_journey_date_range_kpi(JourneyId=args.journey, **common)
        return response["JourneyDateRangeKpiResponse"]["KpiResult"]["Rows"]
    return pinpoint.get_application_date_range_kpi(**common)["ApplicationDateRangeKpiResponse"]["KpiResult"]["Rows"]


def _windows(args: argparse.Namespace) -> list[tuple[date, date]]:
    from kizuna.errors import BadRequest

    try:
        return export.windows(args.first, args.last, datetime.now(UTC))
    except BadRequest as exc:
        raise SystemExit(exc.message) from None


def _export_events(args: argparse.Namespace, out: TextIO) -> int:
    import boto3
    from tqdm import tqdm

    if not args.bucket:
        raise SystemExit("--bucket (the stack's EventsBucket output) is required for --events")
    _windows(args)  # the same 90-day rule as the KPIs
    s3 = boto3.client("s3", endpoint_url=args.s3_endpoint_url, region_name=args.region)
    objects: list[tuple[str, int]] = []
    for day in export.arrival_days(args.first, args.last, datetime.now(UTC).date()):
        for prefix in export.event_prefixes(args.app, day):
            found = [
                (o["Key"], o["Size"])
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket, Prefix=prefix)
                for o in page.get("Contents", [])
            ]
            if found:
                objects += found
                break
    out.write(export.csv_line(export.EVENT_COLUMNS))
    seen: set[tuple[str, str]] = set()
    written = 0
    with tqdm(total=sum(size for _, size in objects), unit="B", unit_scale=True, file=sys.stderr) as bar:
        for key, size in objects:
            body = s3.get_object(Bucket=args.bucket, Key=key)["Body"]
            for line in export.event_rows(body.iter_lines(), args.app, args.first, args.last, seen):
                out.write(export.csv_line(line))
                written += 1
            bar.update(size)
    print(f"{written} events from {len(objects)} objects", file=sys.stderr)
    return 0
