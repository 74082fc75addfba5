"""Sandbox Twilio: asynchronous status progression and signed status-callback delivery.

A scheduler thread moves messages along their status path after configurable delays; each transition enqueues a
status callback. Callbacks are POSTed by a few worker threads, sharded by message SID so that the callbacks of one
message are delivered in order; a callback answered with 5xx (or whose connection fails) is retried a few times.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallbackAttempt:
    url: str
    params: dict[str, str]
    status_code: int | None  # None when the connection failed
    attempt: int


@dataclass
class _Callback:
    url: str
    params: dict[str, str]
    idempotency_token: str
    attempts: int = 0


@dataclass(order=True)
class _Step:
    due: float
    seq: int
    action: Callable[[], None] = field(compare=False)


class DeliveryEngine:
    """Timers + callback workers with an idle counter (`wait_for_idle`)."""

    def __init__(
        self,
        auth_token: str,
        workers: int = 4,
        attempts: int = 3,
        retry_backoff_s: float = 0.05,
        timeout_s: float = 2.0,
    ) -> None:
        self._validator = RequestValidator(auth_token)
        self.attempts = attempts
        self.retry_backoff_s = retry_backoff_s
        self.timeout_s = timeout_s
        self.attempt_log: list[CallbackAttempt] = []
        self._pending = 0
        self._cond = threading.Condition()
        self._heap: list[_Step] = []
        self._seq = itertools.count()
        self._stopping = threading.Event()
        self._queues: list[queue.Queue[_Callback | None]] = [queue.Queue() for _ in range(workers)]
        self._threads: list[threading.Thread] = []

    # lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        self._threads = [threading.Thread(target=self._timer_loop, name="sandbox-twilio-timer", daemon=True)]
        for i, q in enumerate(self._queues):
            self._threads.append(
                threading.Thread(
                    target=self._callback_loop, args=(q,), daemon=True, name=f"sandbox-twilio-callbacks-{i}"
                )
            )
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for q in self._queues:
            q.put(None)
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    # idle accounting -------------------------------------------------------------------------------------------
    def _inc(self) -> None:
        with self._cond:
            self._pending += 1

    def _dec(self) -> None:
        with self._cond:
            self._pending -= 1
            self._cond.notify_all()

    def wait_for_idle(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # timers ----------------------------------------------------------------------------------------------------
    def schedule(self, delay_s: float, action: Callable[[], None]) -> None:
        with self._cond:
            self._pending += 1
            heapq.heappush(self._heap, _Step(time.monotonic() + delay_s, next(self._seq), action))
            self._cond.notify_all()

    def _timer_loop(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                if not self._heap:
                    self._cond.wait(0.5)
                    continue
                wait = self._heap[0].due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                step = heapq.heappop(self._heap)
            try:
                step.action()
            except Exception:  # a broken step must not kill the timer thread
                log.exception("sandbox twilio: status step failed")
            finally:
                self._dec()

    # callbacks -------------------------------------------------------------------------------------------------
    def sign(self, url: str, params: dict[str, str]) -> str:
        return self._validator.compute_signature(url, params)

    def enqueue_callback(self, shard_key: str, url: str, params: dict[str, str], token: str) -> None:
        self._inc()
        self._queues[zlib.crc32(shard_key.encode()) % len(self._queues)].put(_Callback(url, params, token))

    def post_signed(self, url: str, params: dict[str, str], token: str) -> requests.Response:
        headers = {
            "X-Twilio-Signature": self.sign(url, params),
            "I-Twilio-Idempotency-Token": token,
            "User-Agent": "TwilioProxy/1.1",
        }
        return requests.post(url, data=params, headers=headers, timeout=self.timeout_s)

    def _callback_loop(self, q: queue.Queue[_Callback | None]) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            try:
                self._deliver(item)
            finally:
                self._dec()

    def _deliver(self, cb: _Callback) -> None:
        while cb.attempts < self.attempts and not self._stopping.is_set():
            cb.attempts += 1
            status: int | None
            try:
                status = self.post_signed(cb.url, cb.params, cb.idempotency_token).status_code
            except requests.RequestException:
                status = None
            self.attempt_log.append(CallbackAttempt(cb.url, dict(cb.params), status, cb.attempts))
            if status is not None and status < 500:
                return
            self._stopping.wait(self.retry_backoff_s * cb.attempts)
        log.warning("sandbox twilio: gave up on callback %s to %s", cb.params.get("MessageStatus"), cb.url)
