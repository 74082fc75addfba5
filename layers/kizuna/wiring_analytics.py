"""Composition root for analytics (issue 5): the analytics table's stores, the event ledger and objects, app event
stream destinations, tracked links, and erasure of a user's events (see wiring.py).

Used by analytics_ingest, analytics_web, the jobs function (erasure jobs) and the API and send path (links).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kizuna import wiring
from kizuna.clock import Clock, SystemClock

if TYPE_CHECKING:
    from kizuna.settings import ApiSettings, JobsSettings


def aggregate_store(table: str) -> Any:
    """The analytics table: aggregates, chunk markers, event stream destinations, tracked links."""
    from kizuna.adapters.dynamo_aggregates import DynamoAggregateStore

    return DynamoAggregateStore(table, wiring.aws("dynamodb"))


def event_ledger(table: str) -> Any:
    from kizuna.adapters.dynamo_event_ledger import DynamoEventLedger

    return DynamoEventLedger(table, wiring.aws("dynamodb"))


def erasure_index(table: str) -> Any:
    """Identifier filters of event objects and erasure tombstones, in the analytics table."""
    from kizuna.adapters.dynamo_erasure import DynamoErasureIndex

    return DynamoErasureIndex(table, wiring.aws("dynamodb"))


def event_objects() -> Any:
    from kizuna.adapters.s3_event_objects import S3EventObjects

    return S3EventObjects(wiring.aws("s3"))


def event_destinations() -> Any:
    from kizuna.adapters.event_destinations import AssumedRoleDestinations

    return AssumedRoleDestinations(wiring.aws("sts"), wiring.assumed_role_client)


def link_store(table: str) -> Any:
    """Tracked links (kizuna.services.links): the send path stores them, analytics_web resolves them."""
    return aggregate_store(table)


def link_tracking(settings: ApiSettings) -> Any:
    from kizuna.services.send_messages import LinkTracking

    return LinkTracking(link_store(settings.analytics_table), settings.links_base_url)


def erasure_deps(settings: JobsSettings, clock: Clock | None = None) -> Any:
    """What an erasure job's pieces use: the job store and queue, the events bucket, the filters and tombstones."""
    from kizuna.adapters.s3_event_objects import S3EventObjects
    from kizuna.services.erase_events import ErasureDeps

    return ErasureDeps(
        jobs=wiring.job_store(settings.data_table),
        queue=wiring.job_queue(settings.jobs_queue_url),
        objects=S3EventObjects(wiring.aws("s3")),
        index=erasure_index(settings.analytics_table),
        ledger=event_ledger(settings.analytics_events_table),
        clock=clock or SystemClock(),
        bucket=settings.events_bucket,
    )


# Subscribers to ingested events (kizuna.ports_analytics.EventTriggers): campaigns and journeys (issues 6 and 7)
# append theirs here; analytics_ingest calls each with every distinct event after its counts are committed.
EVENT_TRIGGERS: list[Any] = []
