"""DeleteApp: retired at once, purged step by step by the jobs function; steps may run twice; a queue failure
leaves the app in place."""

from __future__ import annotations

import pytest

from kizuna.adapters.memory_jobs import InMemoryJobQueue
from kizuna.adapters.memory_segments import InMemorySegmentStore
from kizuna.errors import NotFound
from kizuna.services import apps, segments


@pytest.fixture
def app_id(data, clock) -> str:
    return apps.create_app(data, clock, "arn:aws:mobiletargeting:us-east-1:123456789012", {"Name": "doomed"}).id


def _populate(data, store, clock, app_id) -> None:
    data.put_endpoints(app_id, [{"Id": f"e{i}", "ChannelType": "SMS", "Address": f"+8190{i:08d}"} for i in range(50)])
    data.put_settings(app_id, {"ApplicationId": app_id})
    imported = segments.create_imported_segment(store, clock, "arn", app_id, "imported", {"Format": "CSV"})
    store.add_members(app_id, imported["Id"], [f"e{i}" for i in range(50)])


def _run(queue: InMemoryJobQueue, data, store, *, twice: bool = False) -> int:
    steps = 0
    while pending := queue.take():
        for step in pending:
            for _ in range(2 if twice else 1):
                apps.purge_app_step(data, store, queue, step)
                steps += 1
    return steps


@pytest.mark.parametrize("twice", [False, True])
def test_the_app_is_gone_at_once_and_its_data_after_the_purge_steps(data, clock, app_id, twice):
    store, queue = InMemorySegmentStore(), InMemoryJobQueue()
    _populate(data, store, clock, app_id)

    apps.delete_app(data, app_id, store, queue)
    with pytest.raises(NotFound):
        apps.get_app(data, app_id)
    still_there = sum(len(list(data.scan_shard(app_id, shard))) for shard in range(16))
    steps = _run(queue, data, store, twice=twice)

    assert still_there == 50
    # "segments" queues 16 shard steps and "app"; run twice, it queues them twice and each runs twice.
    assert steps == (1 + 17 if not twice else 2 + 2 * 17 * 2)
    assert [k for k in data.endpoints if k[0] == app_id] == []
    assert data.get_settings(app_id) is None
    assert (store.latest, store.member_ids) == ({}, {})


def test_a_queue_failure_keeps_the_app(data, clock, app_id):
    class BrokenQueue(InMemoryJobQueue):
        def enqueue(self, messages):
            raise RuntimeError("SQS unavailable")

    with pytest.raises(RuntimeError):
        apps.delete_app(data, app_id, InMemorySegmentStore(), BrokenQueue())

    assert apps.get_app(data, app_id).id == app_id


def test_without_a_queue_everything_goes_inline(data, clock, app_id):
    store = InMemorySegmentStore()
    _populate(data, store, clock, app_id)

    apps.delete_app(data, app_id, store)

    assert [k for k in data.endpoints if k[0] == app_id] == []
    assert (data.get_settings(app_id), store.latest) == (None, {})
