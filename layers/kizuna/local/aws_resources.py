"""Creates Kizuna's AWS resources on moto (or any endpoint) from the catalog alone, and maps settings to them.

Idempotent: existing resources are kept (secret values are never overwritten), queue attributes are re-applied.

moto notes:
- Firehose: dynamic partitioning is ignored, and the Prefix is used literally (each PutRecord/PutRecordBatch is
  written at once as one object under `<prefix>YYYY/MM/DD/HH/`). The local stream therefore gets the static part
  of the catalog prefix ("events/"), not the `!{partitionKeyFromQuery:...}` expressions infra/ configures.
- DynamoDB TTL is recorded but moto never deletes expired items.
- The tables, queues and secrets are not KMS-encrypted locally (infra/ uses the customer key).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from pydantic_settings import BaseSettings

from kizuna.catalog import (
    CAMPAIGN_SCHEDULE_GROUP_ENV_VAR,
    CAMPAIGN_SCHEDULER_ROLE_ENV_VAR,
    JOBS_DLQ_ARN_ENV_VAR,
    JOBS_QUEUE_ARN_ENV_VAR,
    JOURNEY_STATE_MACHINE_ENV_VAR,
    KEYS_KMS_ENV_VAR,
    QUEUES,
    SECRETS,
    STREAMS,
    TABLES,
    visibility_timeout_s,
)
from kizuna.catalog_analytics import EVENTS_BUCKET_ENV_VAR
from kizuna.catalog_types import Naming, Stream, Table
from kizuna.local.lambda_context import LOCAL_ACCOUNT_ID

log = logging.getLogger(__name__)

QUEUE_RETENTION_S = 4 * 24 * 3600  # as infra/: 4 days on the queue, 14 on its DLQ
DLQ_RETENTION_S = 14 * 24 * 3600
SERVICES = ("dynamodb", "sqs", "s3", "firehose", "secretsmanager", "kms")  # the clients this module needs

ClientFactory = Callable[[str], Any]


@dataclass
class LocalResources:
    tables: dict[str, str] = field(default_factory=dict)  # table key -> table name
    queue_urls: dict[str, str] = field(default_factory=dict)  # queue key -> url
    queue_arns: dict[str, str] = field(default_factory=dict)
    dlq_urls: dict[str, str] = field(default_factory=dict)
    dlq_arns: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)  # stream key -> bucket the stream delivers to
    streams: dict[str, str] = field(default_factory=dict)  # stream key -> delivery stream name
    secrets: dict[str, str] = field(default_factory=dict)  # secret key -> secret id (name)
    kms_key_id: str = ""

    @property
    def bucket(self) -> str:
        """The events bucket."""
        return self.buckets["events"]

    @property
    def stream_name(self) -> str:
        return self.streams["events"]

    def env_values(self) -> dict[str, str]:
        """Every environment variable the catalog defines, mapped to its local physical resource."""
        env = {TABLES[k].env_var: v for k, v in self.tables.items()}
        env |= {QUEUES[k].env_var: v for k, v in self.queue_urls.items()}
        env |= {QUEUES[k].dlq_env_var: v for k, v in self.dlq_urls.items() if QUEUES[k].dlq_env_var}
        env |= {STREAMS[k].env_var: v for k, v in self.streams.items()}
        env |= {SECRETS[k].env_var: v for k, v in self.secrets.items()}
        env[KEYS_KMS_ENV_VAR] = self.kms_key_id
        if "events" in self.buckets:
            env[EVENTS_BUCKET_ENV_VAR] = self.buckets["events"]
        if "jobs" in self.queue_arns:  # local mode schedules campaign runs on the local scheduler (no role needed)
            env[JOBS_QUEUE_ARN_ENV_VAR] = self.queue_arns["jobs"]
            env[JOBS_DLQ_ARN_ENV_VAR] = self.dlq_arns["jobs"]
            env[CAMPAIGN_SCHEDULE_GROUP_ENV_VAR] = "kizuna-local-campaigns"
            env[CAMPAIGN_SCHEDULER_ROLE_ENV_VAR] = "arn:aws:iam::000000000000:role/kizuna-local-scheduler"
        # Local mode loops journeys on the local scheduler; no state machine exists.
        env[JOURNEY_STATE_MACHINE_ENV_VAR] = "arn:aws:states:us-east-1:000000000000:stateMachine:kizuna-journeys-local"
        return env

    def env_for(self, settings_model: type[BaseSettings], extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for a function whose settings model is `settings_model`: each env var it reads, mapped
        to a local resource (or taken from `extra`, for values that are not resources, e.g. WEBHOOK_BASE_URL).
        Variables with a default in the model (POWERTOOLS_SERVICE_NAME) are left out unless `extra` gives them.
        A required variable that is neither a resource nor in `extra` raises KeyError naming it."""
        known = self.env_values() | dict(extra or {})
        env: dict[str, str] = {}
        for name, info in settings_model.model_fields.items():
            variable = info.alias or name.upper()
            if variable in known:
                env[variable] = known[variable]
            elif info.is_required():
                raise KeyError(f"{variable}: no local resource or value for this environment variable")
        return env


def _clients(session_or_clients: Any, endpoint_url: str | None, region: str | None) -> ClientFactory:
    if isinstance(session_or_clients, Mapping):
        return lambda service: session_or_clients[service]
    if callable(session_or_clients) and not hasattr(session_or_clients, "client"):
        return session_or_clients
    session = session_or_clients
    kwargs: dict[str, Any] = {}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if region:
        kwargs["region_name"] = region
    cache: dict[str, Any] = {}

    def factory(service: str) -> Any:
        if service not in cache:
            cache[service] = session.client(service, **kwargs)
        return cache[service]

    return factory


