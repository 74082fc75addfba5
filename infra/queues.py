"""The send queue with its dead-letter queue (catalog.QUEUES) and the sender function that consumes it."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.dead_letters import dead_letter_queue
from infra.functions import FunctionFactory
from kizuna.catalog import visibility_timeout_s
from kizuna.catalog_types import Queue


class WorkQueue(Construct):
    """A catalog queue and its DLQ alone, so producers (the API) can be wired before the consumer exists."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: Queue, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.dead_letter_queue = dead_letter_queue(self, key, f"the {spec.key} queue")
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            data_key_reuse=Duration.minutes(5),
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_timeout_s(spec)),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=spec.max_receive_count
            ),
        )


class QueueConsumer(Construct):
    """The catalog consumer function fed by a queue: bounded concurrency, partial batch responses."""

    def __init__(self, scope: Construct, construct_id: str, *, queue: WorkQueue, factory: FunctionFactory) -> None:
        super().__init__(scope, construct_id)
        spec = queue.spec
        self.function: lambda_.Function = factory.build(self, spec.consumer)
        self.function.add_event_source(
            event_sources.SqsEventSource(
                queue.queue,
                batch_size=spec.batch_size,
                max_batching_window=Duration.seconds(spec.max_batching_window_s)
                if spec.max_batching_window_s
                else None,
                max_concurrency=spec.max_concurrency,
                report_batch_item_failures=True,
            )
        )
