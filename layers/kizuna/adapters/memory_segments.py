"""In-memory SegmentStore with the DynamoDB adapter's semantics (ids listed in order, members per endpoint shard)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from kizuna.domain.sharding import endpoint_shard


class InMemorySegmentStore:
    def __init__(self) -> None:
        self.latest: dict[tuple[str, str], dict[str, Any]] = {}
        self.versions: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
        self.member_ids: dict[tuple[str, str, int], set[str]] = {}
        self._lock = threading.Lock()

    def put_segment(self, app_id: str, segment: dict[str, Any]) -> None:
        doc = copy.deepcopy(segment)
        with self._lock:
            self.latest[(app_id, doc["Id"])] = doc
            self.versions.setdefault((app_id, doc["Id"]), {})[int(doc["Version"])] = doc

    def get_segment(self, app_id: str, segment_id: str, version: int | None = None) -> dict[str, Any] | None:
        with self._lock:
            if version is None:
                found = self.latest.get((app_id, segment_id))
            else:
                found = self.versions.get((app_id, segment_id), {}).get(int(version))
        return copy.deepcopy(found) if found is not None else None

    def list_segments(self, app_id: str, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        with self._lock:
            ids = sorted(s for a, s in self.latest if a == app_id)
            start = next((i for i, s in enumerate(ids) if s > token), len(ids)) if token else 0
            page = ids[start : start + limit]
            docs = [copy.deepcopy(self.latest[(app_id, s)]) for s in page]
        more = start + limit < len(ids)
        return docs, (page[-1] if more and page else None)

    def list_versions(self, app_id: str, segment_id: str) -> list[dict[str, Any]]:
        with self._lock:
            found = self.versions.get((app_id, segment_id), {})
            return [copy.deepcopy(found[v]) for v in sorted(found)]

    def delete_segment(self, app_id: str, segment_id: str) -> None:
        with self._lock:
            self.latest.pop((app_id, segment_id), None)
            self.versions.pop((app_id, segment_id), None)
            for key in [k for k in self.member_ids if k[:2] == (app_id, segment_id)]:
                del self.member_ids[key]

    def add_members(self, app_id: str, segment_id: str, endpoint_ids: Sequence[str]) -> None:
        with self._lock:
            for endpoint_id in endpoint_ids:
                self.member_ids.setdefault((app_id, segment_id, endpoint_shard(endpoint_id)), set()).add(endpoint_id)

    def remove_member_everywhere(self, app_id: str, endpoint_ids: Sequence[str]) -> None:
        with self._lock:
            for (app, _segment, shard), ids in self.member_ids.items():
                if app == app_id:
                    ids.difference_update(e for e in endpoint_ids if endpoint_shard(e) == shard)

    def members(self, app_id: str, segment_id: str, shard: int) -> Iterator[str]:
        with self._lock:
            ids = sorted(self.member_ids.get((app_id, segment_id, shard), ()))
        yield from ids

    def purge_app(self, app_id: str) -> None:
        with self._lock:
            for table in (self.latest, self.versions, self.member_ids):
                for key in [k for k in table if k[0] == app_id]:
                    del table[key]
