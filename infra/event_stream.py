"""The engagement event stream: Kinesis Data Firehose → S3, partitioned by app and date (catalog.STREAMS)."""

from __future__ import annotations

import re

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import acknowledge, arn_of
from kizuna.catalog_types import Stream

# Catalog placeholders → Firehose expressions. Date parts come from the record's arrival time; every other
# placeholder is a partition key extracted from the record with the JQ query below.
_TIMESTAMP_PARTS = {"year": "yyyy", "month": "MM", "day": "dd", "hour": "HH"}
PARTITION_QUERIES = {"app": ".application.app_id"}  # Pinpoint event-stream field names


def firehose_prefix(template: str) -> str:
    """ "events/app={app}/year={year}/" → "events/app=!{partitionKeyFromQuery:app}/year=!{timestamp:yyyy}/"."""

    def expression(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _TIMESTAMP_PARTS:
            return f"!{{timestamp:{_TIMESTAMP_PARTS[name]}}}"
        if name in PARTITION_QUERIES:
            return f"!{{partitionKeyFromQuery:{name}}}"
        raise ValueError(f"no Firehose expression for placeholder {{{name}}} in {template!r}")

    return re.sub(r"\{(\w+)\}", expression, template)


def partition_keys(template: str) -> dict[str, str]:
    names = re.findall(r"\{(\w+)\}", template)
    return {name: PARTITION_QUERIES[name] for name in names if name not in _TIMESTAMP_PARTS}


class EventStream(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, spec: Stream, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self._key = key
        self._spec = spec
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logs can only be delivered to an SSE-S3 bucket.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(spec.expire_days))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.access_logs,
            {"AwsSolutions-S1": "This is the server access log bucket; logging it to itself would loop."},
        )
        # Not versioned: Firehose writes each object once and nothing overwrites it; expiry is the only deletion.
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="events-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-raw-events",
                    expiration=Duration.days(spec.expire_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        log_group = logs.LogGroup(self, "DeliveryLogs", retention=logs.RetentionDays.THREE_MONTHS)
        log_stream = logs.LogStream(self, "S3Delivery", log_group=log_group)
        role = self._delivery_role(key, log_group)

        self.delivery_stream = firehose.CfnDeliveryStream(
            self,
            "DeliveryStream",
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="CUSTOMER_MANAGED_CMK", key_arn=key.key_arn
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=self.bucket.bucket_arn,
                role_arn=role.role_arn,
                prefix=firehose_prefix(spec.prefix),
                error_output_prefix=f"{spec.error_prefix}!{{firehose:error-output-type}}/"
                "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=spec.buffer_seconds, size_in_m_bs=spec.buffer_mib
                ),
                compression_format="UNCOMPRESSED",  # JSON lines Athena reads as is
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=key.key_arn
                    )
                ),
                dynamic_partitioning_configuration=firehose.CfnDeliveryStream.DynamicPartitioningConfigurationProperty(
                    enabled=True,
                    retry_options=firehose.CfnDeliveryStream.RetryOptionsProperty(duration_in_seconds=300),
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        # The sink packs events into records as JSON lines (adapters/firehose_events.py): split
                        # them again first, so each event is partitioned and delimited on its own.
                        _processor("RecordDeAggregation", SubRecordType="JSON"),
                        _processor(
                            "MetadataExtraction",
                            MetadataExtractionQuery=_jq_object(partition_keys(spec.prefix)),
                            JsonParsingEngine="JQ-1.6",
                        ),
                        _processor("AppendDelimiterToRecord", Delimiter="\\n"),
                    ],
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True, log_group_name=log_group.log_group_name, log_stream_name=log_stream.log_stream_name
                ),
            ),
        )
        # Firehose checks its permissions on creation, so the role's policy must exist first.
        self.delivery_stream.node.add_dependency(role.node.find_child("DefaultPolicy"))
        self.stream_name = self.delivery_stream.ref
        self.stream_arn = self.delivery_stream.attr_arn

    def grant_put_records(self, grantee: iam.IGrantable) -> iam.Grant:
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["firehose:PutRecord", "firehose:PutRecordBatch"],
            resource_arns=[self.stream_arn],
        )

    def grant_scrub(self, function: lambda_.Function) -> None:
        """Erasure (kizuna.services.erase_events, .erase_at_ingest) replaces event objects in place, and would delete
        their older versions if the bucket were ever versioned. Reading comes with the EVENTS_BUCKET binding."""
        head = self._spec.prefix.split("{", 1)[0]
        prefix = head[: head.rfind("/") + 1]  # "events/"
        objects = self.bucket.arn_for_objects(prefix + "*")
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:PutObject", "s3:DeleteObjectVersion"], resources=[objects])
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketVersioning", "s3:ListBucketVersions"], resources=[self.bucket.bucket_arn]
            )
        )
        # SSE-KMS with a bucket key: a PutObject asks KMS for a data key.
        function.add_to_role_policy(iam.PolicyStatement(actions=["kms:GenerateDataKey"], resources=[self._key.key_arn]))
        acknowledge(
            function.role,
            {
                f"AwsSolutions-IAM5[Resource::{arn_of(self.bucket)}/{prefix}*]": "Erasure rewrites the event objects "
                "that hold an erased person, under keys Firehose chose per app and day; the stream's prefix only."
            },
        )

    def _delivery_role(self, key: kms.IKey, log_group: logs.ILogGroup) -> iam.Role:
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket",
                         "s3:ListBucketMultipartUploads", "s3:PutObject"],
                resources=[self.bucket.bucket_arn, self.bucket.arn_for_objects("*")],
            )
        )  # fmt: skip
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            )
        )
        role.add_to_policy(iam.PolicyStatement(actions=["logs:PutLogEvents"], resources=[log_group.log_group_arn]))
        acknowledge(
            role,
            {
                f"AwsSolutions-IAM5[Resource::{arn_of(self.bucket)}/*]": "Firehose writes objects under keys "
                "chosen per record (dynamic partitioning by app and date); the grant covers this one bucket only.",
            },
        )
        return role


def _processor(kind: str, **parameters: str) -> firehose.CfnDeliveryStream.ProcessorProperty:
    return firehose.CfnDeliveryStream.ProcessorProperty(
        type=kind,
        parameters=[
            firehose.CfnDeliveryStream.ProcessorParameterProperty(parameter_name=name, parameter_value=value)
            for name, value in parameters.items()
        ],
    )


def _jq_object(queries: dict[str, str]) -> str:
    return "{" + ",".join(f"{name}:{query}" for name, query in queries.items()) + "}"
