"""Local EventBridge Scheduler: fires the catalog's rate schedules and one-time schedules, on the clock port.

The event a target receives is what EventBridge Scheduler delivers to a Lambda target: the schedule's Input,
verbatim. For catalog schedules that is the Input infra/ gives them, {"schedule": <key>}; for one-time schedules
it is the payload given to `at()`.

Time comes only from the clock. With a VirtualClock, call `run_due()` after advancing it; with a SystemClock,
`start(poll_s)` runs `run_due()` on a background thread. A rate schedule first fires one period after the
scheduler starts (its creation), then every period. If the clock jumps over several periods, every missed
occurrence fires, in order (a simulation should not lose runs). A target that raises is logged and counted;
unlike AWS (two retries, then the schedule's DLQ) nothing is retried.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kizuna.catalog import FUNCTIONS, SCHEDULES
from kizuna.catalog_types import Function, Schedule
from kizuna.clock import Clock
from kizuna.local.lambda_context import LocalLambdaContext

log = logging.getLogger(__name__)

Handler = Callable[[dict, Any], Any]
Target = str | Handler  # a function key (catalog.FUNCTIONS, registered handler) or the handler itself


@dataclass(frozen=True)
class Firing:
    schedule: str
    target: str
    scheduled_at: datetime
    fired_at: datetime
    ok: bool
    result: Any = None
    error: str | None = None


@dataclass(order=True)
class _Due:
    at: datetime
    seq: int
    name: str = field(compare=False)
    target: Target = field(compare=False)
    payload: dict[str, Any] = field(compare=False)
    every: timedelta | None = field(compare=False, default=None)


class LocalScheduler:
    def __init__(
        self,
        clock: Clock,
        handlers: Mapping[str, Handler] | None = None,
        schedules: Iterable[Schedule] | None = None,
        *,
        functions: Mapping[str, Function] = FUNCTIONS,
    ) -> None:
        self.clock = clock
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.functions = functions
        self.history: list[Firing] = []
        self.failures = 0
        self._queue: list[_Due] = []
        self._seq = itertools.count()
        self._lock = threading.RLock()
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        start = clock.now()
        for spec in SCHEDULES.values() if schedules is None else schedules:
            every = timedelta(minutes=spec.rate_minutes)
            self._push(_Due(start + every, next(self._seq), spec.key, spec.function, {"schedule": spec.key}, every))

    # -- configuration -----------------------------------------------------------------------------------------

    def register(self, function_key: str, handler: Handler) -> None:
        self.handlers[function_key] = handler

    def at(
        self, moment: datetime, target: Target, payload: dict[str, Any] | None = None, name: str | None = None
    ) -> str:
        """A one-time schedule (`at(...)` expression): fires once when the clock reaches `moment`."""
        if moment.tzinfo is None:
            raise ValueError("one-time schedules need a timezone-aware moment")
        name = name or f"at-{uuid.uuid4().hex[:12]}"
        self._push(_Due(moment, next(self._seq), name, target, dict(payload or {})))
        return name

    def cancel(self, name: str) -> bool:
        with self._lock:
            before = len(self._queue)
            self._queue = [d for d in self._queue if d.name != name]
            heapq.heapify(self._queue)
            return len(self._queue) != before

    def pending(self) -> list[tuple[datetime, str]]:
        with self._lock:
            return sorted((d.at, d.name) for d in self._queue)

    def next_due(self) -> datetime | None:
        with self._lock:
            return self._queue[0].at if self._queue else None

    def _push(self, due: _Due) -> None:
        with self._lock:
            heapq.heappush(self._queue, due)

    # -- firing ------------------------------------------------------------------------------------------------

    def run_due(self) -> list[Firing]:
        """Fire everything due at clock.now(), oldest first (including every missed period of a rate schedule)."""
        fired: list[Firing] = []
        with self._run_lock:
            now = self.clock.now()
            while True:
                with self._lock:
                    if not self._queue or self._queue[0].at > now:
                        break
                    due = heapq.heappop(self._queue)
                    if due.every is not None:
                        heapq.heappush(
                            self._queue,
                            _Due(due.at + due.every, next(self._seq), due.name, due.target, due.payload, due.every),
                        )
                fired.append(self._fire(due))
        return fired

    def _fire(self, due: _Due) -> Firing:
        fired_at = self.clock.now()
        target_name = due.target if isinstance(due.target, str) else getattr(due.target, "__name__", "target")
        try:
            target_name, handler, spec = self._resolve(due.target)
            context = LocalLambdaContext(target_name, spec.timeout_s if spec else 900, spec.memory_mb if spec else 512)
            result = handler(dict(due.payload), context)
            firing = Firing(due.name, target_name, due.at, fired_at, True, result)
        except Exception as exc:
            log.exception("schedule %s: target %s raised", due.name, target_name)
            firing = Firing(due.name, target_name, due.at, fired_at, False, error=repr(exc))
            self.failures += 1
        with self._lock:
            self.history.append(firing)
        return firing

    def _resolve(self, target: Target) -> tuple[str, Handler, Function | None]:
        if isinstance(target, str):
            if target not in self.handlers:
                raise KeyError(f"no handler registered for function {target!r}")
            return target, self.handlers[target], self.functions.get(target)
        return getattr(target, "__name__", "target"), target, None

    # -- background variant (SystemClock) ----------------------------------------------------------------------

    def start(self, poll_s: float = 1.0) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.run_due()
                except Exception:
                    log.exception("scheduler: run_due failed")
                self._stop.wait(poll_s)  # wall-clock polling; never clock.sleep (a VirtualClock would advance)

        self._thread = threading.Thread(target=loop, name="kizuna-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None
