"""Alarms: any message in a dead-letter queue, any function error, any state machine execution that failed, timed out
or was aborted. They notify one encrypted SNS topic."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        dead_letter_queues: dict[str, sqs.IQueue],
        functions: dict[str, lambda_.IFunction],
        state_machines: dict[str, sfn.IStateMachine] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Alarms", display_name="Kizuna alarms", master_key=key, enforce_ssl=True)
        # CloudWatch publishes to the encrypted topic with the key.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        notify = actions.SnsAction(self.topic)
        for name, queue in dead_letter_queues.items():
            alarm = cloudwatch.Alarm(
                self,
                f"{_camel(name)}DeadLetters",
                alarm_description=f"Messages in the {name} dead-letter queue: each is a failure to investigate.",
                metric=queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
                ),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(notify)
        for name, function in functions.items():
            alarm = cloudwatch.Alarm(
                self,
                f"{_camel(name)}Errors",
                alarm_description=f"The {name} function failed (unhandled error or timeout).",
                metric=function.metric_errors(period=Duration.minutes(5), statistic=cloudwatch.Stats.SUM),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(notify)
        for name, machine in (state_machines or {}).items():
            # One alarm for the three ways an execution ends badly; FILL because a sum with a missing series is
            # missing, and most periods have no failed, timed-out or aborted execution at all.
            period = Duration.minutes(5)
            ended_badly = cloudwatch.MathExpression(
                expression="FILL(failed, 0) + FILL(timed_out, 0) + FILL(aborted, 0)",
                using_metrics={
                    "failed": machine.metric_failed(period=period, statistic=cloudwatch.Stats.SUM),
                    "timed_out": machine.metric_timed_out(period=period, statistic=cloudwatch.Stats.SUM),
                    "aborted": machine.metric_aborted(period=period, statistic=cloudwatch.Stats.SUM),
                },
                period=period,
                label=f"{name} executions failed, timed out or aborted",
            )
            alarm = cloudwatch.Alarm(
                self,
                f"{_camel(name)}ExecutionsFailed",
                alarm_description=f"A {name} state machine execution failed, timed out or was aborted: its run "
                "stopped waking up (see the execution's history and the state machine's log group).",
                metric=ended_badly,
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(notify)


def _camel(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))
