"""The erasure job and ingest's tombstones on moto (S3 and DynamoDB): every copy of the erased person's events in the
event objects and the ledger is scrubbed, nobody else's line changes, the counts stay, the filters keep the job
from reading objects that cannot hold the person, and a crash or a race anywhere loses and duplicates nothing."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.dynamo_erasure import DynamoErasureIndex
from kizuna.adapters.dynamo_event_ledger import DynamoEventLedger
from kizuna.adapters.dynamo_jobs import DynamoJobStore
from kizuna.adapters.memory_analytics import InMemoryAggregateStore, InMemoryEventStreamStore
from kizuna.adapters.memory_jobs import InMemoryJobQueue
from kizuna.adapters.s3_event_objects import S3EventObjects
from kizuna.clock import VirtualClock
from kizuna.domain.apps import App
from kizuna.domain.event_object_keys import day_prefix
from kizuna.domain.jobs import COMPLETED, ERASE_EVENTS, EraseEventsPiece, EraseLedgerPiece
from kizuna.domain.stream_erasure import ERASED_MARK
from kizuna.services import erase_events
from kizuna.services.erase_at_ingest import ingest_announced_object
from kizuna.services.erase_events import ErasureDeps, EventErasure, ingest_settle_s
from kizuna.services.event_stream import pinpoint_event
from kizuna.services.ingest_events import stream_event

REGION = "us-east-1"
BUCKET = "kizuna-events"
APP = "app1"
NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
APP_CREATED = (NOW - timedelta(days=20)).isoformat()
GONE = {"Id": "gone-sms", "ChannelType": "SMS", "Address": "+819011110001", "User": {"UserId": "user-gone"}}
KEEP = {"Id": "keep-sms", "ChannelType": "SMS", "Address": "+819022220002", "User": {"UserId": "user-keep"}}
NICKNAME = "はなちゃん"
PERSONAL = (GONE["Id"], GONE["Address"], GONE["Address"][1:], "user-gone", NICKNAME, "消してほしい")


class Apps:
    """What EventErasure reads of the app store: when the app was created (its first possible object)."""

    def get_app(self, app_id: str) -> App:
        return App(app_id, "shop", f"arn:aws:mobiletargeting:us-east-1:123456789012:apps/{app_id}", APP_CREATED)


class Endpoints:
    """What EventErasure reads of the endpoint store: who else has an address."""

    def __init__(self, *endpoints: dict[str, Any]) -> None:
        self.endpoints = list(endpoints)

    def endpoints_by_address(self, app_id: str, address: str) -> list[dict[str, Any]]:
        return [e for e in self.endpoints if e["Address"] == address]


class NoDestinations:
    def forward(self, stream: dict[str, Any], lines: Any) -> None:  # pragma: no cover - no app stream configured
        raise AssertionError("no app has an event stream here")


BOTH_BUCKETS = pytest.mark.parametrize("world", ["unversioned", "versioned"], indirect=True)


@pytest.fixture
def world(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    versioned = getattr(request, "param", "unversioned") == "versioned"
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        for table in ("data", "analytics", "ledger"):
            ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
                BillingMode="PAY_PER_REQUEST",
            )
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        if versioned:
            s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        clock = VirtualClock(NOW)
        queue = InMemoryJobQueue()
        deps = ErasureDeps(
            jobs=DynamoJobStore("data", ddb),
            queue=queue,
            objects=S3EventObjects(s3),
            index=DynamoErasureIndex("analytics", ddb),
            ledger=DynamoEventLedger("ledger", ddb),
            clock=clock,
            bucket=BUCKET,
        )
        aggregates = InMemoryAggregateStore()  # counting is tested on DynamoDB elsewhere; here it is the witness
        yield {"s3": s3, "ddb": ddb, "deps": deps, "queue": queue, "clock": clock, "aggregates": aggregates,
               "versioned": versioned}  # fmt: skip


# -- the stream as Firehose and ingest leave it ----------------------------------------------------------------


def _events_for(endpoint: dict[str, Any], at: datetime, n: int) -> list[dict[str, Any]]:
    from kizuna.domain.messages import DeliveryRecord
    from kizuna.services.event_stream import status_event

    events = []
    for i in range(n):
        # message ids are opaque (uuid4 in the sender): nothing in them names the endpoint
        record = DeliveryRecord(f"m-{_tag(endpoint)}-{at:%j%H%M}-{i}", APP, "delivered", to=endpoint["Address"],
                                endpoint_id=endpoint["Id"], segments=1, country="JP")  # fmt: skip
        events.append(status_event(record, "delivered", None, at, at))
    custom = {"EventType": "viewed", "Timestamp": at.isoformat(), "Attributes": {"nickname": _nick(endpoint)}}
    endpoint_doc = {"Address": endpoint["Address"], "User": endpoint["User"]}
    events.append(stream_event(APP, endpoint["Id"], f"ev-{endpoint['Id']}-{at:%j%H}", custom, endpoint_doc, at, "f"))
    return events


def _tag(endpoint: dict[str, Any]) -> str:
    return "a" if endpoint is GONE else "b"


def _nick(endpoint: dict[str, Any]) -> str:
    return NICKNAME if endpoint is GONE else "のこる"


def _reply(sender: str, at: datetime, body: str) -> dict[str, Any]:
    attributes = {"message_id": f"SM-{at:%j%H%M}", "origination_number": sender, "message_body": body}
    ident = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sender}|{at.isoformat()}"))  # as inbound's: from the message sid
    return pinpoint_event("_SMS.RECEIVED", APP, at, at, attributes, ident=ident)


def _write(world: dict[str, Any], at: datetime, events: list[dict[str, Any]], name: str) -> str:
    key = day_prefix(APP, at.date()) + f"kizuna-events-{name}"
    body = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events)
    world["s3"].put_object(Bucket=BUCKET, Key=key, Body=body.encode())
    return key


def _ingest(world: dict[str, Any], key: str) -> Any:
    deps = world["deps"]
    return ingest_announced_object(
        BUCKET, key, deps.objects, deps.ledger, world["aggregates"], InMemoryEventStreamStore(), NoDestinations(),
        deps.index, world["clock"],
    )  # fmt: skip


def _stream(world: dict[str, Any], days: int = 4, per_day: int = 3) -> list[str]:
    """`days` days of objects, `per_day` a day: only a few hold the erased endpoint, every one holds the other."""
    keys = []
    for d in range(days):
        for h in range(per_day):
            at = NOW - timedelta(days=d, hours=h + 1)
            events = _events_for(KEEP, at, 3) + [_reply(KEEP["Address"], at, "残る返事")]
            if (d, h) in ((0, 0), (1, 2), (3, 1)):
                events += _events_for(GONE, at, 2) + [_reply(GONE["Address"], at, "消してほしい")]
            keys.append(_write(world, at, events, f"{d}-{h}"))
    for key in keys:
        _ingest(world, key)
    return keys


def _bodies(world: dict[str, Any]) -> dict[str, bytes]:
    s3 = world["s3"]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys}


def _every_version(world: dict[str, Any]) -> list[bytes]:
    s3 = world["s3"]
    versions = s3.list_object_versions(Bucket=BUCKET).get("Versions", [])
    return [s3.get_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])["Body"].read() for v in versions]


def _kept_lines(bodies: dict[str, bytes]) -> Counter:
    """Every line that is not (or was not) the erased endpoint's, with how often it occurs."""
    erased = (ERASED_MARK.encode(), GONE["Address"].encode())
    return Counter(line for body in bodies.values() for line in body.splitlines() if not any(e in line for e in erased))


