"""Analytics (issue 5): new event objects announced to analytics_ingest, the dashboard route, and a Glue table with
named Athena queries over the event stream in S3.

- The events bucket notifies the analytics queue of every object under the stream's prefix (CDK's bucket
  notifications custom resource: S3 cannot be pointed at a queue whose policy names the bucket in one template).
- `/dashboard/{proxy+}` on the management API reaches analytics_web (its other route, the tracked links'
  `/l/{proxy+}`, is a REST API of its own: infra/links_api.py).
- Glue database + table `events` (JSON lines, Pinpoint's event-stream field names) with partition projection on
  app/year/month/day, so Athena needs no crawler and no partition maintenance; an Athena workgroup whose results are
  KMS-encrypted under `athena-results/`; named queries for the delivery funnel, opt-outs and replies.
"""

from __future__ import annotations

import re

import jsii
from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_apigateway import RestApi
from constructs import Construct

from infra.event_stream import EventStream
from infra.nag import acknowledge
from infra.rest_api import proxy_to
from kizuna.catalog import STREAMS

GLUE_DATABASE = "kizuna_analytics"
ATHENA_RESULTS_PREFIX = "athena-results/"

# Pinpoint's event-stream JSON as Athena reads it (fields Kizuna writes; `endpoint` varies per app and is left out).
_COLUMNS = {
    "event_id": "string",
    "event_type": "string",
    "event_timestamp": "bigint",
    "arrival_timestamp": "bigint",
    "event_version": "string",
    "application": "struct<app_id:string,package_name:string,title:string,version_code:string,"
    "sdk:struct<name:string,version:string>>",
    "client": "struct<client_id:string>",
    "device": "struct<locale:struct<code:string>,make:string,model:string,platform:struct<name:string,version:string>>",
    "session": "struct<session_id:string,start_timestamp:bigint,stop_timestamp:bigint>",
    "attributes": "map<string,string>",
    "metrics": "map<string,double>",
}

# Parameters (?) are the app id, then the first and last UTC day as 'YYYY-MM-DD'. Rows are deduplicated by event id,
# as the KPIs are (the stream is at least once).
_DISTINCT = (
    "WITH e AS (SELECT DISTINCT event_id, event_type, event_timestamp, client.client_id AS endpoint_id, attributes "
    "FROM events WHERE app = ? AND concat(year, '-', month, '-', day) BETWEEN ? AND ?) "
)
NAMED_QUERIES = {
    "delivery-funnel": (
        "Messages sent, delivered, failed and clicked per UTC day (parameters: app id, first day, last day).",
        _DISTINCT + "SELECT date(from_unixtime(event_timestamp / 1000)) AS day, "
        "count_if(regexp_like(event_type, '\\.BUFFERED$') AND attributes['record_status'] = 'PENDING') "
        "+ count_if(regexp_like(event_type, '\\.FAILURE$') AND attributes['provider_message_id'] IS NULL) AS sent, "
        "count_if(regexp_like(event_type, '\\.SUCCESS$')) AS delivered, "
        "count_if(regexp_like(event_type, '\\.FAILURE$')) AS failed, "
        "count_if(regexp_like(event_type, '\\.CLICK$')) AS clicked "
        "FROM e GROUP BY 1 ORDER BY 1",
    ),
    "opt-outs": (
        "Endpoints that opted out, per UTC day and channel (parameters: app id, first day, last day).",
        _DISTINCT + "SELECT date(from_unixtime(event_timestamp / 1000)) AS day, split_part(event_type, '.', 1) AS "
        "channel, count(DISTINCT endpoint_id) AS endpoints FROM e WHERE regexp_like(event_type, '\\.OPTOUT$') "
        "GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    "replies": (
        "Inbound replies per UTC day and channel, with the endpoints that replied (parameters: app id, days).",
        _DISTINCT + "SELECT date(from_unixtime(event_timestamp / 1000)) AS day, split_part(event_type, '.', 1) AS "
        "channel, count(*) AS replies, count(DISTINCT endpoint_id) AS endpoints FROM e "
        "WHERE regexp_like(event_type, '\\.RECEIVED$') GROUP BY 1, 2 ORDER BY 1, 2",
    ),
}


