"""The send and relay queues: SendMessageBatch in chunks of 10, failed entries retried before they are reported."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kizuna.domain.messages import OutboundMessage, RelayRequest

SQS_BATCH = 10
ROUNDS = 3


def send_batches(sqs: Any, url: str, bodies: dict[str, str], delay_s: int = 0) -> list[str]:
    """Send `bodies` (entry id -> body); returns the ids SQS still refused after the retries."""
    failed: list[str] = []
    ids = list(bodies)
    for start in range(0, len(ids), SQS_BATCH):
        pending = {i: bodies[i] for i in ids[start : start + SQS_BATCH]}
        for round_ in range(ROUNDS):
            response = sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": i, "MessageBody": body, "DelaySeconds": delay_s} for i, body in pending.items()],
            )
            pending = {f["Id"]: pending[f["Id"]] for f in response.get("Failed", [])}
            if not pending:
                break
            time.sleep(0.05 * 2**round_)
        failed.extend(pending)
    return failed


class SqsSendQueue:
    def __init__(self, queue_url: str, client: Any) -> None:
        self._url = queue_url
        self._sqs = client

    def enqueue(self, messages: Sequence[OutboundMessage], delay_s: int = 0) -> list[str]:
        return send_batches(self._sqs, self._url, {m.message_id: m.model_dump_json() for m in messages}, delay_s)


class SqsRelayQueue:
    def __init__(self, queue_url: str, dead_letter_url: str | None, client: Any) -> None:
        self._url = queue_url
        self._dlq = dead_letter_url
        self._sqs = client

    def enqueue_relays(self, relays: Sequence[RelayRequest], delay_s: int = 0) -> None:
        failed = send_batches(
            self._sqs, self._url, {str(i): r.model_dump_json() for i, r in enumerate(relays)}, delay_s
        )
        if failed:
            raise RuntimeError(f"the relay queue refused {len(failed)} relays")

    def dead_letter(self, relay: RelayRequest, reason: str) -> None:
        if self._dlq is None:
            raise RuntimeError("no dead-letter queue configured for relays")
        self._sqs.send_message(
            QueueUrl=self._dlq,
            MessageBody=relay.model_dump_json(),
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
        )