def _counts(world: dict[str, Any]) -> dict[date, dict[str, float]]:
    return world["aggregates"].counters_between(APP, "app", None, NOW.date() - timedelta(days=10), NOW.date())


def _ledger_items(world: dict[str, Any]) -> list[str]:
    items = world["ddb"].scan(TableName="ledger")["Items"]
    return [json.dumps(i, ensure_ascii=False) for i in items]


def _run(world: dict[str, Any], deliver_twice: bool = False) -> list[Any]:
    """Deliver every queued piece (and what they queue), the deferred ones once their delay has passed."""
    handled = []
    while messages := world["queue"].take():
        for message in messages:
            handled.append(message)
            erase_events.process_erasure_piece(world["deps"], message)
            if deliver_twice:
                erase_events.process_erasure_piece(world["deps"], message)
        world["clock"].advance(timedelta(seconds=erase_events.DEFER_S))
    return handled


def _erase(world: dict[str, Any]) -> str:
    starter = EventErasure(world["deps"].jobs, world["queue"], world["clock"], Endpoints(GONE, KEEP), Apps())
    job_id = starter.start(APP, [GONE], GONE["User"]["UserId"])
    assert job_id
    return job_id


def _job(world: dict[str, Any], job_id: str) -> dict[str, Any]:
    job = world["deps"].jobs.get_job(APP, ERASE_EVENTS, job_id)
    assert job is not None
    return job


