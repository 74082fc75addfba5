"""Users: GetUserEndpoints, and DeleteUserEndpoints as the erasure request (no personal data survives it)."""

from __future__ import annotations

import json

import pytest

from kizuna.adapters.memory_engagement import InMemoryEngagementStore
from kizuna.adapters.memory_jobs import InMemoryJobQueue, InMemoryJobStore
from kizuna.domain.jobs import ERASE_EVENTS, EraseLedgerPiece
from kizuna.domain.stream_erasure import fingerprint
from kizuna.errors import NotFound
from kizuna.ports_journeys import Asked, Reply
from kizuna.services.apps import create_app
from kizuna.services.endpoints import delete_endpoint, update_endpoint
from kizuna.services.erase_events import EventErasure
from kizuna.services.users import (
    EVENT_STREAM_SCRUBBED,
    JOURNEY_ENGAGEMENT_SCRUBBED,
    SEGMENTS_SKIPPED,
    delete_user_endpoints,
    get_user_endpoints,
    user_hash,
)


class RecordingSegments:
    """Only what erasure uses of the SegmentStore port."""

    def __init__(self) -> None:
        self.removed: list[tuple[str, list[str]]] = []

    def remove_member_everywhere(self, app_id, endpoint_ids):  # noqa: ANN001
        self.removed.append((app_id, sorted(endpoint_ids)))


@pytest.fixture
def app_id(data, clock) -> str:
    return create_app(data, clock, "arn:aws:mobiletargeting:us-east-1:123456789012", {"Name": "demo"}).id


@pytest.fixture
def aiko(data, clock, app_id) -> str:
    update_endpoint(
        data,
        data,
        clock,
        app_id,
        "phone",
        {
            "ChannelType": "SMS",
            "Address": "+819012345678",
            "User": {"UserId": "aiko-42"},
            "Attributes": {"pet": ["Mochi"]},
        },
    )
    update_endpoint(
        data,
        data,
        clock,
        app_id,
        "mail",
        {
            "ChannelType": "EMAIL",
            "Address": "aiko@example.com",
            "User": {"UserId": "aiko-42", "UserAttributes": {"name": ["Aiko Sato"]}},
        },
    )
    update_endpoint(
        data, data, clock, app_id, "other", {"ChannelType": "SMS", "Address": "+15005550006", "User": {"UserId": "ken"}}
    )
    return "aiko-42"


def test_get_user_endpoints_returns_only_that_users_endpoints(data, app_id, aiko):
    response = get_user_endpoints(data, data, app_id, aiko)

    assert [e["Id"] for e in response["Item"]] == ["mail", "phone"]


def test_get_user_endpoints_of_an_unknown_user_is_not_found(data, app_id):
    with pytest.raises(NotFound):
        get_user_endpoints(data, data, app_id, "nobody")


def test_delete_user_endpoints_returns_and_deletes_every_endpoint_of_the_user(data, clock, app_id, aiko):
    response = delete_user_endpoints(data, data, RecordingSegments(), clock, app_id, aiko)

    assert sorted(e["Id"] for e in response["Item"]) == ["mail", "phone"]
    assert data.user_endpoints(app_id, aiko) == []
    assert data.get_endpoint(app_id, "other") is not None


def test_erasure_removes_the_endpoints_from_imported_segments(data, clock, app_id, aiko):
    segments = RecordingSegments()

    delete_user_endpoints(data, data, segments, clock, app_id, aiko)

    assert segments.removed == [(app_id, ["mail", "phone"])]


def test_erasure_record_holds_a_salted_hash_count_and_scope_but_no_personal_data(data, clock, app_id, aiko):
    delete_user_endpoints(data, data, RecordingSegments(), clock, app_id, aiko)

    (record,) = data.erasure_records(app_id)
    assert record["endpoints_removed"] == 2
    assert record["user_hash"] == user_hash(data.erasure_salts[app_id], aiko)
    assert "imported-segment-memberships" in record["scrubbed"]
    text = json.dumps(record)
    for secret in (aiko, "+819012345678", "aiko@example.com", "Mochi", "Aiko Sato"):
        assert secret not in text


def test_no_copy_of_the_users_data_remains_in_the_store(data, clock, app_id, aiko):
    delete_user_endpoints(data, data, RecordingSegments(), clock, app_id, aiko)

    everything = json.dumps(
        [
            list(data.endpoints.values()),
            data.erasures,
            data.settings,
            {k: {kk: sorted(v) for kk, v in r.items()} for k, r in data.attribute_registry.items()},
        ]
    )
    for secret in (aiko, "+819012345678", "aiko@example.com", "Mochi", "Aiko Sato"):
        assert secret not in everything


