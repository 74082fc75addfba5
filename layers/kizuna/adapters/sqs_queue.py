"""The send queue: SendMessageBatch in chunks of 10, failed entries retried before they are reported."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kizuna.domain.messages import OutboundMessage

SQS_BATCH = 10
ROUNDS = 3


class SqsSendQueue:
    def __init__(self, queue_url: str, client: Any) -> None:
        self._url = queue_url
        self._sqs = client

    def enqueue(self, messages: Sequence[OutboundMessage], delay_s: int = 0) -> list[str]:
        failed: list[str] = []
        for start in range(0, len(messages), SQS_BATCH):
            pending = {m.message_id: m for m in messages[start : start + SQS_BATCH]}
            for round_ in range(ROUNDS):
                response = self._sqs.send_message_batch(
                    QueueUrl=self._url,
                    Entries=[
                        {"Id": mid, "MessageBody": m.model_dump_json(), "DelaySeconds": delay_s}
                        for mid, m in pending.items()
                    ],
                )
                pending = {f["Id"]: pending[f["Id"]] for f in response.get("Failed", [])}
                if not pending:
                    break
                time.sleep(0.05 * 2**round_)
            failed.extend(pending)
        return failed
