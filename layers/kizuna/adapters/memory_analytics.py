"""In-memory fakes of the analytics ports, with the real adapters' semantics: claims, all-or-nothing chunk commits
with markers and version checks, read counting. `crash_after_commits` makes the store raise between two chunks,
as a Lambda that dies mid-object would."""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from datetime import date
from typing import Any

from kizuna.domain.analytics_events import AnalyticsEvent, is_app_event
from kizuna.domain.sketch import DistinctSketch
from kizuna.ports_analytics import ActivityItem, ChunkCommit, ChunkOutcome, CounterKey, DestinationRefused, SketchKey


class SimulatedCrash(RuntimeError):
    pass


class InMemoryAggregateStore:
    def __init__(self) -> None:
        self.counters: dict[CounterKey, dict[str, float]] = {}
        self.sketches: dict[SketchKey, tuple[bytes, int]] = {}
        self.activity: dict[tuple[str, str], ActivityItem] = {}
        self.markers: set[str] = set()
        self.transactions = 0
        self.transaction_items = 0
        self.sketch_puts = 0
        self.query_reads = 0
        self.crash_after_commits: int | None = None  # raise SimulatedCrash instead of the commit after that many
        self._lock = threading.Lock()

    # -- counting --------------------------------------------------------------------------------------------

    def commit_chunk(self, commit: ChunkCommit) -> ChunkOutcome:
        with self._lock:
            if self.crash_after_commits is not None and self.transactions >= self.crash_after_commits:
                self.crash_after_commits = None
                raise SimulatedCrash(f"crashed before commit {self.transactions + 1}")
            if commit.marker in self.markers:
                return ChunkOutcome.ALREADY_APPLIED
            for key, (_, expected) in commit.activity.items():
                current = self.activity.get(key)
                if (current.version if current else 0) != expected:
                    return ChunkOutcome.ACTIVITY_MOVED
            self.markers.add(commit.marker)
            self.transactions += 1
            self.transaction_items += commit.items
            for key, deltas in commit.counters.items():
                values = self.counters.setdefault(key, {})
                for name, amount in deltas.items():
                    values[name] = values.get(name, 0.0) + amount
            for key, (item, _) in commit.activity.items():
                self.activity[key] = copy.deepcopy(item)
            return ChunkOutcome.APPLIED

    def read_activity(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ActivityItem]:
        with self._lock:
            return {k: copy.deepcopy(self.activity[k]) for k in keys if k in self.activity}

    def read_sketches(self, keys: Sequence[SketchKey]) -> dict[SketchKey, tuple[DistinctSketch, int]]:
        with self._lock:
            return {
                k: (DistinctSketch.from_bytes(self.sketches[k][0]), self.sketches[k][1])
                for k in keys
                if k in self.sketches
            }

    def put_sketch(self, key: SketchKey, sketch: DistinctSketch, expected_version: int) -> bool:
        with self._lock:
            if self.sketches.get(key, (b"", 0))[1] != expected_version:
                return False
            self.sketch_puts += 1
            self.sketches[key] = (sketch.to_bytes(), expected_version + 1)
            return True

    # -- queries ---------------------------------------------------------------------------------------------

    def counters_between(
        self, app_id: str, scope: str, dim: str | None, first: date, last: date
    ) -> dict[date, dict[str, float]]:
        with self._lock:
            self.query_reads += 1
            return {
                k.day: dict(values)
                for k, values in self.counters.items()
                if k.app_id == app_id and k.scope == scope and k.dim == dim and first <= k.day <= last
            }

    def sketches_between(
        self, app_id: str, scope: str, sketch: str, dim: str | None, first: date, last: date
    ) -> dict[tuple[date, str], DistinctSketch]:
        with self._lock:
            self.query_reads += 1
            return {
                (k.day, k.value): DistinctSketch.from_bytes(data)
                for k, (data, _) in self.sketches.items()
                if k.app_id == app_id and k.scope == scope and k.sketch == sketch and k.dim == dim
                and first <= k.day <= last
            }  # fmt: skip

    def reads(self) -> int:
        return self.query_reads


class InMemoryEventLedger:
    """Claims keyed like the DynamoDB ledger: (app, endpoint, event id) → the source that claimed it first."""

    def __init__(self) -> None:
        self.claims: dict[tuple[str, str, str], str] = {}
        self.records: dict[tuple[str, str, str], dict[str, Any]] = {}  # the compact event, as the item's `e`
        self.writes = 0
        self._lock = threading.Lock()

    def scrub_endpoints(self, app_id: str, endpoint_ids: Sequence[str]) -> int:
        ids = set(endpoint_ids)
        return self.scrub_events([k for k in self.records if k[0] == app_id and k[1] in ids])

    def scrub_events(self, keys: Sequence[tuple[str, str, str]]) -> int:
        scrubbed = 0
        with self._lock:
            for key in set(keys):
                record = self.records.get(key)
                if record is None or not is_app_event(record["t"]):
                    continue
                kept = {k: v for k, v in record.items() if k in ("app", "id", "t", "ts", "c")}
                if kept != record:
                    self.records[key] = kept
                    scrubbed += 1
        return scrubbed

    def claim(self, events: Sequence[AnalyticsEvent], source: str) -> list[AnalyticsEvent]:
        held = []
        with self._lock:
            seen = set()
            for event in events:
                key = (event.app_id, event.client_id, event.event_id)
                if key in seen:
                    continue
                seen.add(key)
                self.writes += 1
                owner = self.claims.setdefault(key, source)
                if owner == source:
                    self.records.setdefault(key, event.to_record())
                    held.append(event)
        return held


class InMemoryEventStreamStore:
    def __init__(self) -> None:
        self.streams: dict[str, dict[str, Any]] = {}

    def get_event_stream(self, app_id: str) -> dict[str, Any] | None:
        stream = self.streams.get(app_id)
        return dict(stream) if stream else None

    def put_event_stream(self, app_id: str, stream: dict[str, Any]) -> None:
        self.streams[app_id] = dict(stream)

    def delete_event_stream(self, app_id: str) -> None:
        self.streams.pop(app_id, None)


class InMemoryEventDestinations:
    def __init__(self) -> None:
        self.received: dict[str, list[bytes]] = {}
        self.refuse: set[str] = set()  # destination ARNs that answer AccessDenied

    def forward(self, stream: dict[str, Any], lines: Sequence[bytes]) -> None:
        arn = stream["DestinationStreamArn"]
        if arn in self.refuse:
            raise DestinationRefused(f"{arn}: access denied")
        self.received.setdefault(arn, []).extend(lines)


class InMemoryLinkStore:
    def __init__(self) -> None:
        self.links: dict[str, dict[str, Any]] = {}
        self.writes = 0

    def put_links(self, links: Sequence[dict[str, Any]]) -> None:
        for link in links:
            self.writes += 1
            self.links[link["code"]] = dict(link)

    def get_link(self, code: str) -> dict[str, Any] | None:
        link = self.links.get(code)
        return dict(link) if link else None


class RecordingTriggers:
    def __init__(self) -> None:
        self.events: list[AnalyticsEvent] = []

    def on_events(self, events: Sequence[AnalyticsEvent]) -> None:
        self.events.extend(events)
