"""The send queue's adapter against moto's SQS: a producer's messages go in batches of 10, SEND_AT_ONCE requests side
by side, each message once; entries SQS refuses are retried, and those it keeps refusing are reported, not lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.sqs_queue import SEND_AT_ONCE, SqsSendQueue, send_batches
from kizuna.domain.messages import OutboundMessage


@pytest.fixture
def sqs() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("sqs", region_name="ap-northeast-1")
        yield client, client.create_queue(QueueName="send")["QueueUrl"]


def message(i: int) -> OutboundMessage:
    return OutboundMessage(message_id=f"m{i:03d}", app_id="app", to="+819012345678", body="こんにちは",
                           request_id="r", accepted_at="2026-12-01T09:00:00Z")  # fmt: skip


def drain(client: Any, url: str) -> list[str]:
    got: list[str] = []
    while batch := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        got += [OutboundMessage.model_validate_json(m["Body"]).message_id for m in batch]
        client.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )
    return got


class Watching:
    """The SQS client, counting the batch requests running at the same time (and refusing `refuse` once each)."""

    def __init__(self, inner: Any, refuse: set[str] = frozenset(), always: set[str] = frozenset()) -> None:
        self._inner, self._refuse, self._always = inner, set(refuse), always
        self._lock, self.running, self.most = threading.Lock(), 0, 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803 (boto3's names)
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            refused = [e["Id"] for e in Entries if e["Id"] in self._always or e["Id"] in self._refuse]
            self._refuse -= set(refused)
        try:
            time.sleep(0.02)  # a round trip to SQS: requests sent side by side overlap
            kept = [e for e in Entries if e["Id"] not in refused]
            if kept:
                self._inner.send_message_batch(QueueUrl=QueueUrl, Entries=kept)
            failed = [{"Id": i, "Code": "InternalError", "SenderFault": False} for i in refused]
            return {"Successful": [{"Id": e["Id"]} for e in kept], "Failed": failed}
        finally:
            with self._lock:
                self.running -= 1


def test_a_producer_s_messages_arrive_once_each_in_batches_sent_side_by_side(sqs):
    client, url = sqs
    watching = Watching(client, refuse={"m004", "m071"})  # refused once: retried
    failed = SqsSendQueue(url, watching).enqueue([message(i) for i in range(95)])
    assert failed == []
    assert sorted(drain(client, url)) == [f"m{i:03d}" for i in range(95)]
    assert 1 < watching.most <= SEND_AT_ONCE  # the 10 requests overlapped, never more than SEND_AT_ONCE


def test_entries_sqs_keeps_refusing_are_reported_and_the_others_arrive(sqs):
    client, url = sqs
    bodies = {f"m{i:03d}": message(i).model_dump_json() for i in range(25)}
    failed = send_batches(Watching(client, always={"m003", "m020"}), url, bodies, at_once=SEND_AT_ONCE)
    assert sorted(failed) == ["m003", "m020"]
    assert len(drain(client, url)) == 23
