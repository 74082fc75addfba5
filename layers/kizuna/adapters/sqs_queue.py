"""The send and relay queues: SendMessageBatch in chunks of 10, failed entries retried before they are reported.
The send queue's batches go SEND_AT_ONCE side by side: SQS takes at most 10 messages per request, so a producer
queueing 100 recipients (a journey wake-up's batch, a campaign's page) would otherwise wait on 10 round trips one
after another; a standard queue keeps no order between messages anyway."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kizuna.adapters.dynamo import in_parallel
from kizuna.domain.messages import OutboundMessage, RelayRequest

SQS_BATCH = 10
ROUNDS = 3
SEND_AT_ONCE = 10


def send_batches(sqs: Any, url: str, bodies: dict[str, str], delay_s: int = 0, at_once: int = 1) -> list[str]:
    """Send `bodies` (entry id -> body), `at_once` requests side by side; returns the ids SQS still refused after
    the retries."""
    ids = list(bodies)

    def send(start: int) -> list[str]:
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
        return list(pending)

    return [i for failed in in_parallel(send, range(0, len(ids), SQS_BATCH), at_once) for i in failed]


class SqsSendQueue:
    def __init__(self, queue_url: str, client: Any) -> None:
        self._url = queue_url
        self._sqs = client

    def enqueue(self, messages: Sequence[OutboundMessage], delay_s: int = 0) -> list[str]:
        bodies = {m.message_id: m.model_dump_json() for m in messages}
        return send_batches(self._sqs, self._url, bodies, delay_s, SEND_AT_ONCE)


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
