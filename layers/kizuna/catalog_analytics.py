"""Analytics (issue 5) in the resource catalog: the event ledger, the 90-day aggregates, the functions around them,
the queue that announces event objects, and how long each kind of analytics data is kept.

Events reach S3 through the catalog's Firehose stream; each new object is announced on the analytics queue, and
the analytics_ingest function claims the object's events in the ledger (one item per distinct event, so replays
and duplicates are recognised) and folds the ones it claimed into the day aggregates, exactly once per object
chunk (a DynamoDB transaction with a marker). Design and figures: docs/analytics.md.

kizuna.catalog adds the tables, functions and queue to its TABLES, FUNCTIONS and QUEUES; read them from there.
"""

from __future__ import annotations

from kizuna.catalog_types import Function, Queue, Table

TABLES: dict[str, Table] = {
    t.key: t
    for t in (
        # The event ledger: one item per distinct event (pk app#endpoint, sk event id) for 90 days, naming the
        # S3 object that claimed it.
        Table(
            "analytics_events",
            "ANALYTICS_EVENTS_TABLE",
            partition_key="pk",
            sort_key="sk",
            ttl_attribute="expires_at",
        ),
        # Day aggregates (counters, distinct-endpoint sketches), counted-chunk markers, per-endpoint activity
        # state, event stream destinations and tracked links (layout in kizuna.adapters.dynamo_aggregates).
        Table("analytics", "ANALYTICS_TABLE", partition_key="pk", sort_key="sk", ttl_attribute="expires_at"),
    )
}

FUNCTIONS: dict[str, Function] = {
    f.key: f
    for f in (
        # One S3 object of events (Firehose output) per queue record → ledger, aggregates, app destinations.
        Function("analytics_ingest", "functions/analytics_ingest/handler.handler", timeout_s=300, memory_mb=1024),
        # The read-only dashboard and tracked-link redirects.
        Function("analytics_web", "functions/analytics_web/handler.handler", timeout_s=10, memory_mb=512),
    )
}

QUEUES: dict[str, Queue] = {
    q.key: q
    for q in (
        # S3 ObjectCreated notifications of the events bucket. Ingesting an object again counts nothing twice
        # (ledger claims and chunk markers), so redeliveries and redrives are harmless.
        Queue(
            "analytics",
            "ANALYTICS_QUEUE_URL",
            consumer="analytics_ingest",
            batch_size=10,
            max_concurrency=2,
            max_receive_count=5,
        ),
    )
}

# The events bucket (Firehose's destination), which analytics_ingest reads the announced objects from.
EVENTS_BUCKET_ENV_VAR = "EVENTS_BUCKET"

# Pinpoint keeps analytics 90 days: older events are neither counted nor answered.
ANALYTICS_RETENTION_DAYS = 90

# A chunk marker outlives every redelivery of its object: 4 days on the queue, then up to 14 in its DLQ.
CHUNK_MARKER_DAYS = 20

# Tracked links keep redirecting this long after the message was sent.
LINK_RETENTION_DAYS = 180

# Erasure of a user's events (kizuna.services.erase_events, docs/security.md): events of the erased endpoints and
# addresses that reach S3 this long after the erasure (status callbacks, replies, Firehose retries, redriven
# objects) are scrubbed at ingest. An object's identifier filter lives as long as the object.
ERASURE_TOMBSTONE_DAYS = 7
