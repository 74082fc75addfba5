"""Kizuna's own access keys: the model, the store port, an in-memory store, and the services around them.

A key is an AWS-style pair (access key id + secret access key) that the stock AWS SDKs sign requests with. A key
is either admin (`app_ids is None`: every app, and CreateApp/GetApps over everything) or scoped to a set of apps.
"""

from __future__ import annotations

import secrets
import string
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from kizuna.clock import Clock
from kizuna.errors import BadRequest, Forbidden

ACCESS_KEY_PREFIX = "KZ"
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32, like AWS key ids
_ID_RANDOM_CHARS = 18
_SECRET_ALPHABET = string.ascii_letters + string.digits
_SECRET_CHARS = 40
MAX_DESCRIPTION_CHARS = 256


class KeyStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    app_ids: frozenset[str] | None  # None: admin, all apps
    created_at: datetime
    status: KeyStatus = KeyStatus.ACTIVE
    description: str = ""

    @property
    def is_admin(self) -> bool:
        return self.app_ids is None

    @property
    def is_active(self) -> bool:
        return self.status == KeyStatus.ACTIVE

    def __repr__(self) -> str:  # never carries the secret, but keep logs short
        scope = "admin" if self.app_ids is None else sorted(self.app_ids)
        return f"AccessKey({self.access_key_id!r}, apps={scope}, status={self.status.value})"


class AccessKeyStore(Protocol):
    def put(self, key: AccessKey, secret: str) -> None:
        """Create or replace a key together with its secret."""
        ...

    def get(self, access_key_id: str) -> tuple[AccessKey, str] | None:
        """The key and its plaintext secret, or None if there is no such key."""
        ...


class InMemoryAccessKeyStore:
    """A fake `AccessKeyStore` for unit tests and local mode. Counts `get` calls so caching can be tested."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[AccessKey, str]] = {}
        self._lock = threading.Lock()
        self.gets = 0

    def put(self, key: AccessKey, secret: str) -> None:
        with self._lock:
            self._items[key.access_key_id] = (key, secret)

    def get(self, access_key_id: str) -> tuple[AccessKey, str] | None:
        with self._lock:
            self.gets += 1
            return self._items.get(access_key_id)


def new_access_key_id() -> str:
    return ACCESS_KEY_PREFIX + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_RANDOM_CHARS))


def new_secret() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(_SECRET_CHARS))


def create_access_key(
    store: AccessKeyStore,
    app_ids: Iterable[str] | None,
    description: str,
    clock: Clock,
) -> tuple[AccessKey, str]:
    """Issue a new ACTIVE key; returns the key and its secret (shown once, stored only encrypted)."""
    scope: frozenset[str] | None = None
    if app_ids is not None:
        if isinstance(app_ids, str):
            raise BadRequest("app_ids must be a list of application ids, not a string")
        scope = frozenset(app_ids)
        if not scope:
            raise BadRequest("app_ids must name at least one application (or be omitted for an admin key)")
        if any(not isinstance(a, str) or not a for a in scope):
            raise BadRequest("app_ids must be non-empty strings")
    description = description or ""
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise BadRequest(f"description is longer than {MAX_DESCRIPTION_CHARS} characters")
    key = AccessKey(
        access_key_id=new_access_key_id(),
        app_ids=scope,
        created_at=clock.now(),
        status=KeyStatus.ACTIVE,
        description=description,
    )
    secret = new_secret()
    store.put(key, secret)
    return key, secret


def authorize(key: AccessKey, app_id: str) -> None:
    """Raise Forbidden unless `key` may act on application `app_id`."""
    if not key.is_active:
        raise Forbidden("The security token included in the request is invalid.")
    if key.app_ids is None or app_id in key.app_ids:
        return
    raise Forbidden(f"Access key {key.access_key_id} is not authorized to access application {app_id}")


class CachedSecretLookup:
    """`secret_for` for `verify_request` (and `key` for the API), cached so a warm Lambda skips KMS per request.

    Only ACTIVE keys yield a secret. Misses (unknown ids) are cached briefly too, so a flood of requests with one
    bad id does not reach the store each time. A deactivated key stays usable for at most `ttl_s` per container.
    """

    def __init__(
        self, store: AccessKeyStore, clock: Clock, ttl_s: float = 300, miss_ttl_s: float = 30, max_entries: int = 1024
    ) -> None:
        self._store = store
        self._clock = clock
        self._ttl_s = ttl_s
        self._miss_ttl_s = miss_ttl_s
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, tuple[AccessKey, str] | None]] = OrderedDict()
        self._lock = threading.Lock()

    def _lookup(self, access_key_id: str) -> tuple[AccessKey, str] | None:
        now = self._clock.now().timestamp()
        with self._lock:
            entry = self._entries.get(access_key_id)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(access_key_id)
                return entry[1]
        found = self._store.get(access_key_id)
        ttl = self._ttl_s if found is not None else self._miss_ttl_s
        with self._lock:
            self._entries[access_key_id] = (now + ttl, found)
            self._entries.move_to_end(access_key_id)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return found

    def secret_for(self, access_key_id: str) -> str | None:
        found = self._lookup(access_key_id)
        if found is None or not found[0].is_active:
            return None
        return found[1]

    __call__ = secret_for

    def key(self, access_key_id: str) -> AccessKey | None:
        found = self._lookup(access_key_id)
        if found is None or not found[0].is_active:
            return None
        return found[0]

    def invalidate(self, access_key_id: str | None = None) -> None:
        with self._lock:
            if access_key_id is None:
                self._entries.clear()
            else:
                self._entries.pop(access_key_id, None)
