"""moto 5.2.5 gives DynamoDB's guarantees to one thread at a time only; local mode runs many. Two of them matter:

- A conditional write is not atomic: moto reads the item, evaluates the condition and writes without a lock, so two
  threads can both pass `attribute_not_exists(pk)` for the same key — two senders claiming one message id, two
  cap admissions over the limit. DynamoDB makes each write atomic; local mode does the same for moto by running
  item writes one at a time.
- TransactWriteItems deep-copies the tables it touches to roll back on failure: a read or write from another thread
  meanwhile fails it with "dictionary changed size during iteration" (a 500). A transaction also runs alone.

Reads (GetItem, Query, Scan, ...) run together between writes. moto also deep-copies each table a transaction
touches, once per item of the transaction, to roll it back on failure: the cost grows with the table, not the
transaction. In a long soak the analytics table holds an activity item per endpoint, so each chunk commit copied
tens of thousands of items and analytics fell further behind the longer the run went. Local mode keeps moto's
rollback but gives it an undo log instead: before a transaction it copies the items the transaction names (their
state before), hands moto a `copy` module that does not copy tables, and on failure puts those items back. That is
exact because the transaction runs alone (the lock above) and writes only the items it names."""

from __future__ import annotations

import copy
import functools
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import moto.dynamodb.models as moto_dynamodb
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

_WRITES = ("transact_write_items", "put_item", "update_item", "delete_item", "batch_write_item")
_READS = ("get_item", "batch_get_item", "transact_get_items", "query", "scan")


class _TransactionLock:
    """Reads run together; a write (item write or transaction) runs alone. Waiting writers go first, so a stream of
    reads cannot starve them. Re-entrant per thread: moto's transaction and batch calls use its item operations
    inside."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer: int | None = None  # the thread running a write or a transaction
        self._writers_waiting = 0
        self._depth = threading.local()

    @contextmanager
    def shared(self) -> Iterator[None]:
        if self._writer == threading.get_ident() or getattr(self._depth, "n", 0):
            yield  # already inside this thread's transaction or item operation
            return
        with self._cond:
            while self._writer is not None or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        self._depth.n = 1
        try:
            yield
        finally:
            self._depth.n = 0
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        if self._writer == threading.get_ident():
            yield
            return
        with self._cond:
            self._writers_waiting += 1
            while self._writer is not None or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = threading.get_ident()
        try:
            yield
        finally:
            with self._cond:
                self._writer = None
                self._cond.notify_all()


_lock = _TransactionLock()


def _deepcopy_but_tables(value: Any) -> Any:
    """moto's `copy.deepcopy` during a transaction: tables are not copied (the undo log restores their items), every
    other value is (update_item keeps a copy of the item it changes)."""
    return value if isinstance(value, Table) else copy.deepcopy(value)


_NO_TABLE_COPIES = types.SimpleNamespace(deepcopy=_deepcopy_but_tables)

Saved = tuple[Table, DynamoType, DynamoType | None, Item | None]


def _items_before(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[Saved]:
    """A copy of each item the transaction names, as it is now (None: absent)."""
    saved: list[Saved] = []
    for entry in transact_items:
        op = next(iter(entry.values()), None)
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        key = (op.get("Item") or op.get("Key")) if table is not None else None
        if not key or table.hash_key_attr not in key or (table.range_key_attr and table.range_key_attr not in key):
            continue  # moto refuses the transaction before it writes this item
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        current = table.get_item(hash_value, range_value)
        saved.append((table, hash_value, range_value, copy.deepcopy(current)))
    return saved


def _put_back(saved: list[Saved]) -> None:
    for table, hash_value, range_value, item in reversed(saved):
        if range_value is None:
            table.items.pop(hash_value, None)
            if item is not None:
                table.items[hash_value] = item
            continue
        table.items[hash_value].pop(range_value, None)
        if item is not None:
            table.items[hash_value][range_value] = item
        elif not table.items[hash_value]:
            del table.items[hash_value]


def _transact_with_undo_log(method: Any, backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Any:
    saved = _items_before(backend, transact_items)
    moto_dynamodb.copy = _NO_TABLE_COPIES  # type: ignore[assignment]
    try:
        return method(backend, transact_items)
    except BaseException:
        _put_back(saved)  # what moto's own rollback did with its table copies
        raise
    finally:
        moto_dynamodb.copy = copy  # type: ignore[assignment]


def serialise_dynamodb_writes() -> None:
    for name in (*_WRITES, *_READS):
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "_kizuna_locked", False):
            continue

        def locked(self: Any, *args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            if _name in _READS:
                with _lock.shared():
                    return _method(self, *args, **kwargs)
            if _name != "transact_write_items":
                with _lock.exclusive():
                    return _method(self, *args, **kwargs)
            with _lock.exclusive():
                return _transact_with_undo_log(_method, self, *args, **kwargs)

        functools.update_wrapper(locked, method)
        locked._kizuna_locked = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)