class Analytics(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        events: EventStream,
        queue: sqs.IQueue,
        key: kms.IKey,
        web_function: lambda_.IFunction,
        management_api: RestApi,
    ) -> None:
        super().__init__(scope, construct_id)
        spec = STREAMS["events"]
        # "events/app={app}/year=..." → "events/": the part before the first placeholder, cut to a whole segment.
        head = spec.prefix.split("{", 1)[0]
        static_prefix = head[: head.rfind("/") + 1]
        events.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED, _EncryptedQueue(queue, key), s3.NotificationKeyFilter(prefix=static_prefix)
        )
        self._acknowledge_notifications_handler()

        proxy_to(management_api.root.add_resource("dashboard"), web_function)

        stack = Stack.of(self)
        database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=GLUE_DATABASE, description="Kizuna's event stream (Pinpoint event-stream JSON)"
            ),
        )
        bucket_url = f"s3://{events.bucket.bucket_name}/"
        location = bucket_url + static_prefix
        table = glue.CfnTable(
            self,
            "EventsTable",
            catalog_id=stack.account,
            database_name=GLUE_DATABASE,
            table_input=glue.CfnTable.TableInputProperty(
                name="events",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "json",
                    "projection.enabled": "true",
                    "projection.app.type": "injected",
                    "projection.year.type": "integer",
                    "projection.year.range": "2024,2124",
                    "projection.month.type": "integer",
                    "projection.month.range": "1,12",
                    "projection.month.digits": "2",
                    "projection.day.type": "integer",
                    "projection.day.range": "1,31",
                    "projection.day.digits": "2",
                    # the Firehose prefix itself, its placeholders in Athena's projection syntax
                    "storage.location.template": bucket_url + re.sub(r"\{(\w+)\}", r"${\1}", spec.prefix),
                },
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=n, type="string") for n in ("app", "year", "month", "day")
                ],  # noqa: E501
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.openx.data.jsonserde.JsonSerDe",
                        parameters={"ignore.malformed.json": "true"},
                    ),
                    columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in _COLUMNS.items()],
                ),
            ),
        )
        table.add_dependency(database)

        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=f"{stack.stack_name}-analytics",
            description="Kizuna analytics: queries over the event stream",
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{events.bucket.bucket_name}/{ATHENA_RESULTS_PREFIX}",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
        for name, (description, query) in NAMED_QUERIES.items():
            athena.CfnNamedQuery(
                self,
                "".join(p.capitalize() for p in name.split("-")),
                name=f"kizuna-{name}",
                description=description,
                database=GLUE_DATABASE,
                query_string=query,
                work_group=self.workgroup.ref,
            )

        CfnOutput(stack, "EventsBucket", value=events.bucket.bucket_name,
                  description="Event stream bucket (kizuna analytics export --events --bucket <name>)")  # fmt: skip
        CfnOutput(stack, "AthenaWorkGroup", value=self.workgroup.ref,
                  description=f"Athena workgroup with the named queries over {GLUE_DATABASE}.events")  # fmt: skip

    def _acknowledge_notifications_handler(self) -> None:
        stack = Stack.of(self)
        handler = stack.node.try_find_child("BucketNotificationsHandler050a0587b7544547bf325f094a3db834")
        if handler is None:
            return
        # As infra/functions.py does for Kizuna's functions: the Role GetAtt already orders the role (cfn-lint W3005).
        policy = handler.node.find_child("Role").node.try_find_child("DefaultPolicy")
        resource = handler.node.find_child("Resource")
        if policy is not None:
            resource.add_override("DependsOn", [stack.get_logical_id(policy.node.default_child)])
        else:
            resource.add_deletion_override("DependsOn")
        acknowledge(
            handler,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]": "CDK's bucket-notifications custom resource (runs only at deploy "
                "time) logs with the standard Lambda execution policy.",
                "AwsSolutions-IAM5[Resource::*]": "CDK's bucket-notifications custom resource calls "
                "s3:PutBucketNotification, which it scopes with no resource of its own.",
            },
        )


@jsii.implements(s3.IBucketNotificationDestination)
class _EncryptedQueue:
    """s3_notifications.SqsDestination puts a condition naming the bucket into the key policy, and the bucket is
    encrypted with that key: a cycle. Here the key lets S3 use it for this account's requests only, and the queue
    policy (which may name the bucket) admits only this bucket's notifications."""

    def __init__(self, queue: sqs.IQueue, key: kms.IKey) -> None:
        self._queue = queue
        self._key = key

    def bind(self, scope: Construct, bucket: s3.IBucket) -> s3.BucketNotificationDestinationConfig:
        s3_service = iam.ServicePrincipal("s3.amazonaws.com")
        result = self._queue.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[s3_service],
                actions=["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                resources=[self._queue.queue_arn],
                conditions={"ArnLike": {"aws:SourceArn": bucket.bucket_arn}},
            )
        )
        self._key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[s3_service],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(scope).account}},
            )
        )
        return s3.BucketNotificationDestinationConfig(
            arn=self._queue.queue_arn,
            type=s3.BucketNotificationDestinationType.QUEUE,
            dependencies=[result.policy_dependable] if result.policy_dependable else None,
        )


def grant_assume_app_roles(function: lambda_.Function) -> None:
    """analytics_ingest writes each app's events as the RoleArn of its PutEventStream (Pinpoint's contract)."""
    function.add_to_role_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=["*"]))
    acknowledge(
        function.role,
        {
            "AwsSolutions-IAM5[Resource::*]": "The event stream forwards each app's events as the RoleArn its "
            "PutEventStream names (Pinpoint's contract); those roles are the customer's and their trust policies "
            "decide. X-Ray's PutTraceSegments has no resource-level permissions either."
        },
    )
