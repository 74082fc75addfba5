"""The erasure job and ingest's tombstones over in-memory fakes (the moto version is
tests/functional/test_erase_events.py): the job's flow, and how long a tombstone lasts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kizuna.adapters.memory_analytics import InMemoryAggregateStore, InMemoryEventLedger, InMemoryEventStreamStore
from kizuna.adapters.memory_erasure import InMemoryErasureIndex, InMemoryEventObjects
from kizuna.adapters.memory_jobs import InMemoryJobQueue, InMemoryJobStore
from kizuna.catalog_analytics import ERASURE_TOMBSTONE_DAYS
from kizuna.clock import VirtualClock
from kizuna.domain.event_object_keys import day_prefix
from kizuna.domain.jobs import COMPLETED, ERASE_EVENTS
from kizuna.services import erase_events
from kizuna.services.erase_at_ingest import ingest_announced_object
from kizuna.services.erase_events import ErasureDeps, start_event_erasure
from kizuna.services.ingest_events import stream_event

APP = "app1"
NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
GONE = {"Id": "gone", "Address": "+819011110001"}


@pytest.fixture
def deps() -> ErasureDeps:
    clock = VirtualClock(NOW)
    return ErasureDeps(InMemoryJobStore(), InMemoryJobQueue(), InMemoryEventObjects(NOW, versioned=True),
                       InMemoryErasureIndex(), InMemoryEventLedger(), clock, "bucket")  # fmt: skip


def _custom(endpoint_id: str, at: datetime, nickname: str) -> dict[str, Any]:
    event = {"EventType": "viewed", "Timestamp": at.isoformat(), "Attributes": {"nickname": nickname}}
    return stream_event(APP, endpoint_id, f"ev-{at:%j%H%M}", event, {}, at, "f")


def _arrive(deps: ErasureDeps, at: datetime, events: list[dict[str, Any]], name: str) -> str:
    key = day_prefix(APP, at.date()) + name
    deps.objects.put(key, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events).encode())
    ingest_announced_object("bucket", key, deps.objects, deps.ledger, InMemoryAggregateStore(),
                            InMemoryEventStreamStore(), None, deps.index, deps.clock)  # fmt: skip
    return key


def _run(deps: ErasureDeps) -> None:
    while messages := deps.queue.take():
        for message in messages:
            erase_events.process_erasure_piece(deps, message)


def test_the_job_scrubs_the_objects_and_the_ledger_and_completes(deps):
    at = NOW - timedelta(days=2)
    held = _arrive(deps, at, [_custom("gone", at, "はな"), _custom("keep", at, "のこる")], "a")
    other = _arrive(deps, at, [_custom("keep", at + timedelta(minutes=1), "のこる")], "b")
    job_id = start_event_erasure(
        deps.jobs, deps.queue, deps.clock, APP, [GONE], since=(NOW - timedelta(days=30)).date()
    )
    _run(deps)
    job = deps.jobs.get_job(APP, ERASE_EVENTS, job_id)
    assert job["JobStatus"] == COMPLETED
    assert job["Tallies"] == {"ObjectsRead": 1, "ObjectsSkipped": 1, "ObjectsRewritten": 1, "EventsScrubbed": 1,
                              "LedgerItemsScrubbed": 1}  # fmt: skip
    assert "はな".encode() not in deps.objects.body(held) and "のこる".encode() in deps.objects.body(held)
    assert len(deps.objects.versions[held]) == 1  # the versioned bucket's older version went too
    assert deps.objects.replaced == 1 and deps.objects.body(other).count("のこる".encode()) == 1
    assert "はな" not in json.dumps(list(deps.ledger.records.values()), ensure_ascii=False)
    assert ("app1", "gone", f"ev-{at:%j%H%M}") in deps.ledger.claims  # the key stays: a replay still counts once


def test_a_tombstone_scrubs_late_events_for_its_days_and_then_lets_go(deps):
    start_event_erasure(deps.jobs, deps.queue, deps.clock, APP, [GONE], since=NOW.date())
    _run(deps)
    late = deps.clock.advance(timedelta(days=ERASURE_TOMBSTONE_DAYS - 1))
    scrubbed = _arrive(deps, late, [_custom("gone", late, "はな")], "late")
    assert "はな".encode() not in deps.objects.body(scrubbed)
    # A week on, the same endpoint id is a new endpoint's (the app re-created it): its events are kept.
    later = deps.clock.advance(timedelta(days=1, minutes=1))
    kept = _arrive(deps, later, [_custom("gone", later, "はな")], "later")
    assert "はな".encode() in deps.objects.body(kept)
