"""In-memory fakes of erasure's ports (kizuna.ports_analytics.EventObjectStore, ErasureIndex), with the real adapters'
semantics: a replacement only if the ETag still matches, older versions kept while `versioned`, expired tombstones
not answered."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from kizuna.catalog_analytics import ERASURE_TOMBSTONE_DAYS
from kizuna.ports_analytics import ListedObject, StoredObject


@dataclass
class _Version:
    body: bytes
    metadata: dict[str, str]
    modified: datetime

    @property
    def etag(self) -> str:
        return '"' + hashlib.md5(self.body).hexdigest() + '"'  # noqa: S324 (S3's ETag of a single-part object)


@dataclass
class InMemoryOpened:
    etag: str
    metadata: dict[str, str]
    body: bytes

    def lines(self) -> Iterator[bytes]:
        yield from io.BytesIO(self.body)

    def close(self) -> None:
        return None


@dataclass
class InMemoryEventObjects:
    now: datetime  # LastModified of what is put
    versioned: bool = False
    versions: dict[str, list[_Version]] = field(default_factory=dict)  # key → versions, newest last
    replaced: int = 0

    def put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        version = _Version(body, dict(metadata or {}), self.now)
        self.versions[key] = [*self.versions.get(key, []), version] if self.versioned else [version]

    def body(self, key: str) -> bytes:
        return self.versions[key][-1].body

    def open(self, bucket: str, key: str) -> InMemoryOpened:
        current = self.versions[key][-1]
        return InMemoryOpened(current.etag, dict(current.metadata), current.body)

    def list_objects(self, bucket: str, prefix: str, after: str | None = None) -> Iterator[ListedObject]:
        for key in sorted(k for k in self.versions if k.startswith(prefix) and (after is None or k > after)):
            current = self.versions[key][-1]
            yield ListedObject(key, current.etag, current.modified, len(current.body))

    def read(self, bucket: str, key: str) -> StoredObject | None:
        if key not in self.versions:
            return None
        current = self.versions[key][-1]
        return StoredObject(key, current.etag, current.body, dict(current.metadata))

    def replace(
        self, bucket: str, key: str, body: bytes, expected_etag: str, metadata: dict[str, str], content_type: str | None
    ) -> bool:
        if key not in self.versions or self.versions[key][-1].etag != expected_etag:
            return False
        self.put(key, body, metadata)
        self.replaced += 1
        return True

    def delete_noncurrent_versions(self, bucket: str, key: str) -> int:
        older = len(self.versions.get(key, [])) - 1
        if older > 0:
            self.versions[key] = self.versions[key][-1:]
        return max(0, older)


class InMemoryErasureIndex:
    def __init__(self) -> None:
        self.filters: dict[tuple[str, date], dict[str, bytes]] = {}
        self.erased: dict[str, dict[str, datetime]] = {}  # app → fingerprint → erased at

    def put_object_filter(self, app_id: str, day: date, key: str, blob: bytes) -> None:
        self.filters.setdefault((app_id, day), {})[key] = blob

    def object_filters(self, app_id: str, day: date) -> dict[str, bytes]:
        return dict(self.filters.get((app_id, day), {}))

    def has_object_filter(self, app_id: str, day: date, key: str) -> bool:
        return key in self.filters.get((app_id, day), {})

    def put_tombstones(self, app_id: str, fingerprints: Sequence[str], erased_at: datetime) -> None:
        self.erased.setdefault(app_id, {}).update(dict.fromkeys(fingerprints, erased_at))

    def tombstones(self, app_id: str, now: datetime) -> set[str]:
        expiry = timedelta(days=ERASURE_TOMBSTONE_DAYS)
        return {fp for fp, at in self.erased.get(app_id, {}).items() if at + expiry > now}
