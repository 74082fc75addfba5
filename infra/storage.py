"""The customer-managed KMS key and the DynamoDB tables described in catalog.TABLES."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from kizuna.catalog import TABLES
from kizuna.catalog_types import Table


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, keep_retired_indexes: bool = False) -> None:
        super().__init__(scope, construct_id)
        self._keep_retired_indexes = keep_retired_indexes
        # One key for Kizuna's data at rest (tables, queues, event bucket, secrets, alarm topic) and for the
        # access-key secrets the API encrypts itself. Retained: the retained tables stay readable after a stack delete.
        self.key = kms.Key(
            self,
            "Key",
            description="Kizuna data at rest and access-key secrets",
            enable_key_rotation=True,
            pending_window=Duration.days(30),
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.tables: dict[str, dynamodb.Table] = {key: self._table(spec) for key, spec in TABLES.items()}

    def _table(self, spec: Table) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            _camel(spec.key),
            partition_key=_string(spec.partition_key),
            sort_key=_string(spec.sort_key) if spec.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=spec.ttl_attribute,
            deletion_protection=spec.retain,
            removal_policy=RemovalPolicy.RETAIN if spec.retain else RemovalPolicy.DESTROY,
        )
        # The indexes being replaced stay for an upgrade's first deploy only (catalog.Table.retired_indexes).
        retired = spec.retired_indexes if self._keep_retired_indexes else ()
        for index in (*retired, *spec.indexes):
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_string(index.partition_key),
                sort_key=_string(index.sort_key) if index.sort_key else None,
                projection_type=dynamodb.ProjectionType[index.projection],
            )
        return table


def _string(name: str) -> dynamodb.Attribute:
    # Every key attribute in the catalog is a string (ids, "APP#..." keys, states, ISO-8601 timestamps).
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def _camel(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))
