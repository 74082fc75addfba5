"""Firehose's buffer, emulated for local mode.

In AWS the delivery stream buffers records (60 s or 5 MiB) and writes one S3 object per buffer, so analytics_ingest
counts a few large objects. moto writes an object per PutRecordBatch call instead; every status callback would
become its own object, notification and ingest run, and the local pipeline would spend its time on per-object
overhead. Local mode therefore routes every event sink through this buffer (wiring.use_event_sinks) and flushes it
to moto's Firehose — through the real FirehoseEventSink — every `interval_s`, and whenever `flush()` is called
(LocalKizuna.drain does, so a test that has drained sees every event in S3).

Unlike Firehose's buffer, this one lives in the process: events emitted just before the process dies are lost.
That is acceptable for a local sandbox and is why AWS never uses it.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from kizuna.adapters.firehose_events import FirehoseEventSink

log = logging.getLogger(__name__)


class BufferedSink:
    def __init__(self, buffer: LocalFirehoseBuffer, stream: str) -> None:
        self._buffer, self._stream = buffer, stream

    def emit(self, events: Sequence[dict[str, Any]]) -> None:
        self._buffer.add(self._stream, events)


class LocalFirehoseBuffer:
    def __init__(self, firehose: Callable[[], Any], interval_s: float = 1.0) -> None:
        self._firehose = firehose  # the client factory (wiring.aws("firehose")), read at flush time
        self._interval_s = interval_s
        self._pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time keeps each stream's events in order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushes = 0

    def sink(self, stream: str) -> BufferedSink:
        return BufferedSink(self, stream)

    def add(self, stream: str, events: Sequence[dict[str, Any]]) -> None:
        with self._lock:
            self._pending[stream].extend(events)

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, defaultdict(list)
            unsent = dict(pending)
            try:
                for stream, events in pending.items():
                    if events:
                        FirehoseEventSink(stream, self._firehose()).emit(events)
                        self.flushes += 1
                    del unsent[stream]
            finally:
                if unsent:  # what did not go out goes back in front of what arrived meanwhile
                    with self._lock:
                        for stream, events in unsent.items():
                            self._pending[stream][:0] = events

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="local-firehose-buffer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.flush()
            except Exception:  # moto refused: the events stay buffered and the next flush tries them again
                log.exception("local Firehose buffer: flush failed")
