"""The resource catalog: the single description of Kizuna's tables, queues, streams and schedules.

Both the CDK constructs (infra/) and the local runtime (kizuna.local) read this module, so a queue's batch size or
a table's key schema can never differ between AWS and local mode. Environment variable names are part of the
catalog too: CDK sets them, the handlers' settings models read them.

The record types are in kizuna.catalog_types; billed consultations and analytics describe their resources in
kizuna.catalog_consultations and kizuna.catalog_analytics, which this module adds to FUNCTIONS, TABLES, QUEUES,
SCHEDULES and SECRETS, so every resource is read from here.
"""

from __future__ import annotations

from kizuna import catalog_analytics, catalog_consultations
from kizuna.catalog_types import Function, Index, Queue, Schedule, Secret, Stream, Table

# The messages table's index of open delivery records (kizuna.adapters.dynamo_messages queries it).
MESSAGES_OPEN_INDEX = "open_since"

FUNCTIONS: dict[str, Function] = {
    f.key: f
    for f in (
        Function("api", "functions/api/handler.handler", timeout_s=29),
        Function("sender", "functions/sender/handler.handler", timeout_s=30),
        Function("twilio_webhook", "functions/twilio_webhook/handler.handler", timeout_s=10, memory_mb=256),
        Function("reconciler", "functions/reconciler/handler.handler", timeout_s=120, memory_mb=256),
        # SES events of Kizuna's e-mails (configuration set → EventBridge → this function).
        Function("email_events", "functions/email_events/handler.handler", timeout_s=10, memory_mb=256),
        # Inbound messages forwarded to third parties (survey platforms) with a recomputed X-Twilio-Signature.
        Function("relay", "functions/relay/handler.handler", timeout_s=30, memory_mb=256),
        # Import/export pieces: one S3 byte range or one endpoint shard per invocation.
        Function("jobs", "functions/jobs/handler.handler", timeout_s=300, memory_mb=1024),
    )
}

TABLES: dict[str, Table] = {
    t.key: t
    for t in (
        # Apps and everything scoped to one (layout in kizuna.adapters.dynamo_data): endpoints are spread over
        # ENDPOINT_SHARDS partitions per app so segments resolve in parallel and no app is one hot partition.
        Table(
            "data",
            "DATA_TABLE",
            partition_key="pk",
            sort_key="sk",
            ttl_attribute="expires_at",  # only short-lived items carry it (WhatsApp windows, one-time passwords)
            indexes=(
                Index("by_user", partition_key="user_pk", sort_key="sk"),
                # "<app>#<address>" of each endpoint: a STOP from a number opts out every endpoint with that address.
                Index("by_address", partition_key="address_pk", sort_key="sk"),
            ),
        ),
        # One delivery record per recipient-message: the claim that makes sending exactly-once, and its status.
        Table(
            "messages",
            "MESSAGES_TABLE",
            partition_key="message_id",
            ttl_attribute="expires_at",
            # Sparse: only records still waiting for a final status carry open_shard ("open#0".."open#15"),
            # so the reconciler reads just those, spread over shards to avoid one hot partition. Sorted by
            # first_attempt_at, set once by the claim, and keys only: status callbacks rewrite status and updated_at,
            # which this index does not hold, so it is written when a record opens and when it closes, not on
            # each callback. The reconciler reads the records it finds for their status and updated_at.
            indexes=(
                Index(
                    MESSAGES_OPEN_INDEX, partition_key="open_shard", sort_key="first_attempt_at", projection="KEYS_ONLY"
                ),
            ),
            # What open_since replaces: sorted by updated_at with every attribute, so each callback deleted and
            # re-put the whole record in it (two writes of the record's size besides the table's own).
            retired_indexes=(Index("open", partition_key="open_shard", sort_key="updated_at"),),
        ),
        # Kizuna's own access keys for SigV4; the secret half is stored KMS-encrypted.
        Table("access_keys", "ACCESS_KEYS_TABLE", partition_key="access_key_id"),
        # Counters every sender shares: rate buckets per sender identity, daily spend per app (adapters.dynamo_limits).
        # Nothing in it outlives a few days, so it is not retained when the stack goes.
        Table("limits", "LIMITS_TABLE", partition_key="pk", ttl_attribute="expires_at", retain=False),
    )
}

QUEUES: dict[str, Queue] = {
    q.key: q
    for q in (
        Queue(
            "send",
            "SEND_QUEUE_URL",
            consumer="sender",
            batch_size=10,
            max_concurrency=5,
            max_receive_count=5,
        ),
        # Inbound relays: retried with backoff by re-enqueueing (attempt in the body), then dead-lettered with the
        # reason by the consumer itself.
        Queue(
            "relay",
            "RELAY_QUEUE_URL",
            consumer="relay",
            batch_size=10,
            max_concurrency=2,
            max_receive_count=5,
            dlq_env_var="RELAY_DLQ_URL",
        ),
        # Import and export pieces. A piece is idempotent (upserts, a done-marker per piece), so a retry after a
        # crash resumes the job without counting anything twice.
        Queue(
            "jobs",
            "JOBS_QUEUE_URL",
            consumer="jobs",
            batch_size=1,
            max_concurrency=4,
            max_receive_count=3,
        ),
    )
}

