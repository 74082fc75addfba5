"""Relay: forwards inbound messages to third-party webhooks, re-signed for each destination URL."""

from __future__ import annotations

import requests
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.domain.messages import RelayRequest
from kizuna.observability import logger, metrics
from kizuna.services.relay import relay
from kizuna.settings import RelaySettings
from kizuna.wiring import relay_queue, twilio_account

settings = RelaySettings()
queue = relay_queue(settings.relay_queue_url, settings.relay_dlq_url)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
session = requests.Session()


class RequestsHttp:
    def post(self, url: str, form: dict[str, str], headers: dict[str, str], timeout_s: float) -> int:
        try:
            return session.post(url, data=form, headers=headers, timeout=timeout_s, allow_redirects=False).status_code
        except requests.RequestException as exc:
            raise OSError(str(exc)) from exc


http = RequestsHttp()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    auth_token = twilio_account(settings.twilio_secret_id).auth_token.get_secret_value()

    def record_handler(record: SQSRecord) -> None:
        outcome = relay(RelayRequest.model_validate_json(record.body), auth_token, http, queue)
        name = (
            "RelayDelivered" if outcome.delivered else "RelayDeadLettered" if outcome.dead_lettered else "RelayRetried"
        )
        metrics.add_metric(name=name, unit="Count", value=1)
        if not outcome.delivered:
            logger.warning("relay not delivered", reason=outcome.reason, dead_lettered=outcome.dead_lettered)

    return process_partial_response(event, record_handler, processor, context)
