"""Import and export jobs end to end: the stock boto3 pinpoint client against local mode (moto S3, SQS, DynamoDB,
the jobs function run by the local SQS poller)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest

from kizuna import wiring
from kizuna.adapters.dynamo_segments import DynamoSegmentStore
from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.local.system import REGION, LocalKizuna
from tests.e2e.support import items_of_app

pytestmark = pytest.mark.e2e

ROLE = "arn:aws:iam::123456789012:role/kizuna-import"


@pytest.fixture(scope="module")
def s3(kizuna: LocalKizuna) -> Any:
    client = boto3.client("s3", endpoint_url=kizuna.aws_endpoint, region_name=REGION)
    client.create_bucket(Bucket="audience")
    return client


def new_app(pinpoint: Any) -> str:
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    return pinpoint.create_app(CreateApplicationRequest={"Name": name})["ApplicationResponse"]["Id"]


def wait(pinpoint: Any, kind: str, app_id: str, job_id: str, timeout: float = 600) -> dict[str, Any]:
    get = pinpoint.get_import_job if kind == "import" else pinpoint.get_export_job
    key = "ImportJobResponse" if kind == "import" else "ExportJobResponse"
    deadline = time.monotonic() + timeout
    while True:
        job = get(ApplicationId=app_id, JobId=job_id)[key]
        if job["JobStatus"] in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def people_csv(count: int, bad_every: int) -> tuple[bytes, set[str], set[int]]:
    """CSV rows ep-000001..; every `bad_every`-th row has an invalid phone number.
    Returns (file, good ids, bad row numbers)."""
    lines = ["Id,ChannelType,Address,Attributes.Name,User.UserId,User.UserAttributes.都市,OptOut"]
    good, bad = set(), set()
    for i in range(1, count + 1):
        endpoint_id = f"ep-{i:06d}"
        if i % bad_every == 0:
            bad.add(i)
            address = "12345"
        else:
            good.add(endpoint_id)
            address = f"+8190{i:08d}"
        opt_out = "ALL" if i % 7 == 0 else "NONE"
        lines.append(f"{endpoint_id},SMS,{address},山田 {i},user-{i},東京,{opt_out}")
    return ("\n".join(lines) + "\n").encode(), good, bad


def import_job(pinpoint: Any, app_id: str, url: str, fmt: str = "CSV", **extra: Any) -> dict[str, Any]:
    request = {"Format": fmt, "S3Url": url, "RoleArn": ROLE, **extra}
    created = pinpoint.create_import_job(ApplicationId=app_id, ImportJobRequest=request)["ImportJobResponse"]
    assert created["JobStatus"] == "CREATED" and created["Type"] == "IMPORT"
    return wait(pinpoint, "import", app_id, created["Id"])


def export(pinpoint: Any, s3: Any, app_id: str, **extra: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    prefix = f"exports/{app_id}"
    request = {"S3UrlPrefix": f"s3://audience/{prefix}/", "RoleArn": ROLE, **extra}
    created = pinpoint.create_export_job(ApplicationId=app_id, ExportJobRequest=request)["ExportJobResponse"]
    job = wait(pinpoint, "export", app_id, created["Id"])
    endpoints = []
    listed = s3.list_objects_v2(Bucket="audience", Prefix=f"{prefix}/{job['Id']}/")
    for obj in listed.get("Contents", []):
        body = s3.get_object(Bucket="audience", Key=obj["Key"])["Body"].read().decode()
        endpoints += [json.loads(line) for line in body.splitlines() if line]
    return job, endpoints


def comparable(endpoints: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    skip = ("ApplicationId", "CreationDate")
    return {e["Id"]: {k: v for k, v in e.items() if k not in skip} for e in endpoints}


def test_import_reports_bad_rows_and_keeps_japanese_text(pinpoint, s3):
    app_id = new_app(pinpoint)
    data, good, bad = people_csv(2000, bad_every=100)
    s3.put_object(Bucket="audience", Key="in/people.csv", Body=b"\xef\xbb\xbf" + data)

    job = import_job(pinpoint, app_id, "s3://audience/in/people.csv")

    assert job["JobStatus"] == "COMPLETED", job.get("Failures")
    assert (job["TotalProcessed"], job["TotalFailures"], job["FailedPieces"]) == (2000, 20, 0)
    assert sorted(int(f.split(":")[0].removeprefix("row ")) for f in job["Failures"]) == sorted(bad)
    endpoint = pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="ep-000007")["EndpointResponse"]
    assert endpoint["Attributes"] == {"Name": ["山田 7"]}
    assert endpoint["User"] == {"UserId": "user-7", "UserAttributes": {"都市": ["東京"]}}
    assert (endpoint["Address"], endpoint["OptOut"]) == ("+819000000007", "ALL")
    listed = pinpoint.get_import_jobs(ApplicationId=app_id)["ImportJobsResponse"]["Item"]
    assert [j["Id"] for j in listed] == [job["Id"]]


def test_export_then_import_into_another_app_gives_identical_endpoints(pinpoint, s3):
    source = new_app(pinpoint)
    data, good, _ = people_csv(300, bad_every=1000)
    s3.put_object(Bucket="audience", Key="in/small.csv", Body=data)
    assert import_job(pinpoint, source, "s3://audience/in/small.csv")["JobStatus"] == "COMPLETED"

    exported_job, exported = export(pinpoint, s3, source)
    target = new_app(pinpoint)
    url = f"s3://audience/exports/{source}/{exported_job['Id']}/"
    reimported = import_job(pinpoint, target, url, fmt="JSON")
    _, round_trip = export(pinpoint, s3, target)

    assert (exported_job["JobStatus"], exported_job["TotalPieces"], exported_job["TotalProcessed"]) == (
        "COMPLETED",
        16,
        300,
    )
    assert (reimported["JobStatus"], reimported["TotalProcessed"], reimported["TotalFailures"]) == ("COMPLETED", 300, 0)
    assert comparable(round_trip) == comparable(exported)
    assert {e["Id"] for e in exported} == good
    assert sum(e["OptOut"] == "ALL" for e in round_trip) == 300 // 7


def test_define_segment_holds_exactly_the_good_rows(pinpoint, s3):
    app_id = new_app(pinpoint)
    data, good, bad = people_csv(2000, bad_every=100)
    s3.put_object(Bucket="audience", Key="in/segment.csv", Body=data)

    job = import_job(pinpoint, app_id, "s3://audience/in/segment.csv", DefineSegment=True, SegmentName="顧客")

    segment_id = job["Definition"]["SegmentId"]
    segment_jobs = pinpoint.get_segment_import_jobs(ApplicationId=app_id, SegmentId=segment_id)
    _, members = export(pinpoint, s3, app_id, SegmentId=segment_id)
    assert (job["JobStatus"], job["TotalFailures"]) == ("COMPLETED", len(bad))
    assert [j["Id"] for j in segment_jobs["ImportJobsResponse"]["Item"]] == [job["Id"]]
    assert {e["Id"] for e in members} == good


def test_delete_app_removes_imported_segments_and_their_members(kizuna, pinpoint, s3):
    app_id = new_app(pinpoint)
    data, _, _ = people_csv(200, bad_every=1000)
    s3.put_object(Bucket="audience", Key="in/doomed.csv", Body=data)
    job = import_job(pinpoint, app_id, "s3://audience/in/doomed.csv", DefineSegment=True)
    assert job["JobStatus"] == "COMPLETED"

    pinpoint.delete_app(ApplicationId=app_id)

    assert items_of_app(kizuna, app_id) == []


@pytest.mark.timeout(900)  # ~80 s alone; several times that when the machine's two cores are shared
def test_a_100000_row_import_completes_and_its_segment_has_exactly_the_good_rows():
    # The acceptance test: its own local system, so the shared one's queues stay quiet. Membership is read
    # from the segment's member partitions (keys only); a 100k export through moto would triple the run time.
    with LocalKizuna() as kizuna:
        pinpoint = kizuna.pinpoint()
        app_id = new_app(pinpoint)
        data, good, bad = people_csv(100_000, bad_every=100)
        big = boto3.client("s3", endpoint_url=kizuna.aws_endpoint, region_name=REGION)
        big.create_bucket(Bucket="audience")
        big.put_object(Bucket="audience", Key="in/big.csv", Body=data)

        job = import_job(pinpoint, app_id, "s3://audience/in/big.csv", DefineSegment=True, SegmentName="big")
        segment_id = job["Definition"]["SegmentId"]
        store = DynamoSegmentStore(kizuna.resources.tables["data"], wiring.aws("dynamodb"))
        members = [m for shard in range(ENDPOINT_SHARDS) for m in store.members(app_id, segment_id, shard)]
        segment = pinpoint.get_segment(ApplicationId=app_id, SegmentId=segment_id)["SegmentResponse"]

    assert job["JobStatus"] == "COMPLETED", job.get("Failures")
    assert (job["TotalProcessed"], job["TotalFailures"], job["TotalPieces"]) == (100_000, 1000, 20)
    assert len(job["Failures"]) == 100  # the first 100 reasons are kept; TotalFailures counts them all
    assert {int(f.split(":")[0].removeprefix("row ")) for f in job["Failures"]} <= bad
    assert (segment["SegmentType"], segment["Name"]) == ("IMPORT", "big")
    assert len(members) == len(set(members)) and set(members) == good
