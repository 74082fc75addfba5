"""`kizuna endpoints import|export` against local mode: a local CSV uploaded to (moto) S3, imported into an app
with a segment, then the segment exported; the command's exit code and printed job id are what scripts rely on."""

from __future__ import annotations

import json

import boto3
import pytest

from kizuna import cli
from kizuna.local.system import REGION

pytestmark = pytest.mark.e2e

ROWS = "Id,ChannelType,Address,Attributes.Name\nc1,SMS,+819011112222,佐藤\nc2,SMS,+819033334444,鈴木\nc3,SMS,12,bad\n"


@pytest.fixture
def api(kizuna, monkeypatch) -> list[str]:
    monkeypatch.setenv("KIZUNA_ACCESS_KEY_ID", kizuna.credentials.access_key_id)
    monkeypatch.setenv("KIZUNA_SECRET_ACCESS_KEY", kizuna.credentials.secret_access_key)
    boto3.client("s3", endpoint_url=kizuna.aws_endpoint, region_name=REGION).create_bucket(Bucket="cli")
    return ["--endpoint-url", kizuna.base_url, "--s3-endpoint-url", kizuna.aws_endpoint, "--region", REGION]


def test_import_a_local_file_then_export_its_segment(kizuna, pinpoint, app_id, api, tmp_path, capsys):
    people = tmp_path / "people.csv"
    people.write_text(ROWS, encoding="utf-8")

    imported = cli.main(
        ["endpoints", "import", str(people), "--bucket", "cli", "--app", app_id, "--segment-name", "cli", *api]
    )
    import_out = capsys.readouterr()
    job = pinpoint.get_import_job(ApplicationId=app_id, JobId=import_out.out.strip())["ImportJobResponse"]
    exported = cli.main(
        [
            "endpoints",
            "export",
            "--app",
            app_id,
            "--s3-url-prefix",
            "s3://cli/out/",
            "--segment-id",
            job["Definition"]["SegmentId"],
            *api,
        ]
    )
    export_id = capsys.readouterr().out.strip()

    s3 = boto3.client("s3", endpoint_url=kizuna.aws_endpoint, region_name=REGION)
    lines = []
    for obj in s3.list_objects_v2(Bucket="cli", Prefix=f"out/{export_id}/")["Contents"]:
        lines += s3.get_object(Bucket="cli", Key=obj["Key"])["Body"].read().decode().splitlines()
    assert (imported, exported) == (0, 0)
    assert (job["TotalProcessed"], job["TotalFailures"]) == (3, 1)
    assert "row 3:" in import_out.err  # the bad row is reported on stderr
    assert sorted((e["Id"], e["Attributes"]["Name"][0]) for e in map(json.loads, lines)) == [
        ("c1", "佐藤"),
        ("c2", "鈴木"),
    ]


def test_a_missing_local_file_is_a_clear_error(kizuna, app_id, api, tmp_path):
    with pytest.raises(SystemExit, match="no such file"):
        cli.main(["endpoints", "import", str(tmp_path / "nope.csv"), "--bucket", "cli", "--app", app_id, *api])