# -- the tests ---------------------------------------------------------------------------------------------------


@BOTH_BUCKETS
def test_erasure_scrubs_every_copy_and_changes_no_one_elses_line(world):
    keys = _stream(world)
    before, counts_before = _bodies(world), _counts(world)
    assert any(NICKNAME in i for i in _ledger_items(world))

    job_id = _erase(world)
    job_item = json.dumps(world["ddb"].scan(TableName="data")["Items"], ensure_ascii=False)
    _run(world)

    after = _bodies(world)
    assert set(after) == set(keys)
    for needle in PERSONAL:
        assert not any(needle.encode() in body for body in after.values()), needle
        assert needle not in job_item, needle  # the job item holds fingerprints only
    # The ledger keeps the erased events' keys (endpoint id, event id) until its TTL, and nothing of their content.
    ledger = _ledger_items(world)
    for needle in (GONE["Address"], "user-gone", NICKNAME):
        assert not any(needle in item for item in ledger), needle
    assert any("のこる" in item for item in ledger)  # the other endpoint's events are as they were
    if world["versioned"]:  # the older versions held what was scrubbed
        assert not any(GONE["Address"].encode() in body for body in _every_version(world))
    assert _kept_lines(after) == _kept_lines(before)  # every other line is still there, once, byte for byte
    assert _counts(world) == counts_before  # the aggregates counted the events before; nothing is counted again
    job = _job(world, job_id)
    assert job["JobStatus"] == COMPLETED and job["FailedPieces"] == 0
    tallies = job["Tallies"]
    assert tallies["ObjectsRewritten"] == 3 and tallies["EventsScrubbed"] == 3 * 4
    # The filters rule out the objects that cannot hold the person: at most a false positive or two is read.
    assert tallies["ObjectsRead"] + tallies["ObjectsSkipped"] == len(keys)
    assert 3 <= tallies["ObjectsRead"] <= 5 and tallies["LedgerItemsScrubbed"] == 3


def test_the_ledger_keeps_the_keys_of_the_erased_events_so_a_replay_counts_once(world):
    keys = _stream(world, days=1, per_day=1)
    _erase(world)
    _run(world)
    counts = _counts(world)
    # A replay of the erased endpoint's custom event (an SDK retry) in a new object after the erasure
    replay = _events_for(GONE, NOW - timedelta(hours=1), 0)
    late_key = _write(world, NOW, replay, "replay")
    _ingest(world, late_key)
    assert _counts(world) == counts  # recognised by its ledger key
    assert not any(NICKNAME.encode() in b for b in _bodies(world).values())  # and scrubbed by the tombstone
    assert len(keys) == 1


@BOTH_BUCKETS
def test_events_that_reach_s3_after_the_erasure_are_scrubbed_at_ingest(world):
    _stream(world, days=1, per_day=2)
    _erase(world)
    _run(world)
    # A late status callback and a reply of the erased number, written by Firehose after the job's pass
    at = NOW + timedelta(hours=2)
    late = _events_for(GONE, at, 1) + [_reply(GONE["Address"], at, "消してほしい")] + _events_for(KEEP, at, 1)
    key = _write(world, at, late, "late")
    counts_before = _counts(world)
    report = _ingest(world, key)
    assert report is not None and report.scrubbed_late == 3
    body = _bodies(world)[key]
    assert not any(n.encode() in body for n in PERSONAL) and KEEP["Address"].encode() in body
    totals = _counts(world)[at.date()]
    assert totals["events"] - counts_before.get(at.date(), {}).get("events", 0) == len(late)  # counted first
    # S3 announces the rewrite: that notification is not counted again
    assert _ingest(world, key) is None
    assert _counts(world)[at.date()] == totals
    if world["versioned"]:
        assert not any(GONE["Address"].encode() in b for b in _every_version(world))


