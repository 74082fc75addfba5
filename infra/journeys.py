"""The journey engine's state machine: one Standard execution per journey run loops

    Map(16 endpoint shards → journeys function "wake") → journeys function "plan" →
        done      → Succeed
        continue  → StartExecution of itself with the run (loops 0) → Succeed
        otherwise → Wait until plan.next_wake → count the loop → Map ...

so a run costs about 40 state transitions per wake-up whatever its number of participants (participant state is in
the journeys table), and continues as a new execution long before Standard's year and 25,000 history events
(catalog.JOURNEY_LOOPS_PER_EXECUTION, JOURNEY_EXECUTION_MAX_DAYS)."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.nag import acknowledge, arn_of

RUN_FIELDS = ("app_id", "journey_id", "run_id")


class JourneyEngine(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        name = f"{stack.stack_name}-journeys"
        run = {f"{field}.$": f"$.{field}" for field in RUN_FIELDS}
        retry = {"errors": ["States.ALL"], "interval": Duration.seconds(5), "max_attempts": 4, "backoff_rate": 2.0}

        wake = tasks.LambdaInvoke(
            self,
            "WakeShard",
            lambda_function=function,
            payload=sfn.TaskInput.from_object({**run, "action": "wake", "shard.$": "$.shard"}),
            result_selector={"next_wake.$": "$.Payload.next_wake"},
        )
        wake.add_retry(**retry)
        shards = sfn.Map(
            self,
            "Shards",
            items_path="$.shards",
            max_concurrency=16,
            item_selector={**run, "shard.$": "$$.Map.Item.Value"},
            result_path="$.wakes",
        )
        shards.item_processor(wake)
        plan = tasks.LambdaInvoke(
            self,
            "Plan",
            lambda_function=function,
            payload=sfn.TaskInput.from_object(
                {
                    **run,
                    "action": "plan",
                    "wakes.$": "$.wakes[*].next_wake",
                    "loops.$": "$.loops",
                    "started_at.$": "$.started_at",
                }  # fmt: skip
            ),
            result_selector={"plan.$": "$.Payload"},
            result_path="$.result",
        )
        plan.add_retry(**retry)
        own_arn = stack.format_arn(
            service="states", resource="stateMachine", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        continue_as_new = sfn.CustomState(
            self,
            "ContinueAsNew",
            state_json={
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution",
                "Parameters": {
                    "StateMachineArn.$": "$$.StateMachine.Id",
                    "Input": {
                        **run,
                        "shards.$": "$.shards",
                        "loops": 0,
                        "started_at.$": "$$.State.EnteredTime",
                        "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
                    },  # fmt: skip
                },
            },
        )
        sleep = sfn.Wait(self, "UntilNextWake", time=sfn.WaitTime.timestamp_path("$.result.plan.next_wake"))
        count = sfn.Pass(
            self,
            "CountLoop",
            parameters={
                **run,
                "shards.$": "$.shards",
                "started_at.$": "$.started_at",
                "loops.$": "States.MathAdd($.loops, 1)",
            },  # fmt: skip
        )
        done = sfn.Succeed(self, "Done")
        definition = shards.next(plan).next(
            sfn.Choice(self, "Next")
            .when(sfn.Condition.boolean_equals("$.result.plan.done", True), done)
            .when(
                sfn.Condition.boolean_equals("$.result.plan.continue", True),
                continue_as_new.next(sfn.Succeed(self, "Continued")),
            )
            .otherwise(sleep.next(count).next(shards))
        )
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL),
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[own_arn])
        )
        # Fn::GetAtt already orders the role (cfn-lint W3005): depend on its policy only, as the functions do.
        policy = self.state_machine.role.node.find_child("DefaultPolicy").node.default_child
        self.state_machine.node.default_child.add_override("DependsOn", [stack.get_logical_id(policy)])
        acknowledge(
            self.state_machine.role,
            {
                f"AwsSolutions-IAM5[Resource::{arn_of(function)}:*]": "CDK's invoke grant covers the journeys "
                "function's versions and aliases; that function only.",
                "AwsSolutions-IAM5[Resource::*]": "X-Ray tracing and CloudWatch Logs delivery (logs:CreateLogDelivery "
                "and friends) accept no resource narrower than *; these are the actions CDK adds for them.",
            },
        )
