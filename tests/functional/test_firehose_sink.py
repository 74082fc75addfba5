"""The event stream's Firehose sink against moto: events packed as JSON lines into shared records (Firehose bills
each record rounded up to 5 KB), every event delivered once, and records Firehose reports as failed sent again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.firehose_events import MAX_EVENTS_PER_RECORD, EventStreamError, FirehoseEventSink

REGION = "ap-northeast-1"
BUCKET = "kizuna-events-test"  # moto answers 404 to a bucket named "events"


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        firehose = boto3.client("firehose", region_name=REGION)
        firehose.create_delivery_stream(
            DeliveryStreamName="events",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": "events/",
            },
        )
        yield firehose, s3


class Recording:
    """The real client, with each call's records kept and, optionally, some records reported failed once."""

    def __init__(self, client: Any, fail_first: int = 0) -> None:
        self.client, self.fail_first, self.calls = client, fail_first, []

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict]) -> dict:  # noqa: N803 (boto3's names)
        self.calls.append([r["Data"] for r in Records])
        if self.fail_first:
            failed, self.fail_first = Records[: self.fail_first], 0
            kept = Records[len(failed) :]
            response = self.client.put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=kept)
            errors = [{"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"} for _ in failed]
            return {"FailedPutCount": len(failed), "RequestResponses": errors + response["RequestResponses"]}
        return self.client.put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=Records)


def _events(n: int) -> list[dict]:
    return [{"event_id": f"e{i}", "event_type": "_SMS.SUCCESS", "attributes": {"body": "ご予約ありがとうございます"}}
            for i in range(n)]  # fmt: skip


def _delivered(s3: Any) -> list[dict]:
    lines = []
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode()
        lines += [json.loads(line) for line in body.splitlines() if line.strip()]
    return lines


def test_events_are_packed_into_shared_records_and_each_arrives_once(aws):
    firehose, s3 = aws
    client = Recording(firehose)
    FirehoseEventSink("events", client).emit(_events(1_200))
    (records,) = client.calls  # one call: 3 records, well under 500 records / 4 MiB
    assert len(records) == -(-1_200 // MAX_EVENTS_PER_RECORD) == 3
    assert all(r.endswith(b"\n") and r.count(b"\n") <= MAX_EVENTS_PER_RECORD for r in records)
    assert sorted(e["event_id"] for e in _delivered(s3)) == sorted(f"e{i}" for i in range(1_200))


def test_records_firehose_reports_failed_are_sent_again_and_nothing_twice(aws):
    firehose, s3 = aws
    client = Recording(firehose, fail_first=1)
    FirehoseEventSink("events", client).emit(_events(700))
    assert [len(c) for c in client.calls] == [2, 1]  # the failed record alone, again
    assert client.calls[1] == client.calls[0][:1]
    assert sorted(e["event_id"] for e in _delivered(s3)) == sorted(f"e{i}" for i in range(700))


def test_an_event_over_firehoses_record_limit_is_refused_before_anything_is_sent(aws):
    firehose, s3 = aws
    client = Recording(firehose)
    huge = {"event_id": "big", "attributes": {"x": "a" * (1_100 * 1024)}}
    with pytest.raises(EventStreamError, match="record limit"):
        FirehoseEventSink("events", client).emit([*_events(3), huge])
    assert client.calls == [] and _delivered(s3) == []
