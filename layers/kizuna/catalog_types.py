"""What the resource catalog (kizuna.catalog) is made of: tables and their indexes, queues, functions, the event
stream, schedules and secrets, and the physical names local mode gives them.

Each is a frozen record that checks what AWS would refuse (a maximum concurrency out of range, a batch over 10
without a batching window) when the catalog is built, so a bad entry fails at import, not at deploy.
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
