"""The event stream: newline-delimited JSON into Kinesis Data Firehose, 500 records / 4 MiB per call, records that
Firehose reports as failed (FailedPutCount) retried with backoff.

Events are packed several to a record (JSON lines, at most 500 — the most the stream's RecordDeAggregation
processor splits — and 1,000 KiB): Firehose bills ingestion per record rounded up to 5 KB, and an event is about
0.5 KB, so one event per record would pay for ten times the bytes sent. The delivery stream deaggregates the
records before it partitions them by app and day (infra/event_stream.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

MAX_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024
MAX_EVENTS_PER_RECORD = 500  # Firehose's multi-record deaggregation limit
ROUNDS = 4


class EventStreamError(RuntimeError):
    pass


class FirehoseEventSink:
    def __init__(self, stream_name: str, client: Any) -> None:
        self._stream = stream_name
        self._firehose = client

    def emit(self, events: Sequence[dict[str, Any]]) -> None:
        records = [(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n").encode() for e in events]
        for data in records:
            if len(data) > MAX_RECORD_BYTES:
                raise EventStreamError(f"event of {len(data)} bytes exceeds Firehose's record limit")
        for batch in _batches(list(pack_records(records))):
            self._put(batch)

    def _put(self, batch: list[bytes]) -> None:
        pending = batch
        for round_ in range(ROUNDS):
            response = self._firehose.put_record_batch(
                DeliveryStreamName=self._stream, Records=[{"Data": d} for d in pending]
            )
            if not response.get("FailedPutCount"):
                return
            pending = [d for d, r in zip(pending, response["RequestResponses"], strict=True) if r.get("ErrorCode")]
            time.sleep(0.1 * 2**round_)
        raise EventStreamError(f"Firehose rejected {len(pending)} events after {ROUNDS} attempts")


def pack_records(lines: list[bytes]) -> Iterator[bytes]:
    record: list[bytes] = []
    size = 0
    for line in lines:
        if record and (len(record) == MAX_EVENTS_PER_RECORD or size + len(line) > MAX_RECORD_BYTES):
            yield b"".join(record)
            record, size = [], 0
        record.append(line)
        size += len(line)
    if record:
        yield b"".join(record)


def _batches(records: list[bytes]) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    size = 0
    for data in records:
        if batch and (len(batch) == MAX_RECORDS or size + len(data) > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(data)
        size += len(data)
    if batch:
        yield batch
