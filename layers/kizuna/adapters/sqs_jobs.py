"""The jobs queue: plan and piece messages, SendMessageBatch by 10, failed entries retried, then an error."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kizuna.domain.jobs import JobEnvelope, JobMessage

SQS_BATCH = 10
ROUNDS = 4


class JobQueueError(RuntimeError):
    pass


class SqsJobQueue:
    def __init__(self, queue_url: str, client: Any) -> None:
        self._url = queue_url
        self._sqs = client

    def enqueue(self, messages: Sequence[JobMessage], delay_s: int = 0) -> None:
        for start in range(0, len(messages), SQS_BATCH):
            pending = {
                str(i): JobEnvelope(message=m).model_dump_json()
                for i, m in enumerate(messages[start : start + SQS_BATCH])
            }
            for round_ in range(ROUNDS):
                response = self._sqs.send_message_batch(
                    QueueUrl=self._url,
                    Entries=[{"Id": i, "MessageBody": body, "DelaySeconds": delay_s} for i, body in pending.items()],
                )
                pending = {f["Id"]: pending[f["Id"]] for f in response.get("Failed", [])}
                if not pending:
                    break
                time.sleep(0.05 * 2**round_)
            else:
                raise JobQueueError(f"{len(pending)} job messages could not be queued")
