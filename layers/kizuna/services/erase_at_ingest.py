"""analytics_ingest's part in erasure (docs/security.md, "Erasure"), once an object's events are counted:

1. its identifier filter: a Bloom filter of the fingerprints of every identifier its lines name, so an erasure job
   reads only the objects that may hold the erased person (kizuna.services.erase_events);
2. the tombstones: if a line names an identifier erased in the last ERASURE_TOMBSTONE_DAYS (an event that reached
   S3 after the erasure: Firehose's buffer, a late status callback, a reply, a redriven object), the object is
   scrubbed now, and so are the ledger items of those events.

Counting comes first and reads the object as Firehose wrote it; the filter is written after the counts, so "has a
filter" means "counted", which is how the erasure job and a second notification of a rewritten object know it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Protocol

from aws_lambda_powertools import Logger

from kizuna.clock import Clock
from kizuna.domain.event_object_keys import place_of
from kizuna.domain.identifier_filter import IdentifierFilter
from kizuna.ports_analytics import (
    AggregateStore,
    ErasureIndex,
    EventDestinations,
    EventLedger,
    EventObjectStore,
    EventStreamStore,
    EventTriggers,
    LedgerScrubber,
)
from kizuna.services.erase_events import SCRUBBED_METADATA, scrub_object
from kizuna.services.ingest_event_objects import IngestReport, ingest_object

logger = Logger(child=True)

# DynamoDB items hold 400 KB: an object with more identifiers than this filter holds stays unindexed (erasure then
# always reads it). At 2.4 bytes an identifier that is ~145,000 distinct identifiers (endpoint ids and addresses):
# more than any object but the largest (64 MiB, Firehose's buffer limit) of the busiest apps holds.
MAX_FILTER_BYTES = 350_000


class Ledger(EventLedger, LedgerScrubber, Protocol):
    """The ledger as ingest uses it: claims, and the scrub of late events of an erased endpoint."""


def ingest_announced_object(
    bucket: str,
    key: str,
    objects: EventObjectStore,
    ledger: Ledger,
    aggregates: AggregateStore,
    streams: EventStreamStore,
    destinations: EventDestinations,
    erasures: ErasureIndex,
    clock: Clock,
    triggers: Iterable[EventTriggers] = (),
) -> IngestReport | None:
    """One ObjectCreated notification: count the object, then index it and apply the tombstones. None when the
    object is erasure's rewrite of one counted before (S3 announces the rewrite too)."""
    opened = objects.open(bucket, key)
    if counted_before(erasures, key, opened.metadata):
        opened.close()
        return None
    report = ingest_object(
        f"s3://{bucket}/{key}", opened.lines(), ledger, aggregates, streams, destinations, clock, triggers
    )
    report.scrubbed_late = index_and_scrub(bucket, key, report.fingerprints, erasures, objects, ledger, clock)
    return report


def counted_before(index: ErasureIndex, key: str, metadata: dict[str, str]) -> bool:
    """A rewritten object (erasure's metadata) whose original was counted: its notification is not counted again.
    One that was never counted (its ingest failed, then erasure rewrote it) is counted as it now is."""
    if SCRUBBED_METADATA not in metadata:
        return False
    place = place_of(key)
    return place is not None and index.has_object_filter(place.scope, place.day, key)


def index_and_scrub(
    bucket: str,
    key: str,
    fingerprints: Mapping[str, Set[str]],
    index: ErasureIndex,
    objects: EventObjectStore,
    ledger: LedgerScrubber,
    clock: Clock,
) -> int:
    """Write the object's filter, then scrub what the tombstones of its apps name; returns the events scrubbed.
    `fingerprints` are by app (an unpartitioned object may hold several apps' events)."""
    place = place_of(key)
    if place is None:
        return 0
    every = set().union(*fingerprints.values()) if fingerprints else set()
    blob = IdentifierFilter.of(every).to_bytes()
    if len(blob) <= MAX_FILTER_BYTES:
        index.put_object_filter(place.scope, place.day, key, blob)
    else:
        logger.warning("object left unindexed: too many identifiers for one filter", extra={"key": key})
    now = clock.now()
    erased = {fp for app_id, fps in fingerprints.items() for fp in fps & index.tombstones(app_id, now)}
    if not erased:
        return 0
    result = scrub_object(objects, bucket, key, erased)
    ledger.scrub_events([e for e in result.events if e[1] and e[2]])
    logger.info("late events of an erased endpoint scrubbed", extra={"events": result.scrubbed})
    return result.scrubbed
