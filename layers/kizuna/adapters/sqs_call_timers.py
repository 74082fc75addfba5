"""Call timers on the catalog's "timers" queue: one SQS message per wake-up, delayed until it is due.

SQS delays a message at most 15 minutes; a timer due later is re-queued by the timer function with the delay
left (`CallTimer.remaining_delay`), so a 2-hour consultation's warning costs a handful of messages, not a
scheduler resource per call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

MAX_DELAY_S = 900


class CallTimer(BaseModel):
    app_id: str
    consultation_id: str
    kind: Literal["warn", "cut"]
    due: datetime

    def remaining_delay(self, now: datetime) -> int:
        return min(MAX_DELAY_S, max(0, math.ceil((self.due - now).total_seconds())))


class SqsCallTimers:
    def __init__(self, queue_url: str, client: Any) -> None:
        self._url = queue_url
        self._sqs = client

    def schedule(
        self, app_id: str, consultation_id: str, timers: Sequence[tuple[str, datetime]], now: datetime
    ) -> None:
        """One SendMessageBatch for a call's timers (at most a few); a failed entry is an error for the caller."""
        entries = [
            {
                "Id": str(i),
                "MessageBody": (
                    t := CallTimer(app_id=app_id, consultation_id=consultation_id, kind=kind, due=due)
                ).model_dump_json(),
                "DelaySeconds": t.remaining_delay(now),
            }
            for i, (kind, due) in enumerate(timers)
        ]
        response = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"call timers not queued: {response['Failed']}")

    def requeue(self, timer: CallTimer, now: datetime) -> None:
        self._sqs.send_message(
            QueueUrl=self._url, MessageBody=timer.model_dump_json(), DelaySeconds=timer.remaining_delay(now)
        )
