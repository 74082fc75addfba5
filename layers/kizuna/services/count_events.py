"""Fold the events one S3 object holds into the 90-day aggregates, exactly once, without a marker per event.

The events come from the ledger's claim (services/ingest_event_objects.py): the new events of the object, plus the
ones it claimed on an earlier attempt. That set is fixed once the claims are written, so the object is cut into
the same chunks on every attempt: events in a stable order, a chunk closed before it would need more than 100
items (DynamoDB's transaction limit). Each chunk is one transaction: its marker (created only if absent), an ADD
to every counter item it touches, and the activity states of its endpoints (each written only if unchanged since
read). A redelivered object finds its markers and counts nothing again; a crash between two chunks leaves the
committed chunks marked and the rest to the retry. Sketches are unions, so adding an endpoint twice is harmless
and they are written outside the transactions.

Writes: one transaction per chunk (its items cost two write units each), one conditional PutItem per touched
sketch; the count of events in the chunk does not matter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from kizuna.catalog_analytics import CHUNK_MARKER_DAYS
from kizuna.clock import Clock, epoch_seconds
from kizuna.domain.analytics_events import AnalyticsEvent
from kizuna.domain.analytics_rules import APP, DIMENSIONS, DIMENSIONS_BY_NAME, MEASURES, SKETCHES, scopes_of
from kizuna.domain.endpoint_activity import EndpointActivity
from kizuna.domain.sketch import DistinctSketch, hash_of
from kizuna.ports_analytics import (
    ActivityItem,
    AggregateStore,
    ChunkCommit,
    ChunkOutcome,
    CounterKey,
    EventTriggers,
    SketchKey,
)

logger = Logger(child=True)

MAX_TRANSACTION_ITEMS = 100
# An endpoint's activity state is one item, and its changes may reach two more day totals than its events touch
# (the cohort's first day; the day of a session start it takes back): reserved when a chunk is cut.
ACTIVITY_ITEM_BUDGET = 3
PLAN_ATTEMPTS = 5
SKETCH_WRITE_ATTEMPTS = 5


@dataclass
class CountReport:
    events: int = 0
    chunks: int = 0
    chunks_already_counted: int = 0
    counter_items: int = 0
    activity_items: int = 0
    sketch_writes: int = 0


class AggregationConflict(RuntimeError):
    """Items kept moving under us (other objects counted into them): the object must be retried."""


def count_events(
    source: str,
    events: Sequence[AnalyticsEvent],
    store: AggregateStore,
    clock: Clock,
    triggers: Iterable[EventTriggers] = (),
) -> CountReport:
    marker_expires_at = epoch_seconds(clock.now()) + CHUNK_MARKER_DAYS * 86_400
    ordered = sorted(events, key=lambda e: (e.app_id, e.client_id, e.timestamp_ms, e.event_id))
    report = CountReport(events=len(ordered))
    for index, chunk in enumerate(cut_chunks(ordered)):
        report.chunks += 1
        outcome = _commit(f"{source}#{index}", marker_expires_at, chunk, store, report)
        if outcome is ChunkOutcome.ALREADY_APPLIED:
            report.chunks_already_counted += 1
    report.sketch_writes = _write_sketches(_plan_sketches(ordered), store)
    for subscriber in triggers:
        subscriber.on_events(ordered)
    return report


# -- chunks -----------------------------------------------------------------------------------------------------


def cut_chunks(events: Sequence[AnalyticsEvent]) -> list[list[AnalyticsEvent]]:
    """Deterministic: the same events in the same order always give the same chunks."""
    chunks: list[list[AnalyticsEvent]] = []
    current: list[AnalyticsEvent] = []
    counters: set[CounterKey] = set()
    endpoints: set[tuple[str, str]] = set()
    for event in events:
        keys = set(_counter_deltas(event))
        endpoint = _activity_key(event)
        new_endpoints = {endpoint} - endpoints if endpoint else set()
        needed = 1 + len(counters | keys) + ACTIVITY_ITEM_BUDGET * len(endpoints | new_endpoints)
        if current and needed > MAX_TRANSACTION_ITEMS:
            chunks.append(current)
            current, counters, endpoints = [], set(), set()
        current.append(event)
        counters |= keys
        endpoints |= {endpoint} if endpoint else set()
    if current:
        chunks.append(current)
    return chunks


def _commit(
    marker: str, expires: int, chunk: list[AnalyticsEvent], store: AggregateStore, report: CountReport
) -> ChunkOutcome:
    for _ in range(PLAN_ATTEMPTS):
        counters: dict[CounterKey, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for event in chunk:
            for key, attribute, amount in _counter_contributions(event):
                counters[key][attribute] += amount
        activity = _plan_activity(chunk, store, counters)
        commit = ChunkCommit(
            marker,
            expires,
            {k: {a: v for a, v in values.items() if v} for k, values in counters.items()},
            activity,
        )
        outcome = store.commit_chunk(commit)
        if outcome is ChunkOutcome.APPLIED:
            report.counter_items += len(commit.counters)
            report.activity_items += len(commit.activity)
        if outcome is not ChunkOutcome.ACTIVITY_MOVED:
            return outcome
    raise AggregationConflict(f"activity of the endpoints in {marker} kept changing")


# -- counters ---------------------------------------------------------------------------------------------------


def _counter_contributions(event: AnalyticsEvent) -> list[tuple[CounterKey, str, float]]:
    contributions = []
    day = event.day
    for kind, scope in scopes_of(event):
        for measure in MEASURES:
            amount = measure.value(event)
            if amount is None:
                continue
            contributions.append((CounterKey(event.app_id, scope, None, day), measure.name, amount))
            for dim in DIMENSIONS:
                if kind in dim.scopes and dim.applies_to(measure.name):
                    value = dim.of(event)
                    if value:
                        key = CounterKey(event.app_id, scope, dim.name, day)
                        contributions.append((key, f"{measure.name}|{value}", amount))
    return contributions


def _counter_deltas(event: AnalyticsEvent) -> list[CounterKey]:
    return [key for key, _, _ in _counter_contributions(event)]


# -- endpoint activity ------------------------------------------------------------------------------------------


def _activity_key(event: AnalyticsEvent) -> tuple[str, str] | None:
    return (event.app_id, event.client_id) if event.is_app_event and event.client_id else None


def _plan_activity(
    chunk: list[AnalyticsEvent], store: AggregateStore, counters: dict[CounterKey, dict[str, float]]
) -> dict[tuple[str, str], tuple[ActivityItem, int]]:
    by_endpoint: dict[tuple[str, str], list[AnalyticsEvent]] = defaultdict(list)
    for event in chunk:
        key = _activity_key(event)
        if key:
            by_endpoint[key].append(event)
    if not by_endpoint:
        return {}
    stored = store.read_activity(sorted(by_endpoint))
    planned = {}
    for key, endpoint_events in sorted(by_endpoint.items()):
        item = stored.get(key) or ActivityItem(EndpointActivity())
        state = EndpointActivity.from_dict(item.state.to_dict())
        for event in endpoint_events:
            for measure, day, amount in state.apply(event):
                counters[CounterKey(key[0], APP, None, day)][measure] += amount
        planned[key] = (ActivityItem(state, item.version + 1), item.version)
    return planned


# -- sketches ---------------------------------------------------------------------------------------------------


def _plan_sketches(events: Sequence[AnalyticsEvent]) -> dict[SketchKey, set[int]]:
    plan: dict[SketchKey, set[int]] = defaultdict(set)
    for event in events:
        if not event.client_id:
            continue
        for kind, scope in scopes_of(event):
            for sketch in SKETCHES:
                if kind not in sketch.dims or not sketch.matches(event):
                    continue
                for dim_name in sketch.dims[kind]:
                    value = "" if dim_name is None else DIMENSIONS_BY_NAME[dim_name].of(event)
                    if value is not None:
                        plan[SketchKey(event.app_id, scope, sketch.name, dim_name, value, event.day)].add(
                            hash_of(event.client_id)
                        )
    return plan


def _write_sketches(plan: dict[SketchKey, set[int]], store: AggregateStore) -> int:
    writes = 0
    pending = dict(plan)
    for _ in range(SKETCH_WRITE_ATTEMPTS):
        if not pending:
            return writes
        stored = store.read_sketches(sorted(pending))
        conflicts: dict[SketchKey, set[int]] = {}
        for key, hashes in sorted(pending.items()):
            sketch, version = stored.get(key) or (DistinctSketch(), 0)
            before = sketch.to_bytes()
            for h in hashes:
                sketch.add_hash(h)
            if version and sketch.to_bytes() == before:
                continue  # nothing new (a redelivered object): no write
            if store.put_sketch(key, sketch, version):
                writes += 1
            else:
                conflicts[key] = hashes  # another object's endpoints were added meanwhile: merge again
        pending = conflicts
    if pending:
        raise AggregationConflict(f"{len(pending)} sketches kept moving")
    return writes
