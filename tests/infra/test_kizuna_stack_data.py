"""Where the synthesized Kizuna stack keeps data: its queues, tables and event stream have the properties the catalog
promises (visibility, redrive, batching, encryption, keys and indexes, expiry, Firehose partitioning)."""

from __future__ import annotations

import re

import pytest
from aws_cdk.assertions import Match, Template

from infra.event_stream import firehose_prefix
from kizuna.catalog import FUNCTIONS, QUEUES, STREAMS, TABLES, visibility_timeout_s

pytestmark = pytest.mark.infra


def _queues_with_redrive(synthesized, key: str) -> list[dict]:
    """The catalog queue `key` (WorkQueue "<Key>Queue" in the stack) that has a redrive policy."""
    prefix = f"{key.capitalize()}Queue"
    return [
        q["Properties"]
        for logical_id, q in synthesized.of_type("AWS::SQS::Queue").items()
        if "RedrivePolicy" in q["Properties"] and logical_id.startswith(prefix)
    ]


# --- queues --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", QUEUES.values(), ids=list(QUEUES))
def test_queue_visibility_covers_six_consumer_timeouts_and_redrives_after_catalog_count(synthesized, spec):
    matching = [
        q
        for q in _queues_with_redrive(synthesized, spec.key)
        if q["VisibilityTimeout"] == visibility_timeout_s(spec)
        and q["RedrivePolicy"]["maxReceiveCount"] == spec.max_receive_count
    ]
    assert len(matching) == 1
    assert matching[0]["VisibilityTimeout"] >= 6 * FUNCTIONS[spec.consumer].timeout_s
    assert "KmsMasterKeyId" in matching[0]


@pytest.mark.parametrize("spec", QUEUES.values(), ids=list(QUEUES))
def test_consumer_event_source_uses_catalog_batching_concurrency_and_partial_failures(synthesized, spec):
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": spec.batch_size,
            "ScalingConfig": {"MaximumConcurrency": spec.max_concurrency},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def test_queues_deny_insecure_transport(synthesized):
    for policy in synthesized.of_type("AWS::SQS::QueuePolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


# --- storage -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", TABLES.values(), ids=list(TABLES))
def test_table_is_kms_encrypted_recoverable_and_keyed_as_in_catalog(synthesized, spec):
    key_schema = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
    if spec.sort_key:
        key_schema.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
    props = {
        "KeySchema": key_schema,
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    }
    if spec.indexes:
        props["GlobalSecondaryIndexes"] = Match.array_with(
            [
                Match.object_like(
                    {
                        "IndexName": index.name,
                        "KeySchema": _key_schema(index.partition_key, index.sort_key),
                        "Projection": {"ProjectionType": index.projection},
                    }
                )
                for index in spec.indexes
            ]
        )
    if spec.ttl_attribute:
        props["TimeToLiveSpecification"] = {"AttributeName": spec.ttl_attribute, "Enabled": True}
    synthesized.template.has_resource_properties("AWS::DynamoDB::Table", props)
    if spec.retain:
        synthesized.template.has_resource(
            "AWS::DynamoDB::Table",
            {"Properties": Match.object_like({"KeySchema": key_schema}), "DeletionPolicy": "Retain"},
        )


def test_messages_table_expires_delivery_records(synthesized):
    messages = TABLES["messages"]
    synthesized.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": messages.partition_key, "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": messages.ttl_attribute, "Enabled": True},
        },
    )


def _key_schema(partition_key: str, sort_key: str | None) -> list[dict[str, str]]:
    return [{"AttributeName": partition_key, "KeyType": "HASH"}] + (
        [{"AttributeName": sort_key, "KeyType": "RANGE"}] if sort_key else []
    )


def _index_names(table: dict) -> list[str]:
    return [g["IndexName"] for g in table["Properties"].get("GlobalSecondaryIndexes", [])]


