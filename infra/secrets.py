"""Secrets Manager secrets from catalog.SECRETS. The template never holds a value: the operator puts it."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.nag import acknowledge
from kizuna.catalog import SECRETS


class Secrets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        stack_name = Stack.of(self).stack_name
        self.secrets: dict[str, secretsmanager.Secret] = {}
        # Literal names: Secret.secret_name parses the ARN at deploy time and truncates names containing "-".
        self.names: dict[str, str] = {}
        for spec in SECRETS.values():
            # No secret_string_value: CloudFormation fills the secret with a random placeholder and the operator
            # replaces it with `aws secretsmanager put-secret-value` (see the stack outputs).
            secret = secretsmanager.Secret(
                self,
                "".join(part.capitalize() for part in spec.key.split("_")),
                secret_name=self.names.setdefault(spec.key, f"{stack_name}/{spec.key}"),
                description=spec.description,
                encryption_key=key,
            )
            acknowledge(
                secret,
                {
                    "AwsSolutions-SMG4": "Provider credentials (Twilio, Stripe) are rotated in the provider's "
                    "console and then put into the secret; there is no rotation API Kizuna could call.",
                },
            )
            self.secrets[spec.key] = secret
