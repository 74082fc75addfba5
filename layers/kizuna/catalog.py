"""The resource catalog: the single description of Kizuna's tables, queues, streams and schedules.

Both the CDK constructs (infra/) and the local runtime (kizuna.local) read this module, so a queue's batch size or
a table's key schema can never differ between AWS and local mode. Environment variable names are part of the
catalog too: CDK sets them, the handlers' settings models read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Index:
    name: str
    partition_key: str
    sort_key: str | None = None
    # What the index holds besides its keys and the table's: "ALL" attributes, or "KEYS_ONLY". A KEYS_ONLY index is
    # written only when an item enters it, leaves it or changes an index key; updates of other attributes skip it.
    projection: str = "ALL"

    def __post_init__(self) -> None:
        if self.projection not in ("ALL", "KEYS_ONLY"):
            raise ValueError(f"{self.name}: projection must be ALL or KEYS_ONLY")


@dataclass(frozen=True)
class Table:
    key: str
    env_var: str
    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None
    indexes: tuple[Index, ...] = ()
    # Indexes an index of `indexes` replaces. CloudFormation creates or deletes one GSI per stack update, so an
    # existing stack first deploys with them kept (`-c kizuna:keepRetiredIndexes=true`), then without (docs/deploy.md).
    # Nothing reads them; new stacks and local mode never create them.
    retired_indexes: tuple[Index, ...] = ()
    # Stateful tables keep their data when the stack is deleted or a resource is replaced.
    retain: bool = True


@dataclass(frozen=True)
class Queue:
    key: str
    env_var: str
    consumer: str  # function key in FUNCTIONS
    batch_size: int
    max_concurrency: int  # Lambda event source maximum concurrency (2..1000)
    max_receive_count: int  # deliveries before the DLQ; rate-limit waits do not spend it
    max_batching_window_s: int = 0
    # Consumers that give up on a message themselves put it in the DLQ with the reason (SQS's redrive cannot).
    dlq_env_var: str | None = None

    def __post_init__(self) -> None:
        if not 2 <= self.max_concurrency <= 1000:
            raise ValueError(f"{self.key}: maximum concurrency must be within 2..1000")
        if self.batch_size > 10 and self.max_batching_window_s == 0:
            raise ValueError(f"{self.key}: batches above 10 need a batching window")


@dataclass(frozen=True)
class Function:
    key: str
    handler: str  # module:function under functions/
    timeout_s: int
    memory_mb: int = 512


@dataclass(frozen=True)
class Stream:
    key: str
    env_var: str
    # S3 layout of the event stream: partitioned by app and date (Firehose dynamic partitioning in AWS).
    prefix: str = "events/app={app}/year={year}/month={month}/day={day}/"
    error_prefix: str = "errors/"
    buffer_seconds: int = 60
    buffer_mib: int = 64
    expire_days: int = 400  # raw events; the 90-day aggregates live in DynamoDB


@dataclass(frozen=True)
class Schedule:
    key: str
    function: str
    rate_minutes: int


@dataclass(frozen=True)
class Secret:
    key: str
    env_var: str
    description: str


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

# --- Billed consultations (issue 8): their table, call timers, webhook/timer/reconciler functions, the Stripe secret.
FUNCTIONS.update(
    {
        f.key: f
        for f in (
            # Twilio voice: the number's voice URL, <Gather>/<Dial> actions and every call status callback.
            Function("voice_webhook", "functions/voice_webhook/handler.handler", timeout_s=10, memory_mb=256),
            Function("stripe_webhook", "functions/stripe_webhook/handler.handler", timeout_s=10, memory_mb=256),
            # The one-minute warning and the cut, woken by delayed messages on the timers queue.
            Function(
                "consultation_timers", "functions/consultation_timers/handler.handler", timeout_s=20, memory_mb=256
            ),  # fmt: skip
            Function(
                "consultations_reconciler",
                "functions/consultations_reconciler/handler.handler",
                timeout_s=120,
                memory_mb=256,
            ),
        )
    }
)
TABLES["consultations"] = Table(
    "consultations",
    "CONSULTATIONS_TABLE",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",  # only provider-event dedup markers expire; consultations are kept (accounting)
    indexes=(
        # Sparse: only callable bookings carry caller_key / pin_key, only a call's record carries call_key, and
        # only records with work left carry open_shard ("open#0".."open#3") and check_at.
        Index("by_caller", partition_key="caller_key", sort_key="window_start"),
        Index("by_pin", partition_key="pin_key", sort_key="window_start"),
        Index("by_call", partition_key="call_key"),
        Index("open", partition_key="open_shard", sort_key="check_at"),
    ),
)
QUEUES["timers"] = Queue(
    "timers", "CALL_TIMERS_QUEUE_URL", consumer="consultation_timers", batch_size=10, max_concurrency=2,
    max_receive_count=4,
)  # fmt: skip
SCHEDULES["reconcile_consultations"] = Schedule(
    "reconcile_consultations", function="consultations_reconciler", rate_minutes=5
)
SECRETS["stripe"] = Secret(
    "stripe", "STRIPE_SECRET_ID", "Stripe credentials as JSON: api_key (sk_...) and webhook_secret (whsec_...)"
)
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


# --- Analytics (issue 5): the event ledger, the 90-day aggregates, and the functions around them ---------------
#
# Events reach S3 through the Firehose stream above; each new object is announced on the analytics queue, and
# the analytics_ingest function claims the object's events in the ledger (one item per distinct event, so replays
# and duplicates are recognised) and folds the ones it claimed into the day aggregates, exactly once per object
# chunk (a DynamoDB transaction with a marker). Design and figures: docs/analytics.md.

TABLES.update(
    {
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
)

FUNCTIONS.update(
    {
        f.key: f
        for f in (
            # One S3 object of events (Firehose output) per queue record → ledger, aggregates, app destinations.
            Function("analytics_ingest", "functions/analytics_ingest/handler.handler", timeout_s=300, memory_mb=1024),
            # The read-only dashboard and tracked-link redirects.
            Function("analytics_web", "functions/analytics_web/handler.handler", timeout_s=10, memory_mb=512),
        )
    }
)

QUEUES.update(
    {
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
)

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


@dataclass(frozen=True)
class Naming:
    """Physical names for local mode (CDK lets CloudFormation name things in AWS)."""

    prefix: str = "kizuna"
    extra: dict[str, str] = field(default_factory=dict)

    def table(self, key: str) -> str:
        return f"{self.prefix}-{key}"

    def queue(self, key: str) -> str:
        return f"{self.prefix}-{key}"

    def dlq(self, key: str) -> str:
        return f"{self.prefix}-{key}-dlq"

    def stream(self, key: str) -> str:
        return f"{self.prefix}-{key}"

    def secret(self, key: str) -> str:
        return f"{self.prefix}/{key}"


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