def test_retired_indexes_are_kept_only_for_an_upgrades_first_deploy(synthesized):
    # A stack deployed plainly has each table's current indexes and none of the ones they replace
    messages = TABLES["messages"]
    assert messages.retired_indexes  # the `open` index open_since replaces
    (table,) = [t for k, t in synthesized.of_type("AWS::DynamoDB::Table").items() if k.startswith("StorageMessages")]
    assert _index_names(table) == [i.name for i in messages.indexes]
    # With kizuna:keepRetiredIndexes the first deploy adds the new index beside the retired one, unchanged: one GSI
    # created, none deleted (CloudFormation refuses more than one GSI creation or deletion per update)
    import aws_cdk as cdk

    from infra.storage import Storage

    stack = cdk.Stack(cdk.App(), "Upgrade")
    Storage(stack, "Storage", keep_retired_indexes=True)
    (kept,) = [t for k, t in Template.from_stack(stack).find_resources("AWS::DynamoDB::Table").items()
               if k.startswith("StorageMessages")]  # fmt: skip
    assert sorted(_index_names(kept)) == sorted(i.name for i in (*messages.retired_indexes, *messages.indexes))
    (retired,) = [g for g in kept["Properties"]["GlobalSecondaryIndexes"] if g["IndexName"] == "open"]
    assert retired["KeySchema"] == _key_schema("open_shard", "updated_at")
    assert retired["Projection"] == {"ProjectionType": "ALL"}


def test_the_upgrade_flag_is_a_known_setting():
    from infra.config import DeployConfig

    assert DeployConfig.from_context({"kizuna:keepRetiredIndexes": "true"}).keep_retired_indexes is True
    assert DeployConfig.from_context({}).keep_retired_indexes is False


def test_customer_key_rotates(synthesized):
    synthesized.template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


# --- event stream --------------------------------------------------------------------------------------------------


def test_firehose_partitions_by_app_and_date(synthesized):
    stream = STREAMS["events"]
    synthesized.template.has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "DeliveryStreamEncryptionConfigurationInput": Match.object_like({"KeyType": "CUSTOMER_MANAGED_CMK"}),
            "ExtendedS3DestinationConfiguration": Match.object_like(
                {
                    "Prefix": "events/app=!{partitionKeyFromQuery:app}/year=!{timestamp:yyyy}"
                    "/month=!{timestamp:MM}/day=!{timestamp:dd}/",
                    "ErrorOutputPrefix": Match.string_like_regexp(f"^{re.escape(stream.error_prefix)}"),
                    "DynamicPartitioningConfiguration": Match.object_like({"Enabled": True}),
                    "ProcessingConfiguration": {
                        "Enabled": True,
                        "Processors": Match.array_with(
                            [
                                {
                                    "Type": "MetadataExtraction",
                                    "Parameters": Match.array_with(
                                        [
                                            {
                                                "ParameterName": "MetadataExtractionQuery",
                                                "ParameterValue": "{app:.application.app_id}",
                                            }
                                        ]
                                    ),
                                }
                            ]
                        ),
                    },
                }
            ),
        },
    )

    # The sink packs events into records: they must be split again before they are partitioned and delimited.
    (stream_resource,) = synthesized.template.find_resources("AWS::KinesisFirehose::DeliveryStream").values()
    processors = stream_resource["Properties"]["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"]
    assert [p["Type"] for p in processors["Processors"]] == [
        "RecordDeAggregation",
        "MetadataExtraction",
        "AppendDelimiterToRecord",
    ]
    assert processors["Processors"][0]["Parameters"] == [{"ParameterName": "SubRecordType", "ParameterValue": "JSON"}]


def test_firehose_prefix_translation_matches_catalog():
    assert firehose_prefix(STREAMS["events"].prefix).count("!{") == 4
    with pytest.raises(ValueError):
        firehose_prefix("events/{tenant}/")


def test_event_bucket_expires_raw_events(synthesized):
    synthesized.template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [Match.object_like({"ExpirationInDays": STREAMS["events"].expire_days, "Status": "Enabled"})]
                )
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like({"ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})})
                ]
            },
            "LoggingConfiguration": Match.object_like({"DestinationBucketName": Match.any_value()}),
        },
    )
