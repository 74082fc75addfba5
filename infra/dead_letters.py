"""Dead-letter queues are built one way everywhere: KMS, TLS only, 14 days, and alarmed (observability.py)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge


def dead_letter_queue(scope: Construct, key: kms.IKey, owner: str) -> sqs.Queue:
    queue = sqs.Queue(
        scope,
        "DeadLetters",
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    acknowledge(queue, {"AwsSolutions-SQS3": f"This queue is the dead-letter queue of {owner}; it is alarmed on."})
    return queue
