"""moto 5.2.5's TransactWriteItems deep-copies the tables it touches to roll back on failure, without a lock: a
write or read from another thread meanwhile fails it with "dictionary changed size during iteration" (a 500; moto's
items are not safe to copy while they are being read). DynamoDB itself isolates transactions, so local mode does
the same for moto: every item operation takes one lock."""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_WRITES = (
    "transact_write_items",
    "put_item",
    "update_item",
    "delete_item",
    "batch_write_item",
    "get_item",
    "batch_get_item",
    "transact_get_items",
    "query",
    "scan",
)
_lock = threading.RLock()


def serialise_dynamodb_writes() -> None:
    for name in _WRITES:
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "_kizuna_locked", False):
            continue

        def locked(self: Any, *args: Any, _method: Any = method, **kwargs: Any) -> Any:
            with _lock:
                return _method(self, *args, **kwargs)

        functools.update_wrapper(locked, method)
        locked._kizuna_locked = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)
