"""The rate buckets in the limits table, against moto: a batch that fits is booked by one write and no read, the
bookings of concurrent senders never overlap, and a bucket booked beyond the horizon books a part or nothing."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.dynamo_limits import DynamoLimits
from kizuna.domain.throttle import SAFETY, book
from kizuna.local.moto_dynamodb_lock import serialise_dynamodb_writes

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
KEY = "SMS:+815012345678"
RATE = 10.0
STEP = 1 / (RATE * SAFETY)


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client: Any = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="limits",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        yield client


@pytest.fixture
def calls(ddb: Any) -> Counter[str]:
    """DynamoDB operations made through `ddb`, by name."""
    counted: Counter[str] = Counter()
    ddb.meta.events.register("before-call.dynamodb", lambda model, **_: counted.update([model.name]))
    return counted


def tat(ddb: Any) -> float:
    return float(ddb.get_item(TableName="limits", Key={"pk": {"S": f"rate#{KEY}"}})["Item"]["tat"]["N"])


def test_an_idle_bucket_books_a_whole_batch_from_now_in_one_write_and_no_read(ddb, calls):
    offsets, wait = DynamoLimits("limits", ddb).reserve(KEY, RATE, [1, 1, 2], 2.0, NOW)

    assert offsets == pytest.approx([0.0, STEP, 2 * STEP], abs=1e-5)
    assert wait == pytest.approx(4 * STEP, abs=1e-5)
    assert calls == Counter({"UpdateItem": 1})
    assert tat(ddb) == pytest.approx(NOW.timestamp() + 4 * STEP, abs=1e-5)


def test_a_busy_bucket_books_after_its_tat_with_one_atomic_add(ddb, calls):
    limits = DynamoLimits("limits", ddb)
    limits.reserve(KEY, RATE, [1] * 5, 2.0, NOW)
    calls.clear()

    offsets, _ = limits.reserve(KEY, RATE, [1] * 3, 2.0, NOW + timedelta(seconds=0.1))

    assert offsets == pytest.approx([5 * STEP - 0.1 + k * STEP for k in range(3)], abs=1e-5)
    assert calls == Counter({"UpdateItem": 1})


def test_a_wrong_guess_costs_one_refused_write_and_still_books_after_the_real_tat(ddb, calls):
    """Another process made the bucket busy: this one guesses idle, and its refused write returns the TAT."""
    DynamoLimits("limits", ddb).reserve(KEY, RATE, [1] * 5, 2.0, NOW)
    calls.clear()

    offsets, _ = DynamoLimits("limits", ddb).reserve(KEY, RATE, [1, 1], 2.0, NOW)

    assert offsets == pytest.approx([5 * STEP, 6 * STEP], abs=1e-5)
    assert calls == Counter({"UpdateItem": 1, "PutItem": 1})
    assert tat(ddb) == pytest.approx(NOW.timestamp() + 7 * STEP, abs=1e-5)


def test_a_bucket_booked_near_the_horizon_books_the_part_that_fits_and_the_wait_for_the_rest(ddb):
    limits = DynamoLimits("limits", ddb)
    limits.reserve(KEY, RATE, [1] * 18, 2.0, NOW)  # TAT 18 steps ≈ 1.86 s ahead

    offsets, wait = limits.reserve(KEY, RATE, [1] * 4, 2.0, NOW)

    expected_tat, expected = book(NOW.timestamp() + 18 * STEP, NOW.timestamp(), RATE, [1] * 4, 2.0)
    assert offsets[:2] == pytest.approx(expected[:2], abs=1e-5) and offsets[2:] == [None, None]
    assert wait == pytest.approx(expected_tat - NOW.timestamp(), abs=1e-5)


def test_a_bucket_booked_beyond_the_horizon_books_nothing_and_stays_as_it_was(ddb):
    limits = DynamoLimits("limits", ddb)
    limits.reserve(KEY, RATE, [1] * 25, 3.0, NOW)
    before = tat(ddb)

    offsets, wait = limits.reserve(KEY, RATE, [1, 1], 1.0, NOW)

    assert offsets == [None, None]
    assert wait == pytest.approx(25 * STEP, abs=1e-5)
    assert tat(ddb) == before


def test_concurrent_senders_never_book_overlapping_slots(ddb):
    """Eight processes (each its own adapter, so its own guesses) book 5 batches of 4 each on one bucket: the
    slots are all distinct and spaced at least one step apart, whatever interleaving the threads took. (moto
    makes a conditional write atomic only with local mode's lock, as DynamoDB does by itself.)"""
    serialise_dynamodb_writes()
    starts: list[float] = []
    lock = threading.Lock()

    def sender() -> None:
        limits = DynamoLimits("limits", ddb)
        for _ in range(5):
            offsets, _ = limits.reserve(KEY, RATE, [1] * 4, 60.0, NOW)
            with lock:
                starts.extend(NOW.timestamp() + o for o in offsets if o is not None)

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # A reservation that keeps conflicting gives up and books nothing (its caller waits and tries again): most
    # book, and every booked slot moved the bucket (its TAT is one step after the last).
    assert len(starts) >= 8 * 5 * 4 * 0.75
    ordered = sorted(starts)
    assert min(b - a for a, b in zip(ordered, ordered[1:], strict=False)) == pytest.approx(STEP, abs=1e-5)
    assert tat(ddb) == pytest.approx(ordered[-1] + STEP, abs=1e-5)
