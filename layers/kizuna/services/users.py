"""Users: the endpoints that share a User.UserId, and erasure of everything Kizuna keeps about one.

DeleteUserEndpoints is the erasure request. It queues the erasure of the user's events from the event stream in S3
and the analytics ledger (kizuna.services.erase_events: a job, since the objects are many), removes the user's
endpoints from imported segments, deletes the endpoints (the only items that hold addresses, attribute values and
the user id) and what journeys kept of them (replies, custom events: kizuna.services.journey_engagement), and
writes an erasure record that
holds no personal data: a salted hash of the user id (HMAC-SHA256 keyed with a random per-app salt, so a guessed
id can be checked against the record by an operator but the table alone does not reveal it), how many endpoints
went, what was scrubbed, and when.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from kizuna.clock import Clock, iso
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore, EndpointStore, SegmentStore
from kizuna.ports_journeys import EngagementStore
from kizuna.services.erase_events import EventErasure

# The by_user index is eventually consistent: look again after deleting, a few times, for endpoints written just
# before the erasure request.
ERASURE_PASSES = 3
SEGMENTS_SCRUBBED = "imported-segment-memberships"
SEGMENTS_SKIPPED = "imported-segment-memberships: skipped, no segment store configured"
JOURNEY_ENGAGEMENT_SCRUBBED = "journey-replies-clicks-and-events"
EVENT_STREAM_SCRUBBED = "event-stream-objects-and-analytics-ledger: erasure job"


def get_user_endpoints(apps: AppStore, endpoints: EndpointStore, app_id: str, user_id: str) -> dict[str, Any]:
    _require(apps, app_id, user_id)
    found = sorted(endpoints.user_endpoints(app_id, user_id), key=lambda e: e["Id"])
    if not found:
        raise NotFound(f"No endpoints found for the user in application {app_id}")
    return {"Item": found}


def delete_user_endpoints(
    apps: AppStore,
    endpoints: EndpointStore,
    segments: SegmentStore | None,
    clock: Clock,
    app_id: str,
    user_id: str,
    engagement: EngagementStore | None = None,
    events: EventErasure | None = None,
) -> dict[str, Any]:
    """Erase the user; returns the deleted endpoints (EndpointsResponse). Idempotent: a repeat finds nothing to
    delete and records an erasure with a count of 0."""
    _require(apps, app_id, user_id)
    deleted: dict[str, dict[str, Any]] = {}
    jobs: list[str] = []
    for _ in range(ERASURE_PASSES):
        found = [e for e in endpoints.user_endpoints(app_id, user_id) if e["Id"] not in deleted]
        if not found:
            break
        ids = [e["Id"] for e in found]
        # The event erasure is queued first and the memberships go next: if we crash after either, a retry still
        # finds the endpoints and finishes the job.
        if events is not None and (job_id := events.start(app_id, found, user_id)):
            jobs.append(job_id)
        if segments is not None:
            segments.remove_member_everywhere(app_id, ids)
        if engagement is not None:
            engagement.forget(app_id, ids)
        endpoints.delete_endpoints(app_id, ids)
        deleted.update((e["Id"], e) for e in found)
    scrubbed = ["endpoints", "by_user index entries", SEGMENTS_SCRUBBED if segments is not None else SEGMENTS_SKIPPED]
    if engagement is not None:
        scrubbed.append(JOURNEY_ENGAGEMENT_SCRUBBED)
    scrubbed.extend(f"{EVENT_STREAM_SCRUBBED} {job_id}" for job_id in jobs)
    salt = apps.erasure_salt(app_id, secrets.token_hex(32))
    apps.put_erasure_record(
        app_id,
        {
            "at": iso(clock.now()),
            "user_hash": user_hash(salt, user_id),
            "hash_method": "HMAC-SHA256(app erasure salt, user id)",
            "endpoints_removed": len(deleted),
            "scrubbed": scrubbed,
        },
    )
    return {"Item": sorted(deleted.values(), key=lambda e: e["Id"])}


def user_hash(salt: str, user_id: str) -> str:
    return hmac.new(salt.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def _require(apps: AppStore, app_id: str, user_id: str) -> None:
    if apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")
    if not user_id:
        raise BadRequest("user-id must not be empty")
