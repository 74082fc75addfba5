"""What the local system's functions would be billed for on AWS, metered while a benchmark runs in local mode.

- Attribution: each call is charged to the Lambda function whose invocation made it. The local runtime invokes the
  handlers through `FunctionEnvironments`; `Metering` wraps that call (and work the handler hands to a thread pool,
  as the sender's concurrent sends and the analytics ledger's claims do) so the function is known on every thread.
  Calls made outside any invocation are the local runtime's own: its SQS pollers (Lambda's event source mapping on
  AWS) or another part named by the module that made them.
- Per function: invocations, CPU seconds (thread CPU of the invocation and of its pool tasks; moto runs on other
  threads), AWS calls by service and operation, and the bytes it writes to stdout (its CloudWatch Logs lines).
- Billing units: DynamoDB read and write request units (item sizes by DynamoDB's rules, global secondary index
  writes included), Firehose records and their billed bytes (each record rounded up to 5 KB).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kizuna.catalog import TABLES
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


# -- DynamoDB request units (docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)


def _value_size(value: dict[str, Any]) -> int:
    ((kind, body),) = value.items()
    if kind == "S":
        return len(body.encode())
    if kind == "N":
        return 1 + math.ceil(len(body.lstrip("-").replace(".", "").lstrip("0") or "0") / 2)
    if kind == "B":
        return len(body)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in body.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in body)
    return len(json.dumps(body))  # sets: about their JSON size


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def index_units(table: Any, index: Any, item: dict[str, Any]) -> int:
    """Write units of one write of `item` into `index` of catalog table `table`: the item's size if the index holds
    every attribute, else the size of the keys it holds (the table's and the index's)."""
    if index.projection == "ALL":
        return write_units(item_size(item))
    names = {table.partition_key, table.sort_key, index.partition_key, index.sort_key} - {None}
    return write_units(item_size({k: v for k, v in item.items() if k in names}))


def read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


class DynamoUnits:
    """botocore hooks adding up each function's request units. Reads are sized from the response; a put from its
    item; an update from the item's size at settle() (its final size: an upper bound). Global secondary indexes add
    their writes by DynamoDB's rules: an item entering or leaving an index one, an update of an index key two
    (delete and put), an update of other attributes one if the index holds them (projection ALL) and none if it
    does not (KEYS_ONLY). Each index write is sized by what the index holds of the item (all of it, or its keys);
    whether an item is in an index is followed from the writes seen."""

    def __init__(self, table_names: dict[str, str]) -> None:
        self.tables = {name: TABLES[key] for key, name in table_names.items()}  # physical name -> catalog entry
        # Each keyed by (caller, catalog table key).
        self.rru: Counter[tuple[str, str]] = Counter()
        self.wru: Counter[tuple[str, str]] = Counter()
        self.index_wru: Counter[tuple[str, str]] = Counter()
        # who, table, key, factor, index writes (index name -> writes)
        self.updates: list[tuple[str, str, dict[str, Any], int, dict[str, int]]] = []
        self._indexed: dict[tuple[str, str], set[str]] = {}  # (table, key) -> the indexes holding the item
        self._lock = threading.Lock()

    def register(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.dynamodb.*", self.before)
        client.meta.events.register("after-call.dynamodb.*", self.after)

    def before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = params
        who, op = caller(), model.name
        with self._lock:
            if op == "PutItem":
                context["bench_undo"] = self._put(who, params["TableName"], params["Item"], 1)
            elif op == "UpdateItem":
                context["bench_undo"] = self._update(who, params["TableName"], params)
            elif op == "DeleteItem":
                self.wru[(who, self._name(params["TableName"]))] += 1  # items here are under 1 KB
            elif op == "BatchWriteItem":
                for table, requests in params["RequestItems"].items():
                    for request in requests:
                        if "PutRequest" in request:
                            self._put(who, table, request["PutRequest"]["Item"], 1)
                        else:
                            self.wru[(who, self._name(table))] += 1
            elif op == "TransactWriteItems":
                for action in params["TransactItems"]:
                    if "Put" in action:
                        self._put(who, action["Put"]["TableName"], action["Put"]["Item"], 2)
                    elif "Update" in action:
                        self._update(who, action["Update"]["TableName"], action["Update"], factor=2)
                    else:
                        self.wru[(who, self._name(next(iter(action.values()))["TableName"]))] += 2

    def after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params, op, who = context.get("bench_params", {}), model.name, caller()
        if "Error" in parsed and "bench_undo" in context:  # a failed condition: the table's units are spent, but
            with self._lock:  # nothing reached the indexes
                context.pop("bench_undo")()
            return
        consistent = bool(params.get("ConsistentRead"))
        units, table = 0.0, self._name(params.get("TableName", ""))
        if op == "GetItem":
            units = read_units(item_size(parsed.get("Item", {})), consistent)
        elif op == "BatchGetItem":  # each key at least one unit, found or not
            for name, request in params.get("RequestItems", {}).items():
                found = parsed.get("Responses", {}).get(name, [])
                sizes = [item_size(i) for i in found] + [0] * max(0, len(request["Keys"]) - len(found))
                units += sum(read_units(s, bool(request.get("ConsistentRead"))) for s in sizes)
                table = self._name(name)
        elif op in ("Query", "Scan"):  # the page's items together, rounded up to 4 KB once
            units = read_units(sum(item_size(i) for i in parsed.get("Items", [])), consistent)
        if units:
            with self._lock:
                self.rru[(who, table)] += units

    def _put(self, who: str, table: str, item: dict[str, Any], factor: int) -> Callable[[], None]:
        """Count a put; returns what takes its index writes back if its condition fails."""
        units = write_units(item_size(item))
        self.wru[(who, self._name(table))] += factor * units
        spec = self.tables.get(table)
        if spec is None or not spec.indexes:
            return lambda: None
        ident = (table, self._key(spec, item))
        before = self._indexed.get(ident, set())
        after = {i.name for i in spec.indexes if i.partition_key in item and (i.sort_key is None or i.sort_key in item)}
        # replaced in, removed from or added to each index
        written = sum(index_units(spec, i, item) for i in spec.indexes if i.name in before | after)
        self.index_wru[(who, self._name(table))] += written
        self._indexed[ident] = after

        def undo() -> None:
            self.index_wru[(who, self._name(table))] -= written
            self._indexed[ident] = before

        return undo

    def _update(self, who: str, table: str, params: dict[str, Any], factor: int = 1) -> Callable[[], None]:
        """Count an update (sized at settle()); returns what takes its index writes back if its condition fails."""
        spec = self.tables.get(table)
        key = params["Key"]
        index_writes: dict[str, int] = {}  # index name -> writes, sized at settle()
        ident = (table, json.dumps(key, sort_keys=True))
        previous = self._indexed.get(ident)
        if spec is not None and spec.indexes:
            names = params.get("ExpressionAttributeNames", {})
            expression = re.sub(r"#\w+", lambda m: names.get(m.group(0), m.group(0)), params["UpdateExpression"])
            expression = re.sub(r":\w+", "", expression)  # value placeholders are not attribute names
            removed = set(re.findall(r"\w+", expression.split("REMOVE", 1)[1])) if "REMOVE" in expression else set()
            touched = set(re.findall(r"\w+", expression))
            held = self._indexed.get(ident, set())
            for index in spec.indexes:
                keys = {index.partition_key, index.sort_key} - {None}
                if index.name in held and index.partition_key in removed:
                    index_writes[index.name] = 1  # leaves the index
                    held = held - {index.name}
                elif index.name in held and keys & touched:
                    index_writes[index.name] = 2  # a key changed: delete + put
                elif index.name in held and index.projection == "ALL":
                    index_writes[index.name] = 1  # its copy of the item is rewritten
                elif index.name not in held and index.partition_key in touched - removed:
                    index_writes[index.name] = 1  # enters the index
                    held = held | {index.name}
            self._indexed[ident] = held
        self.updates.append((who, table, key, factor, index_writes))
        position = len(self.updates) - 1

        def undo() -> None:
            if position < len(self.updates) and self.updates[position][2] is key:  # not settled meanwhile
                self.updates[position] = (who, table, key, factor, {})
            if previous is None:
                self._indexed.pop(ident, None)
            else:
                self._indexed[ident] = previous

        return undo

    def _name(self, table: str) -> str:
        spec = self.tables.get(table)
        return spec.key if spec is not None else table

    @staticmethod
    def _key(spec: Any, item: dict[str, Any]) -> str:
        names = [spec.partition_key, *([spec.sort_key] if spec.sort_key else [])]
        return json.dumps({n: item.get(n) for n in names}, sort_keys=True)

    def settle(self, ddb: Any) -> None:
        """Size the updates by their items now (one GetItem each, made by the benchmark, not counted)."""
        items: dict[str, dict[str, Any]] = {}
        for who, table, key, factor, index_writes in self.updates:
            ident = table + json.dumps(key, sort_keys=True)
            if ident not in items:
                items[ident] = ddb.get_item(TableName=table, Key=key).get("Item", {})
            item, spec = items[ident], self.tables.get(table)
            self.wru[(who, self._name(table))] += factor * write_units(item_size(item))
            for index in spec.indexes if spec is not None else ():
                writes = index_writes.get(index.name, 0)
                self.index_wru[(who, self._name(table))] += writes * index_units(spec, index, item)
        self.updates = []

    def take(self) -> dict[str, Counter[tuple[str, str]]]:
        with self._lock:
            taken = {"rru": self.rru, "wru": self.wru, "index_wru": self.index_wru}
            self.rru, self.wru, self.index_wru = Counter(), Counter(), Counter()
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
