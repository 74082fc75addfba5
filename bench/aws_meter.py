"""What the local system's functions would be billed for on AWS, metered while a benchmark runs in local mode.

- Attribution: each call is charged to the Lambda function whose invocation made it. The local runtime invokes the
  handlers through `FunctionEnvironments`; `Metering` wraps that call (and work the handler hands to a thread pool,
  as the sender's concurrent sends and the analytics ledger's claims do) so the function is known on every thread.
  Calls made outside any invocation are the local runtime's own: its SQS pollers (Lambda's event source mapping on
  AWS) or another part named by the module that made them.
- Per function: invocations, CPU seconds (thread CPU of the invocation and of its pool tasks; moto runs on other
  threads), AWS calls by service and operation, and the bytes it writes to stdout (its CloudWatch Logs lines).
- Billing units: Firehose records and their billed bytes (each record rounded up to 5 KB); DynamoDB read and write
  request units are counted by bench/dynamo_units.py, charged to the same callers.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kizuna.local.functions import FunctionEnvironments
from kizuna.observability import logger

LOCAL_RUNTIME = "local SQS poller"
# As deployed (infra/functions.py sets neither): Powertools logs at INFO and publishes its metrics (EMF lines).
AWS_LOGGING = {"POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_DISABLED": "false"}
FIREHOSE_BILLING_INCREMENT = 5 * 1024  # Firehose bills each record rounded up to 5 KB
_thread = threading.local()


def current_function() -> str | None:
    return getattr(_thread, "function", None)


def caller() -> str:
    """The function being invoked on this thread, else who in the local runtime made the call."""
    function = current_function()
    if function is not None:
        return function
    frame = sys._getframe(2)
    while frame is not None and re.search(r"/(botocore|boto3|bench)/", frame.f_code.co_filename.replace("\\", "/")):
        frame = frame.f_back
    if frame is None:
        return "other"
    if frame.f_code.co_filename.replace("\\", "/").endswith("kizuna/local/runtime_queues.py"):
        return LOCAL_RUNTIME
    outermost = None  # the kizuna module that started this work (a thread's target, a scheduler's job)
    while frame is not None:
        match = re.search(r"(kizuna/.+\.py)$", frame.f_code.co_filename.replace("\\", "/"))
        outermost = match.group(1) if match else outermost
        frame = frame.f_back
    return f"other ({outermost or 'outside kizuna'})"


class CallCounter:
    """Counts botocore API calls by (caller, service, operation); thread-safe (handlers run on poller threads)."""

    def __init__(self, fixed_caller: str | None = None) -> None:
        self.fixed_caller = fixed_caller
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any, **_: Any) -> None:
        key = (self.fixed_caller or caller(), model.service_model.service_name, model.name)
        with self._lock:
            self.counts[key] += 1

    def take(self) -> Counter[tuple[str, str, str]]:
        with self._lock:
            counts, self.counts = self.counts, Counter()
        return counts


class PoolCalls(CallCounter):
    """Only the calls a function's pool tasks make (they run side by side, so they wait on AWS concurrently)."""

    def __call__(self, model: Any, **kwargs: Any) -> None:
        if getattr(_thread, "pooled", False):
            super().__call__(model, **kwargs)


class Metering:
    """While entered: every invocation through FunctionEnvironments (and its pool tasks) is attributed and timed."""

    def __init__(self) -> None:
        self.invocations: Counter[str] = Counter()
        self.cpu_s: Counter[str] = Counter()
        self.pooled_cpu_s: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __enter__(self) -> Metering:
        self._call, self._submit = FunctionEnvironments.__call__, ThreadPoolExecutor.submit
        meter, call, submit = self, self._call, self._submit

        def invoke(environments: FunctionEnvironments, event: dict, context: Any) -> Any:
            outer = current_function()
            _thread.function = environments.key
            started = time.thread_time()
            try:
                return call(environments, event, context)
            finally:
                meter._add(environments.key, time.thread_time() - started, pooled=False)
                _thread.function = outer

        def pooled(pool: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            function = current_function()
            if function is None:
                return submit(pool, fn, *args, **kwargs)

            def task(*a: Any, **k: Any) -> Any:
                _thread.function, _thread.pooled = function, True
                started = time.thread_time()
                try:
                    return fn(*a, **k)
                finally:
                    meter._add(function, time.thread_time() - started, pooled=True)
                    _thread.function, _thread.pooled = None, False

            return submit(pool, task, *args, **kwargs)

        FunctionEnvironments.__call__ = invoke  # type: ignore[method-assign]
        ThreadPoolExecutor.submit = pooled  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        FunctionEnvironments.__call__ = self._call  # type: ignore[method-assign]
        ThreadPoolExecutor.submit = self._submit  # type: ignore[method-assign]

    def _add(self, function: str, cpu_s: float, pooled: bool) -> None:
        with self._lock:
            if pooled:
                self.pooled_cpu_s[function] += cpu_s
            else:
                self.invocations[function] += 1
                self.cpu_s[function] += cpu_s

    def take(self) -> tuple[Counter[str], Counter[str], Counter[str]]:
        with self._lock:
            taken = (self.invocations, self.cpu_s, self.pooled_cpu_s)
            self.invocations, self.cpu_s, self.pooled_cpu_s = Counter(), Counter(), Counter()
        return taken


@contextlib.contextmanager
def logging_as_deployed(stdout: LogBytes):
    """Logs and metrics as the deployed functions write them (local mode quiets both), into `stdout`."""
    saved = {k: os.environ.get(k) for k in AWS_LOGGING}
    os.environ.update(AWS_LOGGING)
    level, handler = logger.log_level, logger.registered_handler
    stream = handler.setStream(stdout)  # Powertools bound its handler to the stdout of import time
    logger.setLevel(AWS_LOGGING["POWERTOOLS_LOG_LEVEL"])
    try:
        with contextlib.redirect_stdout(stdout):  # EMF metric lines are printed
            yield
    finally:
        handler.setStream(stream)
        logger.setLevel(level)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


class LogBytes(io.TextIOBase):
    """A stdout that counts what each function writes (its CloudWatch Logs volume on AWS) and keeps none of it."""

    def __init__(self) -> None:
        self.bytes: Counter[str] = Counter()
        self.lines: Counter[str] = Counter()
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        who = current_function() or "other"
        with self._lock:
            self.bytes[who] += len(text.encode())
            self.lines[who] += text.count("\n")
        return len(text)

    def take(self) -> tuple[Counter[str], Counter[str]]:
        with self._lock:
            taken = (self.bytes, self.lines)
            self.bytes, self.lines = Counter(), Counter()
        return taken


class FirehoseRecords:
    """A before-parameter-build hook on PutRecordBatch: records, events (JSON lines) and billed bytes per caller."""

    def __init__(self) -> None:
        self.counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._lock = threading.Lock()

    def register(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.firehose.PutRecordBatch", self)

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        data = [r["Data"] if isinstance(r["Data"], bytes) else r["Data"].encode() for r in params["Records"]]
        billed = sum(math.ceil(len(d) / FIREHOSE_BILLING_INCREMENT) * FIREHOSE_BILLING_INCREMENT for d in data)
        with self._lock:
            counts = self.counts[caller()]
            counts["records"] += len(data)
            counts["events"] += sum(d.count(b"\n") for d in data)
            counts["bytes"] += sum(len(d) for d in data)
            counts["billed_bytes"] += billed

    def take(self) -> dict[str, Counter[str]]:
        with self._lock:
            taken, self.counts = dict(self.counts), defaultdict(Counter)
        return taken
