"""Builds every Lambda function the same way, with exactly the environment its handler's settings model reads.

Capabilities register what they create with `bind(ENV_NAME, value, grant)`. A function gets, for each name in its
settings model (kizuna.settings.SETTINGS_BY_FUNCTION), that value and that grant, and nothing else: the settings
model is both its environment and its permission set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import build
from infra.nag import acknowledge, arn_of
from kizuna.catalog import FUNCTIONS
from kizuna.settings import SETTINGS_BY_FUNCTION

# The newest GA Python runtime in aws-cdk-lib 2.275 with arm64 support; the dependency layer's wheels follow it.
RUNTIME = lambda_.Runtime.PYTHON_3_14
RUNTIME_PYTHON_VERSION = RUNTIME.name.removeprefix("python")
ARCHITECTURE = lambda_.Architecture.ARM_64
SERVICE_NAME_ENV = "POWERTOOLS_SERVICE_NAME"
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

Grant = Callable[[iam.IGrantable], object]


KMS_GRANT_FINDINGS = {
    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": "CDK's grant for data encrypted with Kizuna's customer key "
    "(tables, queue, access-key secrets): GenerateDataKey and GenerateDataKeyWithoutPlaintext on that one key only.",
    "AwsSolutions-IAM5[Action::kms:ReEncrypt*]": "CDK's encrypt/decrypt grant on Kizuna's customer key: "
    "ReEncryptFrom/ReEncryptTo on that one key only.",
}


@dataclass(frozen=True)
class Binding:
    value: str
    grant: Grant | None = None
    # cdk-nag findings the grant causes on the function's role, with the reason each is acceptable.
    findings: dict[str, str] = field(default_factory=dict)


def lambda_handler(key: str) -> str:
    """catalog handler "functions/api/handler.handler" → "api/handler.handler" (the asset is functions/)."""
    return FUNCTIONS[key].handler.removeprefix("functions/")


class FunctionFactory(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        compatible = {"compatible_runtimes": [RUNTIME], "compatible_architectures": [ARCHITECTURE]}
        self.layers = [
            lambda_.LayerVersion(
                self,
                "DomainLayer",
                code=lambda_.Code.from_asset(str(build.build_domain_layer())),
                description="kizuna domain package",
                **compatible,
            ),
            lambda_.LayerVersion(
                self,
                "DependencyLayer",
                code=lambda_.Code.from_asset(str(build.build_dependency_layer(RUNTIME_PYTHON_VERSION))),
                description="kizuna runtime dependencies (boto3 comes with the runtime)",
                **compatible,
            ),
        ]
        self._code = lambda_.Code.from_asset(str(build.FUNCTIONS_DIR), exclude=["**/__pycache__", "**/*.pyc"])
        self._bindings: dict[str, Binding] = {}
        self.functions: dict[str, lambda_.Function] = {}

    def bind(
        self, env_name: str, value: str, grant: Grant | None = None, findings: dict[str, str] | None = None
    ) -> None:
        if env_name in self._bindings:
            raise ValueError(f"{env_name} is already bound")
        self._bindings[env_name] = Binding(value, grant, findings or {})

    def bind_table(self, env_name: str, table: dynamodb.Table, *, has_indexes: bool) -> None:
        findings = dict(KMS_GRANT_FINDINGS)
        if has_indexes:
            findings[f"AwsSolutions-IAM5[Resource::{arn_of(table)}/index/*]"] = (
                "Queries on the table's own global secondary indexes; no other table is reachable."
            )
        self.bind(env_name, table.table_name, table.grant_read_write_data, findings)

    def bind_key(self, env_name: str, key: kms.IKey) -> None:
        # The api encrypts and decrypts access-key secrets with the key itself.
        self.bind(env_name, key.key_id, key.grant_encrypt_decrypt, KMS_GRANT_FINDINGS)

    def bind_queue(self, env_name: str, queue: sqs.IQueue) -> None:
        self.bind(env_name, queue.queue_url, queue.grant_send_messages, KMS_GRANT_FINDINGS)

    def bind_secret(self, env_name: str, secret: secretsmanager.ISecret) -> None:
        # Handlers pass the value to GetSecretValue as SecretId, which takes the full ARN.
        self.bind(env_name, secret.secret_arn, secret.grant_read)

    def build(self, scope: Construct, key: str) -> lambda_.Function:
        spec = FUNCTIONS[key]
        names = SETTINGS_BY_FUNCTION[key].env_names() - {SERVICE_NAME_ENV}
        missing = sorted(names - self._bindings.keys())
        if missing:
            raise ValueError(f"function {key!r} reads {missing}, which no construct has bound yet")

        construct_id = "".join(part.capitalize() for part in key.split("_"))
        log_group = logs.LogGroup(
            scope, f"{construct_id}Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        # Own role without AWSLambdaBasicExecutionRole: logs go to this one log group only.
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"kizuna {key} function",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            scope,
            construct_id,
            description=f"kizuna {key}",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=self._code,
            handler=lambda_handler(key),
            layers=self.layers,
            timeout=Duration.seconds(spec.timeout_s),
            memory_size=spec.memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            role=role,
            environment={
                SERVICE_NAME_ENV: f"kizuna-{key}",
                **{name: self._bindings[name].value for name in sorted(names)},
            },
        )
        findings = {
            "AwsSolutions-IAM5[Resource::*]": "X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) "
            "support no resource-level permissions.",
        }
        for name in sorted(names):
            binding = self._bindings[name]
            if binding.grant is not None:
                binding.grant(function)
            findings.update(binding.findings)
        acknowledge(role, findings)
        _depend_on_policy_only(function, role)
        self.functions[key] = function
        return function


def _depend_on_policy_only(function: lambda_.Function, role: iam.Role) -> None:
    """CDK makes the function DependsOn both its role and the role's policy; Fn::GetAtt already orders the role
    (cfn-lint W3005), so keep only the policy, which must exist before the function and its event sources."""
    policy = role.node.find_child("DefaultPolicy").node.default_child
    resource = function.node.default_child
    resource.add_override("DependsOn", [Stack.of(function).get_logical_id(policy)])
