"""Acknowledging cdk-nag findings (cdk-nag v3 uses CDK's native Validations API).

Each finding is acknowledged on the narrowest construct that causes it, with the reason it is acceptable.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rules: dict[str, str]) -> None:
    """rules: rule id (e.g. "AwsSolutions-IAM5[Resource::*]") -> reason."""
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule, reason=reason) for rule, reason in rules.items()))


def arn_of(construct: IConstruct) -> str:
    """How cdk-nag spells a reference to a construct's ARN in a finding id: <LogicalId.Arn>."""
    resource = construct.node.default_child or construct
    return f"<{Stack.of(construct).get_logical_id(resource)}.Arn>"
