"""Sender: SQS batch of recipient-messages → their channel's provider, each exactly once, at the sender's rate;
failures reported per record."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from kizuna.catalog import FUNCTIONS
from kizuna.clock import SystemClock
from kizuna.domain.messages import OutboundMessage
from kizuna.observability import logger, metrics
from kizuna.services.deliver import Deliverer, Outcome
from kizuna.settings import SenderSettings
from kizuna.wiring import event_sink, limits, message_store, providers, send_queue


class RetryLater(Exception):
    """Marks a record failed so SQS redelivers it."""


settings = SenderSettings()
store = message_store(settings.messages_table)
queue = send_queue(settings.send_queue_url)
events = event_sink(settings.events_stream)
shared_limits = limits(settings.limits_table)
# Bodies are parsed with the domain model itself: Powertools' parser models add ~70 ms to every cold start.
# A batch where every record failed is still a partial response: SQS retries each record on its own count.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    deliverer = Deliverer(
        store=store,
        providers=providers(settings.twilio_secret_id, settings.email_configuration_set),
        queue=queue,
        clock=SystemClock(),
        status_callback_base=settings.webhook_base_url,
        lease_s=FUNCTIONS["sender"].timeout_s,
        limiter=shared_limits,
        spend=shared_limits,
    )
    # The batch is delivered first, concurrently and paced; Powertools then shapes the partial batch response.
    batch: list[tuple[OutboundMessage, int]] = []
    for record in event.get("Records", []):
        try:
            message = OutboundMessage.model_validate_json(record["body"])
        except ValidationError:
            continue  # reported as this record's failure below, and ends in the DLQ
        batch.append((message, int(record["attributes"]["ApproximateReceiveCount"])))
    outcomes = deliverer.deliver_batch(batch)

    def record_handler(record: SQSRecord) -> None:
        message = OutboundMessage.model_validate_json(record.body)
        outcome = outcomes[message.message_id]
        metrics.add_metric(name=f"Send{outcome.name.title().replace('_', '')}", unit="Count", value=1)
        if outcome is Outcome.RETRY:
            raise RetryLater(message.message_id)

    response = process_partial_response(event, record_handler, processor, context)
    if deliverer.events:
        events.emit(deliverer.events)
    return response
