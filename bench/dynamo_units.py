"""DynamoDB request units of the local system's calls, charged to the Lambda function that made them (the caller
bench/aws_meter.py attributes each call to), as on-demand billing would count them.

Item sizes follow DynamoDB's rules; global secondary index writes are included, sized by what each index holds
(docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from aws_meter import caller

from kizuna.catalog import TABLES


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
