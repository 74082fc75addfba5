"""Local SQS event source: polls a queue and invokes the consumer the way Lambda's SQS event source mapping does.

- Batches of up to `queue.batch_size` records (several receives within `max_batching_window_s` when it is set),
  in the SQS event shape Lambda delivers.
- At most `queue.max_concurrency` invocations in flight: one worker thread per concurrency slot, each receiving
  and invoking in turn.
- Partial batch responses (ReportBatchItemFailures): records not listed in `batchItemFailures` are deleted; listed
  ones stay and reappear after their visibility timeout. If the handler raises, returns something that is not a
  valid batch response, or lists an identifier that is not in the batch, nothing is deleted (Lambda treats the whole
  batch as failed).
- Dead letters: the queue's own RedrivePolicy. moto 5.2.5 honours it: on a ReceiveMessage, a visible message whose
  ApproximateReceiveCount already reached maxReceiveCount is moved to the DLQ instead of being returned - so the
  move happens on the receive *after* the last delivery, as in SQS, and only while someone keeps polling.
- An invocation longer than the function timeout is logged and counted (`timeouts`); the thread cannot be killed,
  so its batch response is still honoured (Lambda would have failed the whole batch).

Fault injection (`faults`, for the tests that prove nothing is lost or sent twice): a share of records is
delivered a second time in a separate invocation (SQS is at-least-once), and a share of processed records is not
deleted, as if the function crashed after its work but before the ack; the record then reappears at once (its
visibility set to 0 instead of waiting out the timeout, which only makes the test faster).

Invocation timing is wall-clock: the handler's work is real even when the demo clock is virtual; SQS visibility
timeouts are moto's (wall-clock) too. The clock port stamps `last_invocation_at` for status displays.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kizuna.catalog import Queue
from kizuna.clock import Clock
from kizuna.local.lambda_context import LocalLambdaContext

log = logging.getLogger(__name__)

Handler = Callable[[dict, Any], Any]

SQS_MAX_RECEIVE = 10


@dataclass
class PollerFaults:
    duplicate_ratio: float = 0.0
    drop_ack_ratio: float = 0.0
    # Records left on the queue by a failed invocation reappear after this many seconds instead of the full
    # visibility timeout (a test need not wait 3 minutes to see SQS redeliver).
    failed_visibility_s: int | None = None
    seed: int = 0
    duplicated: int = 0
    acks_dropped: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def roll(self, ratio: float) -> bool:
        return ratio > 0 and self._rng.random() < ratio


@dataclass
class PollerStats:
    invocations: int = 0
    records: int = 0  # records delivered to the handler (a redelivery counts again)
    deleted: int = 0
    failures: int = 0  # records left on the queue after an invocation (listed failures or whole-batch failures)
    errors: int = 0  # invocations that raised or returned an invalid batch response
    timeouts: int = 0
    max_in_flight: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    last_invocation_at: datetime | None = None


class QueuePoller:
    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        queue_arn: str,
        queue: Queue,
        handler: Handler,
        function_timeout_s: float,
        clock: Clock,
        *,
        function_name: str | None = None,
        memory_mb: int = 512,
        wait_time_s: int = 1,
    ) -> None:
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.queue = queue
        self.handler = handler
        self.function_timeout_s = function_timeout_s
        self.clock = clock
        self.function_name = function_name or queue.consumer
        self.memory_mb = memory_mb
        self.wait_time_s = wait_time_s
        self.region = queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else "us-east-1"
        self.stats = PollerStats()
        self.faults = PollerFaults()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._in_flight = 0  # batches received and not yet settled (invoking or deleting)

    # -- counters ----------------------------------------------------------------------------------------------

    @property
    def invocations(self) -> int:
        return self.stats.invocations

    @property
    def records(self) -> int:
        return self.stats.records

    @property
    def failures(self) -> int:
        return self.stats.failures

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._worker, name=f"kizuna-poller-{self.queue.key}-{i}", daemon=True)
            for i in range(self.queue.max_concurrency)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling; batches already received are finished and settled first."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def __enter__(self) -> QueuePoller:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drain(self, timeout: float = 30.0, poll_s: float = 0.2) -> bool:
        """Wait until the queue has no visible, delayed or in-flight message and no invocation is running.
        Returns False on timeout. Records that failed wait out their visibility timeout before they count as done."""
        deadline = time.monotonic() + timeout
        quiet_checks = 0
        while time.monotonic() < deadline:
            if self.in_flight == 0 and self._queue_empty() and self.in_flight == 0:  # re-check: a receive may land
                quiet_checks += 1
                if quiet_checks >= 2:
                    return True
            else:
                quiet_checks = 0
            time.sleep(poll_s)
        return False

    def depth(self) -> dict[str, int]:
        """The queue's visible, in-flight and delayed counts (SQS's approximations) and the batches being invoked."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return {
            "visible": int(attrs["ApproximateNumberOfMessages"]),
            "not_visible": int(attrs["ApproximateNumberOfMessagesNotVisible"]),
            "delayed": int(attrs["ApproximateNumberOfMessagesDelayed"]),
            "batches_invoking": self.in_flight,
        }

    def _queue_empty(self) -> bool:
        depth = self.depth()
        return depth["visible"] == depth["not_visible"] == depth["delayed"] == 0

    # -- polling -----------------------------------------------------------------------------------------------

    def _worker(self) -> None:
        while not self._stop.is_set():
            try:
                self._poll_once()
            except Exception:
                log.exception("%s poller: receive/settle failed", self.queue.key)
                self._stop.wait(1.0)

    def _poll_once(self) -> None:
        messages = self._receive_batch()
        if not messages:
            return
        # Counted from the moment the batch is held: until then its messages show as in flight in the queue itself.
        with self._lock:
            self._in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
        try:
            self._invoke(messages)
            with self._lock:
                again = [m for m in messages if self.faults.roll(self.faults.duplicate_ratio)]
                self.faults.duplicated += len(again)
            if again:
                self._invoke(again, settle=False)  # the same records delivered once more
        finally:
            with self._lock:
                self._in_flight -= 1

    def _receive_batch(self) -> list[dict[str, Any]]:
        batch = self._receive(self.queue.batch_size, self.wait_time_s)
        window = self.queue.max_batching_window_s
        if not batch or not window:
            return batch
        # A batching window: keep gathering until the batch is full or the window (opened by the first record) ends.
        window_end = time.monotonic() + window
        while len(batch) < self.queue.batch_size:
            remaining = window_end - time.monotonic()
            if remaining <= 0:
                break
            wait = min(self.wait_time_s, int(remaining))
            got = self._receive(self.queue.batch_size - len(batch), wait)
            batch += got
            if not got and wait == 0:
                time.sleep(min(remaining, 0.1))
        return batch

    def _receive(self, count: int, wait_s: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(SQS_MAX_RECEIVE, count),
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def _invoke(self, messages: list[dict[str, Any]], settle: bool = True) -> None:
        event = {"Records": [self._record(m) for m in messages]}
        context = LocalLambdaContext(self.function_name, self.function_timeout_s, self.memory_mb, region=self.region)
        with self._lock:
            self.stats.invocations += 1
            self.stats.records += len(messages)
            self.stats.batch_sizes.append(len(messages))
            self.stats.last_invocation_at = self.clock.now()
        failed_ids: set[str] | None
        try:
            response = self.handler(event, context)
            failed_ids = _failed_ids(response, {m["MessageId"] for m in messages})
            if failed_ids is None:
                log.error("%s: invalid batch response, the whole batch is retried: %r", self.function_name, response)
        except (Exception, BaseException) as exc:  # noqa: B036 - a crashed runtime fails its batch, as in Lambda
            if isinstance(exc, KeyboardInterrupt):
                raise
            log.exception("%s: invocation failed, the whole batch of %d is retried", self.function_name, len(messages))
            failed_ids = None
        elapsed = context.elapsed_s()
        if elapsed > self.function_timeout_s:
            log.error(
                "%s: invocation %s took %.1f s, beyond its %s s timeout (Lambda would have cut it off)",
                self.function_name,
                context.aws_request_id,
                elapsed,
                self.function_timeout_s,
            )
            with self._lock:
                self.stats.timeouts += 1

        if not settle:
            return  # a duplicate delivery: the original's receipt settles the message
        to_delete = [] if failed_ids is None else [m for m in messages if m["MessageId"] not in failed_ids]
        with self._lock:
            dropped = [m for m in to_delete if self.faults.roll(self.faults.drop_ack_ratio)]
            self.faults.acks_dropped += len(dropped)
        for message in dropped:  # "crashed before the ack": visible again at once
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        to_delete = [m for m in to_delete if m not in dropped]
        self._delete(to_delete)
        if self.faults.failed_visibility_s is not None:
            kept = [m for m in messages if m not in to_delete and m not in dropped]
            for message in kept:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self.faults.failed_visibility_s,
                )
        with self._lock:
            if failed_ids is None:
                self.stats.errors += 1
            self.stats.deleted += len(to_delete)
            self.stats.failures += len(messages) - len(to_delete)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_MAX_RECEIVE):
            chunk = messages[start : start + SQS_MAX_RECEIVE]
            result = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in result.get("Failed", []):
                log.error("%s: could not delete a processed message: %s", self.queue.key, failure)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _lambda_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record


def _lambda_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """SQS API form (StringValue/BinaryValue/DataType) -> Lambda event form (camelCase, binary as base64)."""
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        raw = value["BinaryValue"]
        attribute["binaryValue"] = base64.b64encode(raw).decode("ascii") if isinstance(raw, bytes) else raw
    return attribute


def _failed_ids(response: Any, batch_ids: set[str]) -> set[str] | None:
    """The message ids to keep, per Lambda's rules for partial batch responses; None = the whole batch failed."""
    if not isinstance(response, dict):
        # Lambda: a null (or empty) response means every record succeeded.
        return set()
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return set()
    if not isinstance(failures, list):
        return None
    ids: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in batch_ids:
            return None
        ids.add(identifier)
    return ids