def create_local_resources(
    session_or_clients: Any,
    naming: Naming | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> LocalResources:
    """`session_or_clients`: a boto3 Session (with `endpoint_url`, or AWS_ENDPOINT_URL in the environment), a
    mapping service name -> client, or a callable service name -> client."""
    naming = naming or Naming()
    client = _clients(session_or_clients, endpoint_url, region)
    res = LocalResources()
    ddb = client("dynamodb")
    for spec in TABLES.values():
        res.tables[spec.key] = _table(ddb, naming.table(spec.key), spec)
    sqs = client("sqs")
    for spec in QUEUES.values():
        dlq_url, dlq_arn, url, arn = create_queue_pair(
            sqs,
            naming.queue(spec.key),
            naming.dlq(spec.key),
            visibility_timeout_s=visibility_timeout_s(spec),
            max_receive_count=spec.max_receive_count,
        )
        res.queue_urls[spec.key], res.queue_arns[spec.key] = url, arn
        res.dlq_urls[spec.key], res.dlq_arns[spec.key] = dlq_url, dlq_arn
    s3, firehose = client("s3"), client("firehose")
    for spec in STREAMS.values():
        bucket = naming.extra.get(f"bucket:{spec.key}") or f"{naming.prefix}-{spec.key}".lower()
        _bucket(s3, bucket)
        res.buckets[spec.key] = bucket
        res.streams[spec.key] = _stream(firehose, naming.stream(spec.key), bucket, spec)
    secrets = client("secretsmanager")
    for spec in SECRETS.values():
        res.secrets[spec.key] = _secret(secrets, naming.secret(spec.key), spec.description)
    res.kms_key_id = _kms_key(client("kms"), f"alias/{naming.prefix}-keys")
    if "analytics" in res.queue_arns and "events" in res.buckets:
        announce_event_objects(s3, res.buckets["events"], res.queue_arns["analytics"], STREAMS["events"])
    return res


def announce_event_objects(s3: Any, bucket: str, queue_arn: str, spec: Stream) -> None:
    """Analytics (issue 5): each object Firehose writes under the events prefix is announced on the analytics
    queue, as infra/analytics.py configures the bucket in AWS."""
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "analytics-ingest",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": static_prefix(spec.prefix)}]}},
                }
            ]
        },
    )


def _table(ddb: Any, name: str, spec: Table) -> str:
    key_names = [spec.partition_key] + ([spec.sort_key] if spec.sort_key else [])
    for index in spec.indexes:
        key_names += [index.partition_key] + ([index.sort_key] if index.sort_key else [])
    # Every key attribute in the catalog is a string (as infra/storage.py declares them).
    definitions = [{"AttributeName": n, "AttributeType": "S"} for n in dict.fromkeys(key_names)]
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": _key_schema(spec.partition_key, spec.sort_key),
        "AttributeDefinitions": definitions,
        "BillingMode": "PAY_PER_REQUEST",
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.partition_key, index.sort_key),
                "Projection": {"ProjectionType": index.projection},
            }
            for index in spec.indexes
        ]
    try:
        ddb.create_table(**request)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    if spec.ttl_attribute:
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
            )
    return name


def _key_schema(partition_key: str, sort_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    if sort_key:
        schema.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    return schema


def create_queue_pair(
    sqs: Any, name: str, dlq_name: str, *, visibility_timeout_s: int, max_receive_count: int
) -> tuple[str, str, str, str]:
    """A queue and its DLQ (redrive after `max_receive_count` receives). Returns dlq url, dlq arn, url, arn."""
    dlq_url = sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_S)})
    dlq_arn = _queue_arn(sqs, dlq_url)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout_s),
            "MessageRetentionPeriod": str(QUEUE_RETENTION_S),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}),
        },
    )
    return dlq_url, dlq_arn, url, _queue_arn(sqs, url)


def _queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _bucket(s3: Any, name: str) -> None:
    region = s3.meta.region_name
    kwargs: dict[str, Any] = {"Bucket": name}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def static_prefix(template: str) -> str:
    """ "events/app={app}/year={year}/" -> "events/": the part of a catalog prefix before its first placeholder,
    cut back to a whole path segment."""
    head = template.split("{", 1)[0]
    return head[: head.rfind("/") + 1] if "{" in template else head


def _stream(firehose: Any, name: str, bucket: str, spec: Stream) -> str:
    try:
        firehose.create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/{name}-delivery",
                "BucketARN": f"arn:aws:s3:::{bucket}",
                "Prefix": static_prefix(spec.prefix),
                "ErrorOutputPrefix": spec.error_prefix,
                "BufferingHints": {"IntervalInSeconds": spec.buffer_seconds, "SizeInMBs": spec.buffer_mib},
                "CompressionFormat": "UNCOMPRESSED",
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    return name


def _secret(secrets: Any, name: str, description: str) -> str:
    try:
        secrets.create_secret(Name=name, Description=description, SecretString="{}")
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceExistsException":
            raise
    return name


def _kms_key(kms: Any, alias: str) -> str:
    for page in kms.get_paginator("list_aliases").paginate():
        for entry in page["Aliases"]:
            if entry["AliasName"] == alias and entry.get("TargetKeyId"):
                return entry["TargetKeyId"]
    key_id = kms.create_key(Description="Kizuna access-key secrets (local)")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return key_id


__all__ = ["LocalResources", "create_local_resources", "create_queue_pair", "static_prefix"]
