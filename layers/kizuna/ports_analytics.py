"""Ports of the analytics capability (issue 5). Real adapters: adapters/dynamo_aggregates.py, dynamo_event_ledger.py,
event_destinations.py; in-memory fakes: adapters/memory_analytics.py."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from kizuna.domain.analytics_events import AnalyticsEvent
from kizuna.domain.endpoint_activity import EndpointActivity
from kizuna.domain.sketch import DistinctSketch


@dataclass(frozen=True)
class CounterKey:
    """One day's counters of a scope ("app", "c:<campaign>", "j:<journey>"): the totals (dim None) or one
    dimension's breakdown, whose attributes are "<measure>|<value>"."""

    app_id: str
    scope: str
    dim: str | None
    day: date

    def __lt__(self, other: CounterKey) -> bool:  # a stable order for writes (None sorts first)
        return (self.app_id, self.scope, self.dim or "", self.day) < (
            other.app_id,
            other.scope,
            other.dim or "",
            other.day,
        )


@dataclass(frozen=True)
class SketchKey:
    app_id: str
    scope: str
    sketch: str
    dim: str | None
    value: str  # the dimension's value ("" for the total)
    day: date

    def _order(self) -> tuple[str, str, str, str, str, date]:
        return (self.app_id, self.scope, self.sketch, self.dim or "", self.value, self.day)

    def __lt__(self, other: SketchKey) -> bool:
        return self._order() < other._order()


@dataclass
class ActivityItem:
    state: EndpointActivity
    version: int = 0  # 0: not stored yet