def test_an_object_not_yet_ingested_waits_for_its_ingest_and_is_read_if_that_never_comes(world):
    _stream(world, days=1, per_day=1)
    at = NOW - timedelta(minutes=5)
    pending = _write(world, at, _events_for(GONE, at, 1) + _events_for(KEEP, at, 1), "pending")  # never ingested
    job_id = _erase(world)
    first = world["queue"].messages[:]
    for message in first:
        erase_events.process_erasure_piece(world["deps"], message)
    world["queue"].messages = [m for m in world["queue"].messages if m not in first]
    deferred = [m for m in world["queue"].messages if isinstance(m, EraseEventsPiece) and m.keys]
    assert deferred and deferred[0].keys == (pending,) and world["queue"].delays[-1] == erase_events.DEFER_S
    # Its ingest keeps failing: once older than every retry of it, the erasure reads it anyway.
    world["clock"].advance(timedelta(seconds=ingest_settle_s()))
    _run(world)
    assert not any(n.encode() in _bodies(world)[pending] for n in PERSONAL)
    assert _job(world, job_id)["JobStatus"] == COMPLETED


@BOTH_BUCKETS
def test_a_crash_in_the_middle_of_a_rewrite_loses_and_duplicates_nothing(world):
    keys = _stream(world)
    before = _bodies(world)
    objects = world["deps"].objects
    real_replace, real_delete = objects.replace, objects.delete_noncurrent_versions
    calls = {"replace": 0}

    def crash_after_one(*args: Any, **kwargs: Any) -> bool:
        calls["replace"] += 1
        if calls["replace"] == 2:
            raise TimeoutError("the function timed out before this PutObject")
        return real_replace(*args, **kwargs)

    def crash_before_cleanup(*args: Any, **kwargs: Any) -> int:
        objects.delete_noncurrent_versions = real_delete
        raise TimeoutError("the function died between the PutObject and the version cleanup")

    objects.replace = crash_after_one
    objects.delete_noncurrent_versions = crash_before_cleanup
    job_id = _erase(world)
    crashed = 0
    while messages := world["queue"].take():
        for message in messages:
            try:
                erase_events.process_erasure_piece(world["deps"], message)
            except TimeoutError:
                crashed += 1
                world["queue"].enqueue([message])  # SQS delivers it again after the visibility timeout
    objects.replace = real_replace

    after = _bodies(world)
    assert crashed == 2
    assert _kept_lines(after) == _kept_lines(before)
    assert not any(n.encode() in body for n in PERSONAL for body in after.values())
    if world["versioned"]:
        assert not any(GONE["Address"].encode() in body for body in _every_version(world))
    job = _job(world, job_id)
    assert job["JobStatus"] == COMPLETED and set(after) == set(keys)
    rewritten = [k for k in keys if "kizuna-scrubbed" in world["s3"].head_object(Bucket=BUCKET, Key=k)["Metadata"]]
    assert len(rewritten) == 3  # the job's figures count the deliveries that finished: here 1 or 2 of the 3


def test_redelivered_pieces_are_counted_once_and_change_nothing_more(world):
    _stream(world, days=3)
    before = _bodies(world)
    job_id = _erase(world)
    _run(world, deliver_twice=True)
    job = _job(world, job_id)
    assert job["JobStatus"] == COMPLETED
    assert job["CompletedPieces"] == job["TotalPieces"]
    assert job["Tallies"]["ObjectsRewritten"] == 2  # the second delivery of each piece found nothing to scrub
    assert _kept_lines(_bodies(world)) == _kept_lines(before)


def test_a_piece_out_of_budget_hands_on_and_every_object_is_seen_once(world):
    keys = _stream(world, days=2, per_day=6)
    world["deps"].piece_bytes = 1  # every object read spends the piece's budget
    job_id = _erase(world)
    handled = _run(world)
    job = _job(world, job_id)
    tallies = job["Tallies"]
    assert job["JobStatus"] == COMPLETED
    assert tallies["ObjectsRead"] + tallies["ObjectsSkipped"] == len(keys)
    handed_on = sum(1 for m in handled if isinstance(m, EraseEventsPiece) and m.after)
    assert tallies["ObjectsRead"] - 1 <= handed_on <= tallies["ObjectsRead"]  # each read spent a piece's budget
    assert not any(n.encode() in body for n in PERSONAL for body in _bodies(world).values())


