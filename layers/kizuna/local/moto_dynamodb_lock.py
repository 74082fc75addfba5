"""moto 5.2.5 gives DynamoDB's guarantees to one thread at a time only; local mode runs many. Two of them matter:

- A conditional write is not atomic: moto reads the item, evaluates the condition and writes without a lock, so two
  threads can both pass `attribute_not_exists(pk)` for the same key — two senders claiming one message id, two
  cap admissions over the limit. DynamoDB makes each write atomic; local mode does the same for moto by running
  item writes one at a time.
- TransactWriteItems deep-copies the tables it touches to roll back on failure: a read or write from another thread
  meanwhile fails it with "dictionary changed size during iteration" (a 500). A transaction also runs alone.

Reads (GetItem, Query, Scan, ...) run together between writes. moto also deep-copies a table once per item of a
transaction, not once per table: an analytics chunk of 30 items copied the whole analytics table 30 times. While a
transaction runs, local mode hands moto a `copy` module that copies each object once and returns the same copy after
that (the rollback only needs one snapshot per table)."""

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


def _copying_once() -> types.SimpleNamespace:
    copies: dict[int, Any] = {}

    def deepcopy(value: Any) -> Any:
        if id(value) not in copies:
            copies[id(value)] = (value, copy.deepcopy(value))  # the original is kept so its id stays unique
        return copies[id(value)][1]

    return types.SimpleNamespace(deepcopy=deepcopy)


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
                moto_dynamodb.copy = _copying_once()  # type: ignore[assignment]
                try:
                    return _method(self, *args, **kwargs)
                finally:
                    moto_dynamodb.copy = copy  # type: ignore[assignment]

        functools.update_wrapper(locked, method)
        locked._kizuna_locked = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)
