"""Call timers (the one-minute warning, the cut): one delayed SQS message per wake-up; a timer not yet due
(SQS delays at most 15 minutes) is queued again with the delay left. Failures reported per record."""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.adapters.sqs_call_timers import CallTimer
from kizuna.observability import logger, metrics
from kizuna.services.consultations_timers import fire
from kizuna.settings import ConsultationTimersSettings
from kizuna.wiring_consultations import consultation_deps

settings = ConsultationTimersSettings()
deps = consultation_deps(settings)
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    timer = CallTimer.model_validate_json(record.body)
    now = deps.clock.now()
    if timer.remaining_delay(now) > 0:
        deps.timers.requeue(timer, now)  # type: ignore[union-attr]
        return
    outcome = fire(deps, timer.app_id, timer.consultation_id, timer.kind, now)
    logger.info("call timer", consultation_id=timer.consultation_id, kind=timer.kind, outcome=outcome)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event, record_handler, processor, context)
