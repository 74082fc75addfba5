"""`kizuna endpoints import|export`: Pinpoint import and export jobs through the stock boto3 pinpoint client, with a
progress bar on stderr until the job finishes.

    kizuna endpoints import people.csv --bucket my-bucket --app APP --endpoint-url URL [--segment-name NAME]
    kizuna endpoints import s3://my-bucket/people/ --format json --app APP --endpoint-url URL
    kizuna endpoints export --app APP --s3-url-prefix s3://my-bucket/exports/ --endpoint-url URL [--segment-id ID]

Credentials for Kizuna's API come from KIZUNA_ACCESS_KEY_ID / KIZUNA_SECRET_ACCESS_KEY; a local file is uploaded
to `--bucket` with the ordinary AWS credentials (and `--s3-endpoint-url`, e.g. local mode's moto server).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

DONE = ("COMPLETED", "FAILED")


def add_parser(subparsers: Any) -> None:
    endpoints = subparsers.add_parser("endpoints", help="import endpoints from files, export them to S3")
    commands = endpoints.add_subparsers(dest="endpoints_command", required=True)

    imp = commands.add_parser("import", help="import a CSV or JSON-lines file (local or s3://) into an app")
    imp.add_argument("source", help="a local file, or s3://bucket/key-or-prefix")
    imp.add_argument("--format", choices=("csv", "json"), help="default: from the file name (.csv or .json)")
    imp.add_argument("--bucket", help="S3 bucket to upload a local file to (required for local files)")
    imp.add_argument("--segment-name", help="also create an imported segment of the endpoints, with this name")
    _common(imp)

    exp = commands.add_parser("export", help="export an app's endpoints (or a segment's) to S3 as JSON lines")
    exp.add_argument("--s3-url-prefix", required=True, help="s3://bucket/folder/")
    exp.add_argument("--segment-id", help="only this segment's endpoints")
    _common(exp)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app", required=True, help="application (project) id")
    parser.add_argument("--endpoint-url", required=True, help="Kizuna's API URL")
    parser.add_argument("--role-arn", default="", help="IAM role Kizuna assumes for S3 (default: its own role)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument("--s3-endpoint-url", default=None, help="S3 endpoint for the upload (local mode: moto)")
    parser.add_argument("--no-wait", action="store_true", help="print the job id and return at once")


def run(args: argparse.Namespace) -> int:
    pinpoint = _pinpoint(args)
    if args.endpoints_command == "import":
        return _import(args, pinpoint)
    return _export(args, pinpoint)


def _pinpoint(args: argparse.Namespace) -> Any:
    import boto3

    key_id, secret = os.environ.get("KIZUNA_ACCESS_KEY_ID"), os.environ.get("KIZUNA_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        raise SystemExit("Set KIZUNA_ACCESS_KEY_ID and KIZUNA_SECRET_ACCESS_KEY (kizuna keys create prints them)")
    return boto3.client(
        "pinpoint",
        endpoint_url=args.endpoint_url,
        region_name=args.region or "us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def _import(args: argparse.Namespace, pinpoint: Any) -> int:
    source: str = args.source
    fmt = (args.format or ("json" if source.lower().endswith((".json", ".jsonl", ".ndjson")) else "csv")).upper()
    if not source.startswith("s3://"):
        path = Path(source)
        if not path.is_file():
            raise SystemExit(f"{source}: no such file")
        if not args.bucket:
            raise SystemExit("--bucket is required to import a local file (it is uploaded there first)")
        import boto3

        key = f"kizuna-imports/{int(time.time())}-{path.name}"
        s3 = boto3.client("s3", endpoint_url=args.s3_endpoint_url, region_name=args.region)
        print(f"uploading {path} to s3://{args.bucket}/{key}", file=sys.stderr)
        s3.upload_file(str(path), args.bucket, key)
        source = f"s3://{args.bucket}/{key}"
    request: dict[str, Any] = {"Format": fmt, "S3Url": source, "RoleArn": args.role_arn}
    if args.segment_name:
        request |= {"DefineSegment": True, "SegmentName": args.segment_name}
    job = pinpoint.create_import_job(ApplicationId=args.app, ImportJobRequest=request)["ImportJobResponse"]
    print(f"import job {job['Id']}", file=sys.stderr)
    return _follow(args, lambda: pinpoint.get_import_job(ApplicationId=args.app, JobId=job["Id"])["ImportJobResponse"])


def _export(args: argparse.Namespace, pinpoint: Any) -> int:
    request: dict[str, Any] = {"S3UrlPrefix": args.s3_url_prefix, "RoleArn": args.role_arn}
    if args.segment_id:
        request["SegmentId"] = args.segment_id
    job = pinpoint.create_export_job(ApplicationId=args.app, ExportJobRequest=request)["ExportJobResponse"]
    print(f"export job {job['Id']} → {args.s3_url_prefix.rstrip('/')}/{job['Id']}/", file=sys.stderr)
    return _follow(args, lambda: pinpoint.get_export_job(ApplicationId=args.app, JobId=job["Id"])["ExportJobResponse"])


def _follow(args: argparse.Namespace, get: Any, poll_s: float = 0.5) -> int:
    from tqdm import tqdm

    job = get()
    if args.no_wait:
        print(job["Id"])
        return 0
    with tqdm(total=None, unit="piece", file=sys.stderr, dynamic_ncols=True) as bar:
        while True:
            bar.total = job.get("TotalPieces") or None
            bar.n = (job.get("CompletedPieces") or 0) + (job.get("FailedPieces") or 0)
            bar.set_postfix_str(
                f"{job.get('TotalProcessed') or 0:,} rows, {job.get('TotalFailures') or 0:,} failures, "
                f"{job['JobStatus']}"
            )
            if job["JobStatus"] in DONE:
                break
            time.sleep(poll_s)
            job = get()
    for failure in job.get("Failures", []):
        print(f"  {failure}", file=sys.stderr)
    if job.get("TotalFailures", 0) > len(job.get("Failures", [])):
        print(f"  ... {job['TotalFailures'] - len(job['Failures'])} more", file=sys.stderr)
    print(job["Id"])
    return 0 if job["JobStatus"] == "COMPLETED" else 1
