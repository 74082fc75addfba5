"""The journey engine's state machine: the Amazon States Language document of kizuna.journey_state_machine (the one
local mode interprets), deployed as a Standard state machine with the journeys function's ARN and the partition
filled in. It may invoke that function and start executions of itself (continue-as-new); it logs every event and is
traced."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.nag import acknowledge, arn_of
from kizuna.journey_state_machine import definition


class JourneyEngine(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        name = f"{stack.stack_name}-journeys"
        log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            # Tokens, not DefinitionSubstitutions: CloudFormation joins them in, and cfn-lint, which checks a literal
            # definition's Resource ARNs against the aws partition only, leaves the joined string alone.
            definition_body=sfn.DefinitionBody.from_string(
                stack.to_json_string(definition(function.function_arn, stack.partition))
            ),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL),
        )
        function.grant_invoke(self.state_machine)
        own_arn = stack.format_arn(
            service="states", resource="stateMachine", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
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