class ChunkOutcome(enum.Enum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"  # its marker exists: an earlier delivery of the object counted it
    ACTIVITY_MOVED = "activity_moved"  # an endpoint's activity changed meanwhile: read it again and re-plan


@dataclass(frozen=True)
class ChunkCommit:
    """All the writes that count one chunk of an object's events, made in one transaction with the chunk's marker."""

    marker: str
    marker_expires_at: int  # epoch seconds: the marker must outlive every redelivery of the object
    counters: dict[CounterKey, dict[str, float]]
    activity: dict[tuple[str, str], tuple[ActivityItem, int]]  # (app, endpoint) → (new item, version read)

    @property
    def items(self) -> int:
        return 1 + len(self.counters) + len(self.activity)


class AggregateStore(Protocol):
    # -- counting (analytics_ingest) ----------------------------------------------------------------------------
    def commit_chunk(self, commit: ChunkCommit) -> ChunkOutcome:
        """Create the marker, ADD the counter deltas and write the activity items (each only if its version is
        still the one read), all or nothing. Transaction conflicts are retried inside."""
        ...

    def read_activity(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ActivityItem]: ...
    def read_sketches(self, keys: Sequence[SketchKey]) -> dict[SketchKey, tuple[DistinctSketch, int]]:
        """(sketch, version) of each stored key."""
        ...

    def put_sketch(self, key: SketchKey, sketch: DistinctSketch, expected_version: int) -> bool: ...

    # -- the KPI queries ----------------------------------------------------------------------------------------
    def counters_between(
        self, app_id: str, scope: str, dim: str | None, first: date, last: date
    ) -> dict[date, dict[str, float]]:
        """One query: the day items of one scope and dimension, first..last inclusive."""
        ...

    def sketches_between(
        self, app_id: str, scope: str, sketch: str, dim: str | None, first: date, last: date
    ) -> dict[tuple[date, str], DistinctSketch]:
        """One query: (day, value) → sketch."""
        ...

    def reads(self) -> int:
        """Requests made by KPI queries so far (benchmarks report reads per query)."""
        ...


class EventLedger(Protocol):
    def claim(self, events: Sequence[AnalyticsEvent], source: str) -> list[AnalyticsEvent]:
        """Record each event as claimed by `source` (an S3 object) unless another source claimed it first, and
        return the events `source` holds: new ones and ones it claimed on an earlier attempt."""
        ...


class LedgerScrubber(Protocol):
    """Erasure's side of the ledger (kizuna.services.erase_events): the content of an erased endpoint's events goes,
    their keys stay until the TTL, so a replayed event is still recognised and counted once."""

    def scrub_endpoints(self, app_id: str, endpoint_ids: Sequence[str]) -> int:
        """Drop attributes, metrics and session from every ledger item of these endpoints; returns how many."""
        ...

    def scrub_events(self, keys: Sequence[tuple[str, str, str]]) -> int:
        """The same for these (app, endpoint, event id) items (events of an erased endpoint that arrived late)."""
        ...


class EventTriggers(Protocol):
    """Where campaigns and journeys (issues 6 and 7) hear about events: each distinct ingested event, after its
    counts are committed. Delivery is at least once (a redelivered object repeats its events): subscribers
    deduplicate by (app_id, event_id)."""

    def on_events(self, events: Sequence[AnalyticsEvent]) -> None: ...


class EventStreamStore(Protocol):
    """An app's own event stream destination (PutEventStream): Pinpoint's EventStream document."""

    def get_event_stream(self, app_id: str) -> dict[str, Any] | None: ...
    def put_event_stream(self, app_id: str, stream: dict[str, Any]) -> None: ...
    def delete_event_stream(self, app_id: str) -> None: ...


class EventDestinations(Protocol):
    def forward(self, stream: dict[str, Any], lines: Sequence[bytes]) -> None:
        """Put the event lines into the app's Kinesis stream or Firehose, as the app's RoleArn.
        Raises DestinationRefused when the destination or role refuses (retrying cannot help)."""
        ...


class LinkStore(Protocol):
    def put_links(self, links: Sequence[dict[str, Any]]) -> None:
        """Store tracked links (each has "code"); rewriting the same message again writes the same codes."""
        ...

    def get_link(self, code: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class ListedObject:
    key: str
    etag: str
    last_modified: datetime
    size: int


@dataclass(frozen=True)
class StoredObject:
    key: str
    etag: str
    body: bytes
    metadata: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None


class OpenedObject(Protocol):
    etag: str
    metadata: dict[str, str]

    def lines(self) -> Iterator[bytes]:
        """The object's lines, streamed (a 64 MiB object is never held twice)."""
        ...

    def close(self) -> None: ...


class EventObjectStore(Protocol):
    """The event-stream objects in the events bucket, as ingest reads them and erasure rewrites them
    (adapters/s3_event_objects.py)."""

    def open(self, bucket: str, key: str) -> OpenedObject: ...

    def list_objects(self, bucket: str, prefix: str, after: str | None = None) -> Iterator[ListedObject]:
        """Objects under `prefix` in key order, starting after `after`."""
        ...

    def read(self, bucket: str, key: str) -> StoredObject | None:
        """None when the object is gone (expired, or the app's objects were deleted)."""
        ...

    def replace(
        self, bucket: str, key: str, body: bytes, expected_etag: str, metadata: dict[str, str], content_type: str | None
    ) -> bool:
        """Write `body` under `key` in one PutObject, only if the stored object is still `expected_etag` (If-Match);
        False when it changed meanwhile. Readers see the old object or the new one, never part of either."""
        ...

    def delete_noncurrent_versions(self, bucket: str, key: str) -> int:
        """On a versioned bucket, delete the key's older versions (they hold what was scrubbed); 0 otherwise."""
        ...


class ErasureIndex(Protocol):
    """What erasure keeps in the analytics table: one identifier filter per event object, written at ingest, and
    the tombstones of recent erasures (fingerprints only; adapters/dynamo_erasure.py)."""

    def put_object_filter(self, app_id: str, day: date, key: str, blob: bytes) -> None: ...
    def object_filters(self, app_id: str, day: date) -> dict[str, bytes]:
        """The filters of the app's objects of that (arrival) day, by object key."""
        ...

    def has_object_filter(self, app_id: str, day: date, key: str) -> bool: ...
    def put_tombstones(self, app_id: str, fingerprints: Sequence[str], erased_at: datetime) -> None: ...
    def tombstones(self, app_id: str, now: datetime) -> set[str]:
        """Fingerprints erased in this app whose tombstones have not expired (strongly consistent)."""
        ...


class DestinationRefused(Exception):
    """The app's destination or role refused the records: its owner must fix it; retrying cannot help."""
