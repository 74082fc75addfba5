"""Campaign runs on EventBridge Scheduler: a schedule group for the one-time schedules the API and the jobs
function create (kizuna.adapters.scheduler_runs), and the role the scheduler assumes to put a run message on the
jobs queue (or, when it cannot, on the jobs DLQ). The functions may manage schedules in this group only."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.functions import FunctionFactory
from infra.nag import acknowledge
from kizuna.catalog import (
    CAMPAIGN_SCHEDULE_GROUP_ENV_VAR,
    CAMPAIGN_SCHEDULER_ROLE_ENV_VAR,
    JOBS_DLQ_ARN_ENV_VAR,
    JOBS_QUEUE_ARN_ENV_VAR,
)

KMS_FINDINGS = {
    f"AwsSolutions-IAM5[Action::{action}]": "CDK's grant to send to a KMS-encrypted queue; limited to Kizuna's one "
    "customer key."
    for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*")
}


class CampaignSchedules(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, jobs_queue: sqs.IQueue, jobs_dlq: sqs.IQueue, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=f"{stack.stack_name}-campaigns")
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description="EventBridge Scheduler puts campaign run messages on the jobs queue",
        )
        jobs_queue.grant_send_messages(self.role)
        jobs_dlq.grant_send_messages(self.role)
        acknowledge(self.role, KMS_FINDINGS)
        self._queue_arn = jobs_queue.queue_arn
        self._dlq_arn = jobs_dlq.queue_arn

    def bind(self, factory: FunctionFactory) -> None:
        """The environment and permissions of every function that schedules runs (the API and the jobs function)."""
        schedules_arn = Stack.of(self).format_arn(
            service="scheduler", resource="schedule", resource_name=f"{self.group.name}/*"
        )

        def grant_manage(grantee: iam.IGrantable) -> iam.Grant:
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"],
                resource_arns=[schedules_arn],
            )
            return iam.Grant.add_to_principal(
                grantee=grantee, actions=["iam:PassRole"], resource_arns=[self.role.role_arn]
            )

        factory.bind(
            CAMPAIGN_SCHEDULE_GROUP_ENV_VAR,
            self.group.name or "",
            grant_manage,
            {
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/"
                f"{self.group.name}/*]": "One schedule per campaign, named at run time, in Kizuna's own group only."
            },
        )
        factory.bind(CAMPAIGN_SCHEDULER_ROLE_ENV_VAR, self.role.role_arn)
        factory.bind(JOBS_QUEUE_ARN_ENV_VAR, self._queue_arn)
        factory.bind(JOBS_DLQ_ARN_ENV_VAR, self._dlq_arn)
