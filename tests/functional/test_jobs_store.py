"""The DynamoDB job store on moto: a piece is counted exactly once, and the job finishes exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.dynamo_jobs import DynamoJobStore
from kizuna.clock import VirtualClock
from kizuna.domain.jobs import COMPLETED, IMPORT, PROCESSING, PieceOutcome
from kizuna.services.job_progress import count_piece

TABLE = "kizuna-data"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[DynamoJobStore]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoJobStore(TABLE, client)


def new_job(store: DynamoJobStore, job_id: str = "0001", segment_id: str | None = None, pieces: int = 2) -> None:
    definition: dict[str, Any] = {"Format": "CSV", "S3Url": "s3://b/k", "RoleArn": ""}
    if segment_id:
        definition["SegmentId"] = segment_id
    store.create_job(
        "app",
        IMPORT,
        {
            "Id": job_id,
            "ApplicationId": "app",
            "Type": IMPORT,
            "CreationDate": "t",
            "Definition": definition,
            "JobStatus": "CREATED",
        },
    )
    assert store.start_job("app", IMPORT, job_id, pieces)


def test_the_same_piece_recorded_twice_is_counted_once(store):
    new_job(store)
    outcome = PieceOutcome(processed=10, failures=2, messages=["row 3: bad", "row 7: bad"])

    first = store.record_piece("app", IMPORT, "0001", 0, outcome)
    again = store.record_piece("app", IMPORT, "0001", 0, outcome)

    job = store.get_job("app", IMPORT, "0001")
    assert (first, again) == (True, False)
    assert (job["CompletedPieces"], job["TotalProcessed"], job["TotalFailures"]) == (1, 10, 2)
    assert job["Failures"] == ["row 3: bad", "row 7: bad"]


def test_the_job_finishes_once_and_only_when_every_piece_is_counted(store):
    new_job(store)
    store.record_piece("app", IMPORT, "0001", 0, PieceOutcome(processed=5))

    early = store.finish_job("app", IMPORT, "0001", COMPLETED, NOW)
    store.record_piece("app", IMPORT, "0001", 1, PieceOutcome(failed=True, messages=["piece 1: gone"]))
    finished = store.finish_job("app", IMPORT, "0001", COMPLETED, NOW)
    again = store.finish_job("app", IMPORT, "0001", COMPLETED, NOW)

    job = store.get_job("app", IMPORT, "0001")
    assert (early, finished, again) == (False, True, False)
    assert (job["JobStatus"], job["CompletedPieces"], job["FailedPieces"]) == (COMPLETED, 1, 1)
    assert job["CompletionDate"] == "2026-11-01T00:00:00.000Z"


def test_a_started_job_does_not_start_again(store):
    new_job(store)

    assert store.start_job("app", IMPORT, "0001", 5) is False
    job = store.get_job("app", IMPORT, "0001")
    assert (job["JobStatus"], job["TotalPieces"]) == (PROCESSING, 2)


def test_failures_stop_at_one_hundred(store):
    new_job(store, pieces=3)
    for piece in range(3):
        store.record_piece(
            "app",
            IMPORT,
            "0001",
            piece,
            PieceOutcome(processed=60, failures=60, messages=[f"row {i}" for i in range(60)]),
        )

    job = store.get_job("app", IMPORT, "0001")
    assert job["TotalFailures"] == 180 and len(job["Failures"]) == 100


def test_jobs_list_newest_first_and_filter_by_segment(store):
    new_job(store, "0001", segment_id="seg-a")
    new_job(store, "0002")
    new_job(store, "0003", segment_id="seg-a")

    everything, _ = store.list_jobs("app", IMPORT, 10, None)
    of_segment, _ = store.list_jobs("app", IMPORT, 10, None, segment_id="seg-a")
    page, token = store.list_jobs("app", IMPORT, 2, None)
    rest, _ = store.list_jobs("app", IMPORT, 2, token)

    assert [j["Id"] for j in everything] == ["0003", "0002", "0001"]
    assert [j["Id"] for j in of_segment] == ["0003", "0001"]
    assert [j["Id"] for j in page + rest] == ["0003", "0002", "0001"]


class LosesOneAnswer:
    """The job store with one call that applies and then fails, as when DynamoDB applies an UpdateItem whose
    answer never arrives (read timeout) or the function crashes right after it."""

    def __init__(self, store: DynamoJobStore, method: str) -> None:
        self._store, self._method, self.lost = store, method, 0

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._store, name)
        if name != self._method or self.lost:
            return call

        def applies_then_fails(*args: Any, **kwargs: Any) -> Any:
            call(*args, **kwargs)
            self.lost += 1
            raise TimeoutError("the answer was lost")

        return applies_then_fails


@pytest.mark.parametrize("lost", ["record_piece", "finish_job"])
def test_a_last_piece_whose_count_or_finish_was_lost_finishes_the_job_when_redelivered(store, lost):
    new_job(store)
    count_piece(store, VirtualClock(NOW), IMPORT, "app", "0001", 0, PieceOutcome(processed=5))
    flaky = LosesOneAnswer(store, lost)

    with pytest.raises(TimeoutError):
        count_piece(flaky, VirtualClock(NOW), IMPORT, "app", "0001", 1, PieceOutcome(processed=7))
    stalled = store.get_job("app", IMPORT, "0001")
    count_piece(flaky, VirtualClock(NOW), IMPORT, "app", "0001", 1, PieceOutcome(processed=7))  # SQS redelivers

    job = store.get_job("app", IMPORT, "0001")
    assert flaky.lost == 1
    assert stalled["JobStatus"] == (PROCESSING if lost == "record_piece" else COMPLETED)
    assert (job["JobStatus"], job["CompletedPieces"], job["TotalProcessed"]) == (COMPLETED, 2, 12)
