"""Recurring EventBridge Scheduler schedules from catalog.SCHEDULES (e.g. the reconciler every 5 minutes)."""

from __future__ import annotations

import json

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from infra.dead_letters import dead_letter_queue
from infra.nag import acknowledge
from kizuna.catalog_types import Schedule


class Reconciliation(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, spec: Schedule, function: lambda_.IFunction, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        stack = Stack.of(self)
        # Invocations the scheduler could not deliver after its retries land here (and raise the DLQ alarm).
        self.dead_letter_queue = dead_letter_queue(self, key, "the reconciliation schedule")
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
        )
        role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function_arn]))
        self.dead_letter_queue.grant_send_messages(role)
        acknowledge(
            role,
            {
                f"AwsSolutions-IAM5[Action::{action}]": "CDK's grant to send to the KMS-encrypted dead-letter queue; "
                "limited to Kizuna's one customer key."
                for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*")
            },
        )
        self.schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            description=f"kizuna {spec.key}: {spec.function} every {spec.rate_minutes} minutes",
            schedule_expression=f"rate({spec.rate_minutes} minutes)",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn,
                role_arn=role.role_arn,
                input=json.dumps({"schedule": spec.key}),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=spec.rate_minutes * 60, maximum_retry_attempts=2
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn),
            ),
        )