STREAMS: dict[str, Stream] = {s.key: s for s in (Stream("events", "EVENTS_STREAM"),)}

SCHEDULES: dict[str, Schedule] = {
    s.key: s for s in (Schedule("reconcile_messages", function="reconciler", rate_minutes=5),)
}

SECRETS: dict[str, Secret] = {
    s.key: s
    for s in (
        Secret(
            "twilio",
            "TWILIO_SECRET_ID",
            "Twilio credentials as JSON: account_sid, auth_token, and from_number or messaging_service_sid",
        ),
    )
}

# Billed consultations (issue 8): their table, call timers, webhook/timer/reconciler functions, the Stripe secret.
FUNCTIONS.update(catalog_consultations.FUNCTIONS)
TABLES.update(catalog_consultations.TABLES)
QUEUES.update(catalog_consultations.QUEUES)
SCHEDULES.update(catalog_consultations.SCHEDULES)
SECRETS.update(catalog_consultations.SECRETS)

# Campaigns' CUSTOM deliveries are signed with this (Kizuna-Signature); the random value the secret is created with
# serves as is, and receivers read it from the secret.
SECRETS["webhook_signing"] = Secret(
    "webhook_signing", "WEBHOOK_SIGNING_SECRET_ID", "The key Kizuna signs CUSTOM deliveries with (a string)"
)

# Endpoints of one app are spread over this many partitions; segment resolution and exports run one worker per shard.
ENDPOINT_SHARDS = 16

# Campaign runs (issue 6): one-time EventBridge Scheduler schedules in this group put run messages on the jobs queue.
CAMPAIGN_SCHEDULE_GROUP_ENV_VAR = "CAMPAIGN_SCHEDULE_GROUP"
CAMPAIGN_SCHEDULER_ROLE_ENV_VAR = "CAMPAIGN_SCHEDULER_ROLE_ARN"
JOBS_QUEUE_ARN_ENV_VAR = "JOBS_QUEUE_ARN"
JOBS_DLQ_ARN_ENV_VAR = "JOBS_DLQ_ARN"

# KMS key that encrypts access-key secrets (and the tables).
KEYS_KMS_ENV_VAR = "KEYS_KMS_KEY_ID"

# Delivery records outlive the 90-day analytics window a little so late callbacks still find them.
MESSAGE_RETENTION_DAYS = 100

# Visibility must cover six times the consumer's timeout (AWS guidance for SQS event sources).
VISIBILITY_FACTOR = 6


def visibility_timeout_s(queue: Queue) -> int:
    return FUNCTIONS[queue.consumer].timeout_s * VISIBILITY_FACTOR


# Analytics (issue 5): the event ledger, the 90-day aggregates, and the functions around them.
TABLES.update(catalog_analytics.TABLES)
FUNCTIONS.update(catalog_analytics.FUNCTIONS)
QUEUES.update(catalog_analytics.QUEUES)

# --- Journeys (issue 7): participant state, the function that wakes them, the state machine that sleeps -----------
#
# One Step Functions execution per journey run loops: wake every endpoint shard (a Map of `journeys` invocations),
# then Wait until the earliest participant's wake-up, so its cost follows wake-ups, not participants × steps.
TABLES["journeys"] = Table(
    "journeys",
    "JOURNEYS_TABLE",
    partition_key="pk",  # "<app>#<journey>#<shard>": one partition per journey shard
    sort_key="sk",  # the endpoint id, or "#enrolled#<run>" markers
    ttl_attribute="expires_at",  # a finished participant lingers a while (re-entry rules), then goes
    # Sparse: only waiting participants carry due_pk ("<app>#<journey>#<shard>") and due_at (ISO wake-up + id).
    indexes=(Index("due", partition_key="due_pk", sort_key="due_at"),),
)
FUNCTIONS["journeys"] = Function("journeys", "functions/journeys/handler.handler", timeout_s=300, memory_mb=1024)
JOURNEY_STATE_MACHINE_ENV_VAR = "JOURNEY_STATE_MACHINE_ARN"
# A Standard execution lives at most a year and 25,000 history events; a run continues as a new execution well
# before either (each loop of 16 shards writes about 70 events).
JOURNEY_LOOPS_PER_EXECUTION = 300
JOURNEY_EXECUTION_MAX_DAYS = 300