def test_the_same_salt_is_reused_for_every_erasure_of_an_app(data, clock, app_id, aiko):
    delete_user_endpoints(data, data, None, clock, app_id, aiko)
    delete_user_endpoints(data, data, None, clock, app_id, aiko)

    first, second = data.erasure_records(app_id)
    assert first["user_hash"] == second["user_hash"]


def test_repeating_an_erasure_succeeds_and_records_nothing_removed(data, clock, app_id, aiko):
    delete_user_endpoints(data, data, None, clock, app_id, aiko)

    response = delete_user_endpoints(data, data, None, clock, app_id, aiko)

    assert response == {"Item": []}
    assert data.erasure_records(app_id)[-1]["endpoints_removed"] == 0


def test_without_a_segment_store_the_record_says_memberships_were_skipped(data, clock, app_id, aiko):
    delete_user_endpoints(data, data, None, clock, app_id, aiko)

    assert SEGMENTS_SKIPPED in data.erasure_records(app_id)[0]["scrubbed"]


def test_erasure_in_an_unknown_app_is_not_found(data, clock):
    with pytest.raises(NotFound):
        delete_user_endpoints(data, data, None, clock, "nope", "u1")


def test_erasure_forgets_what_journeys_kept_of_the_users_endpoints(data, clock, app_id, aiko):
    engagement = InMemoryEngagementStore()
    for endpoint_id in ("phone", "other"):
        engagement.put_asked(
            app_id, [Asked(endpoint_id, "SMS", f"m-{endpoint_id}", "j1", "ask", clock.now())], clock.now()
        )
        engagement.add_reply(
            app_id, endpoint_id, f"m-{endpoint_id}", Reply("SM1", "はい", clock.now()), clock.now(), 10
        )

    delete_user_endpoints(data, data, None, clock, app_id, aiko, engagement)

    assert engagement.get_asked(app_id, ["phone", "other"]).keys() == {"other"}  # ken's stays
    assert engagement.engagement(app_id, "phone", "m-phone").replies == ()
    assert JOURNEY_ENGAGEMENT_SCRUBBED in data.erasure_records(app_id)[0]["scrubbed"]


# -- the event stream's part: an erasure job, queued before anything is deleted -----------------------------------


class QueueSeeingTheEndpoints(InMemoryJobQueue):
    """Records whether the endpoints still existed when the erasure job was queued (a failed request is retried)."""

    def __init__(self, data) -> None:  # noqa: ANN001
        super().__init__()
        self.data = data
        self.endpoints_then: list[str] = []

    def enqueue(self, messages, delay_s=0):  # noqa: ANN001
        self.endpoints_then = sorted(self.data.endpoints)
        super().enqueue(messages, delay_s)


def test_erasure_queues_a_job_for_the_event_stream_that_holds_fingerprints_only(data, clock, app_id, aiko):
    jobs, queue = InMemoryJobStore(), QueueSeeingTheEndpoints(data)

    delete_user_endpoints(data, data, None, clock, app_id, aiko, events=EventErasure(jobs, queue, clock, data, data))

    ((_, job_type, job_id),) = jobs.jobs
    assert job_type == ERASE_EVENTS and len(queue.endpoints_then) == 3  # queued while the endpoints still existed
    job = jobs.get_job(app_id, ERASE_EVENTS, job_id)
    expected = {fingerprint(app_id, i) for i in ("phone", "mail", "+819012345678", "aiko@example.com", aiko)}
    assert set(job["Definition"]["Fingerprints"]) == expected
    assert not any(s in json.dumps(job) for s in ("phone", "mail", "+819012345678", "aiko@example.com", aiko))
    ledger = [m for m in queue.messages if isinstance(m, EraseLedgerPiece)]
    assert ledger[0].endpoint_ids == ("mail", "phone")
    (record,) = data.erasure_records(app_id)
    assert f"{EVENT_STREAM_SCRUBBED} {job_id}" in record["scrubbed"]


def test_deleting_one_endpoint_erases_its_id_and_address_but_not_its_users_id(data, clock, app_id, aiko):
    jobs, queue = InMemoryJobStore(), InMemoryJobQueue()

    delete_endpoint(data, data, app_id, "phone", EventErasure(jobs, queue, clock, data, data))

    (job,) = [jobs.get_job(*key) for key in jobs.jobs]
    assert set(job["Definition"]["Fingerprints"]) == {
        fingerprint(app_id, "phone"),
        fingerprint(app_id, "+819012345678"),
    }
    assert data.get_endpoint(app_id, "phone") is None


def test_a_repeated_erasure_finds_nothing_and_queues_no_job(data, clock, app_id, aiko):
    jobs, queue = InMemoryJobStore(), InMemoryJobQueue()
    erasure = EventErasure(jobs, queue, clock, data, data)
    delete_user_endpoints(data, data, None, clock, app_id, aiko, events=erasure)
    delete_user_endpoints(data, data, None, clock, app_id, aiko, events=erasure)
    assert len(jobs.jobs) == 1
