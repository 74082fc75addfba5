"""Relay: forwards inbound messages to third-party webhooks, re-signed for each destination URL, and makes campaigns'
CUSTOM deliveries (signed JSON posts)."""

from __future__ import annotations

import requests
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.domain.messages import RelayRequest
from kizuna.observability import logger, metrics
from kizuna.services.relay import relay
from kizuna.settings import RelaySettings
from kizuna.wiring import relay_queue, twilio_account, webhook_signing_secret

settings = RelaySettings()
queue = relay_queue(settings.relay_queue_url, settings.relay_dlq_url)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
session = requests.Session()


class RequestsHttp:
    def post(self, url: str, data: dict[str, str] | str, headers: dict[str, str], timeout_s: float) -> int:
        body = data.encode() if isinstance(data, str) else data
        try:
            return session.post(url, data=body, headers=headers, timeout=timeout_s, allow_redirects=False).status_code
        except requests.RequestException as exc:
            raise OSError(str(exc)) from exc


class SecretsSigning:
    """Each key is read (and cached by Powertools) only when a request needs it."""

    def twilio_auth_token(self) -> str:
        return twilio_account(settings.twilio_secret_id).auth_token.get_secret_value()

    def webhook_signing_secret(self) -> str:
        return webhook_signing_secret(settings.webhook_signing_secret_id)


http = RequestsHttp()
signing = SecretsSigning()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    def record_handler(record: SQSRecord) -> None:
        request = RelayRequest.model_validate_json(record.body)
        outcome = relay(request, signing, http, queue)
        kind = "CustomDelivery" if request.is_custom_delivery else "Relay"
        name = kind + ("Delivered" if outcome.delivered else "DeadLettered" if outcome.dead_lettered else "Retried")
        metrics.add_metric(name=name, unit="Count", value=1)
        if not outcome.delivered:
            logger.warning("relay not delivered", reason=outcome.reason, dead_lettered=outcome.dead_lettered)

    return process_partial_response(event, record_handler, processor, context)