def test_a_concurrent_rewrite_of_the_same_object_is_not_undone(world):
    at = NOW - timedelta(hours=1)
    key = _write(world, at, _events_for(GONE, at, 1) + _events_for(KEEP, at, 1), "race")
    _ingest(world, key)
    objects = world["deps"].objects
    real_read = objects.read

    def read_then_someone_writes(bucket: str, key_: str) -> Any:
        stored = real_read(bucket, key_)
        objects.read = real_read
        # Between our read and our write, another scrub (ingest's, for another erasure) replaces the object.
        world["s3"].put_object(Bucket=BUCKET, Key=key_, Body=stored.body + b'{"event_type":"x"}\n')
        return stored

    objects.read = read_then_someone_writes
    _erase(world)
    _run(world)
    body = _bodies(world)[key]
    assert body.endswith(b'{"event_type":"x"}\n')  # the other writer's change survived
    assert GONE["Address"].encode() not in body


def test_an_address_another_endpoint_still_has_is_not_erased(world):
    shared = {**GONE, "Id": "gone-voice", "ChannelType": "VOICE"}
    starter = EventErasure(world["deps"].jobs, world["queue"], world["clock"], Endpoints(GONE, shared), Apps())
    job_id = starter.start(APP, [GONE])
    definition = _job(world, job_id)["Definition"]
    from kizuna.domain.stream_erasure import fingerprint

    assert fingerprint(APP, GONE["Id"]) in definition["Fingerprints"]
    assert fingerprint(APP, GONE["Address"]) not in definition["Fingerprints"]
    ledger = [m for m in world["queue"].messages if isinstance(m, EraseLedgerPiece)]
    assert ledger[0].endpoint_ids == (GONE["Id"],)


def test_objects_of_a_firehose_that_does_not_partition_are_found_and_only_the_apps_lines_change(world):
    """Local mode's (moto's) Firehose writes every app into events/YYYY/MM/DD/HH/: the job reads those too."""
    at = NOW - timedelta(hours=1)
    other_app = [{**e, "application": {"app_id": "app2", "sdk": {}}} for e in _events_for(GONE, at, 1)]
    events = _events_for(GONE, at, 1) + _events_for(KEEP, at, 1) + other_app
    key = f"events/{at:%Y/%m/%d/%H}/kizuna-events-unpartitioned"
    world["s3"].put_object(Bucket=BUCKET, Key=key, Body="".join(json.dumps(e) + "\n" for e in events).encode())
    only_other_app = f"events/{at:%Y/%m/%d/%H}/kizuna-events-app2"
    world["s3"].put_object(Bucket=BUCKET, Key=only_other_app, Body="".join(json.dumps(e) + "\n" for e in other_app))
    _ingest(world, key)
    _ingest(world, only_other_app)
    before = _bodies(world)
    job_id = _erase(world)
    _run(world)
    after = _bodies(world)
    lines = [json.loads(line) for line in after[key].splitlines()]
    assert [e["client"]["client_id"] for e in lines] == ["", "", "keep-sms", "keep-sms", "gone-sms", "gone-sms"]
    assert after[only_other_app] == before[only_other_app]  # the same endpoint id in another app is not this one
    assert _job(world, job_id)["Tallies"]["ObjectsSkipped"] == 1  # its filter ruled it out: app-keyed fingerprints


def test_a_continuation_in_the_apps_partition_still_reads_the_unpartitioned_objects_of_earlier_days(world):
    world["deps"].piece_bytes = 1
    late, early = NOW - timedelta(hours=1), NOW - timedelta(days=3)
    partitioned = [_write(world, late, _events_for(GONE, late, 1), f"p{i}") for i in range(2)]
    unpartitioned = f"events/{early:%Y/%m/%d/%H}/kizuna-events-early"
    world["s3"].put_object(Bucket=BUCKET, Key=unpartitioned, Body=_write_lines(_events_for(GONE, early, 1)))
    for key in (*partitioned, unpartitioned):
        _ingest(world, key)
    job_id = _erase(world)
    _run(world)
    assert _job(world, job_id)["Tallies"]["ObjectsRewritten"] == 3
    assert not any(GONE["Address"].encode() in body for body in _bodies(world).values())


def _write_lines(events: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events).encode()
