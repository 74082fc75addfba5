"""KizunaStack composes the capability constructs and wires what each function reads."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.analytics import Analytics, grant_assume_app_roles
from infra.campaign_schedules import CampaignSchedules
from infra.consultations import ConsultationAlarms
from infra.email import Email
from infra.event_stream import EventStream
from infra.functions import FunctionFactory
from infra.journeys import JourneyEngine
from infra.links_api import LinksApi
from infra.management_api import ManagementApi
from infra.nag import acknowledge, arn_of
from infra.observability import Observability
from infra.queues import QueueConsumer, WorkQueue
from infra.reconciliation import Reconciliation
from infra.secrets import Secrets
from infra.storage import Storage
from infra.webhooks_api import WebhooksApi
from kizuna.catalog import JOURNEY_STATE_MACHINE_ENV_VAR, KEYS_KMS_ENV_VAR, QUEUES, SCHEDULES, SECRETS, STREAMS, TABLES
from kizuna.catalog_analytics import EVENTS_BUCKET_ENV_VAR


class KizunaStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, keep_retired_indexes: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)

        storage = Storage(self, "Storage", keep_retired_indexes=keep_retired_indexes)
        secrets = Secrets(self, "Secrets", key=storage.key)
        events = EventStream(self, "EventStream", spec=STREAMS["events"], key=storage.key)
        queues = {
            key: WorkQueue(self, f"{key.capitalize()}Queue", spec=spec, key=storage.key) for key, spec in QUEUES.items()
        }

        factory = FunctionFactory(self, "Functions")
        for key, table in storage.tables.items():
            factory.bind_table(TABLES[key].env_var, table, has_indexes=bool(TABLES[key].indexes))
        factory.bind_key(KEYS_KMS_ENV_VAR, storage.key)
        for key, queue in queues.items():
            factory.bind_queue(QUEUES[key].env_var, queue.queue)
            if QUEUES[key].dlq_env_var:  # consumers that dead-letter with a reason themselves
                factory.bind_queue(QUEUES[key].dlq_env_var, queue.dead_letter_queue)
        factory.bind(STREAMS["events"].env_var, events.stream_name, events.grant_put_records)
        # Campaign runs (issue 6): one-time schedules that put run messages on the jobs queue.
        CampaignSchedules(
            self, "CampaignSchedules", jobs_queue=queues["jobs"].queue, jobs_dlq=queues["jobs"].dead_letter_queue,
            key=storage.key,
        ).bind(factory)  # fmt: skip
        # Journeys (issue 7): the engine's function and the state machine that loops it; the API starts runs.
        engine = JourneyEngine(self, "JourneyEngine", function=factory.build(self, "journeys"))
        factory.bind(
            JOURNEY_STATE_MACHINE_ENV_VAR,
            engine.state_machine.state_machine_arn,
            engine.state_machine.grant_start_execution,
        )
        for key, secret in secrets.secrets.items():
            factory.bind_secret(SECRETS[key].env_var, secret)
        # Analytics (issue 5): analytics_ingest reads the objects Firehose writes.
        factory.bind(
            EVENTS_BUCKET_ENV_VAR,
            events.bucket.bucket_name,
            events.bucket.grant_read,
            {
                "AwsSolutions-IAM5[Action::s3:GetObject*]": "Reading the event objects S3 announces; the grant is "
                "CDK's read grant on the events bucket only.",
                "AwsSolutions-IAM5[Action::s3:GetBucket*]": "CDK's read grant on the events bucket only.",
                "AwsSolutions-IAM5[Action::s3:List*]": "CDK's read grant on the events bucket only.",
                f"AwsSolutions-IAM5[Resource::{arn_of(events.bucket)}/*]": "Event objects are written under keys "
                "chosen per record (app and date); this one bucket only.",
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "The bucket's objects are encrypted with Kizuna's "
                "one customer key; that key only.",
                "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "CDK's decrypt grant on Kizuna's customer key only.",
            },
        )

        email = Email(self, "Email", key=storage.key)
        factory.bind(
            "EMAIL_CONFIGURATION_SET",
            email.configuration_set.configuration_set_name,
            email.grant_send,
            {
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]": (
                    "Apps send from identities the operator verifies in SES after deployment (the EMAIL channel "
                    "names one); SendEmail on any of this account's identities, only with Kizuna's configuration set."
                )
            },
        )
        webhooks = WebhooksApi(
            self,
            "Webhooks",
            twilio_function=factory.build(self, "twilio_webhook"),
            voice_function=factory.build(self, "voice_webhook"),
            stripe_function=factory.build(self, "stripe_webhook"),
        )
        factory.bind("WEBHOOK_BASE_URL", webhooks.url)
        # Tracked links stay on the REST API that served them when the webhooks were a REST API: this construct id is
        # the one that API had, so CloudFormation keeps it and its URL, and links already sent keep working
        # (infra/links_api.py). The api and jobs functions write links under it.
        web_function = factory.build(self, "analytics_web")
        links = LinksApi(self, "WebhooksApi", function=web_function)
        factory.bind("LINKS_BASE_URL", links.url)
        consumers = {
            key: QueueConsumer(self, f"{key.capitalize()}Consumer", queue=queue, factory=factory)
            for key, queue in queues.items()
        }
        # Import and export jobs act in the caller's buckets through the RoleArn of the job (as Pinpoint did).
        jobs_function = consumers["jobs"].function
        jobs_function.add_to_role_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=["*"]))
        acknowledge(
            jobs_function.role,
            {
                "AwsSolutions-IAM5[Resource::*]": "Import/export jobs assume the RoleArn each job names (Pinpoint's "
                "contract); the roles are the customer's and unknown at deploy time. Their trust policies decide."
            },
        )
        # Erasure (docs/security.md): the jobs function's erasure pieces and analytics_ingest rewrite event objects.
        events.grant_scrub(jobs_function)
        events.grant_scrub(consumers["analytics"].function)
        email.route_events_to(factory.build(self, "email_events"))
        management = ManagementApi(self, "ManagementApi", function=factory.build(self, "api"))
        # Analytics (issue 5): object notifications, the dashboard route, Glue table and Athena queries.
        grant_assume_app_roles(consumers["analytics"].function)
        Analytics(
            self,
            "Analytics",
            events=events,
            queue=queues["analytics"].queue,
            key=storage.key,
            web_function=web_function,
            management_api=management.api,
        )
        # The links stage logs through the account-level role the management API sets up.
        links.api.deployment_stage.node.add_dependency(management.cloudwatch_account)
        reconciliations = [
            Reconciliation(
                self,
                "".join(part.capitalize() for part in spec.key.split("_")),
                spec=spec,
                function=factory.build(self, spec.function),
                key=storage.key,
            )
            for spec in SCHEDULES.values()
        ]
        observability = Observability(
            self,
            "Observability",
            key=storage.key,
            dead_letter_queues={
                **{key: queue.dead_letter_queue for key, queue in queues.items()},
                **{r.spec.key: r.dead_letter_queue for r in reconciliations},
                "email_events": email.dead_letter_queue,
            },
            functions=factory.functions,
            state_machines={"journeys": engine.state_machine},
        )

        ConsultationAlarms(self, "ConsultationAlarms", topic=observability.topic)

        CfnOutput(self, "ManagementApiUrl", value=management.url, description="Pinpoint client endpoint_url")
        CfnOutput(
            self,
            "WebhooksApiUrl",
            value=webhooks.url,
            description="Base URL of the Twilio and Stripe webhooks (an HTTP API, no stage in the path): "
            "<WebhooksApiUrl>/webhooks/twilio/inbound?app=<app id>, .../webhooks/stripe/events",
        )
        CfnOutput(
            self,
            "LinksBaseUrl",
            value=links.url,
            description="Base of tracked links in messages, <LinksBaseUrl>/l/<code> (a REST API whose URL never "
            "changes: links redirect for 180 days)",
        )
        CfnOutput(
            self,
            "TwilioSecretName",
            value=secrets.names["twilio"],
            description="Put the Twilio credentials JSON here: aws secretsmanager put-secret-value --secret-id "
            "<name> --secret-string file://twilio.json (account_sid, auth_token, from_number or "
            "messaging_service_sid)",
        )
        CfnOutput(
            self,
            "FirstAdminKey",
            value=f"kizuna keys create --admin --table {storage.tables['access_keys'].table_name} "
            f"--kms-key {storage.key.key_id} --region {self.region}",
            description="Run this once with AWS credentials to create the first admin access key (SigV4 key pair)",
        )
        CfnOutput(
            self,
            "StripeSecretName",
            value=secrets.names["stripe"],
            description="Put the Stripe credentials JSON here (api_key, webhook_secret); point a Stripe webhook "
            "endpoint at <WebhooksApiUrl>/webhooks/stripe/events",
        )
        CfnOutput(
            self,
            "WebhookSigningSecretName",
            value=secrets.names["webhook_signing"],
            description="The key CUSTOM deliveries are signed with (Kizuna-Signature): give it to the receivers",
        )
        CfnOutput(self, "AlarmTopicArn", value=observability.topic.topic_arn, description="Subscribe to alarms")
        CfnOutput(
            self,
            "EmailConfigurationSet",
            value=email.configuration_set.configuration_set_name,
            description="SES configuration set Kizuna's e-mails use (its events settle delivery records)",
        )
