"""Sender: SQS batch of recipient-messages → provider, each exactly once; failures reported per record."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.catalog import FUNCTIONS
from kizuna.clock import SystemClock
from kizuna.domain.messages import OutboundMessage
from kizuna.observability import logger, metrics
from kizuna.services.deliver import Deliverer, Outcome
from kizuna.settings import SenderSettings
from kizuna.wiring import event_sink, message_store, send_queue, sms_provider


class RetryLater(Exception):
    """Marks a record failed so SQS redelivers it."""


settings = SenderSettings()
store = message_store(settings.messages_table)
queue = send_queue(settings.send_queue_url)
events = event_sink(settings.events_stream)
# Bodies are parsed with the domain model itself: Powertools' parser models add ~70 ms to every cold start.
# A batch where every record failed is still a partial response: SQS retries each record on its own count.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    deliverer = Deliverer(
        store=store,
        provider=sms_provider(settings.twilio_secret_id),
        queue=queue,
        clock=SystemClock(),
        status_callback_base=settings.webhook_base_url,
        lease_s=FUNCTIONS["sender"].timeout_s,
    )

    def record_handler(record: SQSRecord) -> None:
        message = OutboundMessage.model_validate_json(record.body)
        outcome = deliverer.deliver(message, int(record.attributes.approximate_receive_count))
        metrics.add_metric(name=f"Send{outcome.name.title().replace('_', '')}", unit="Count", value=1)
        if outcome is Outcome.RETRY:
            raise RetryLater(message.message_id)

    response = process_partial_response(event, record_handler, processor, context)
    if deliverer.events:
        events.emit(deliverer.events)
    return response
