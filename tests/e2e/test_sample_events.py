"""The real-shaped sample events in events/ go through the real handlers and give their expected responses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kizuna.local.lambda_context import LocalLambdaContext

pytestmark = pytest.mark.e2e
EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> tuple[dict, dict]:
    return json.loads((EVENTS / f"{name}.json").read_text()), json.loads((EVENTS / f"{name}.expected.json").read_text())


def test_an_unsigned_management_request_gets_pinpoints_forbidden_shape(kizuna):
    event, expected = load("apigw_get_apps_unsigned")

    response = kizuna.handlers["api"](event, LocalLambdaContext("api", 29))

    assert response["statusCode"] == expected["statusCode"]
    # API Gateway REST proxies take multiValueHeaders (Powertools answers in that form).
    headers = {k: v[0] for k, v in response.get("multiValueHeaders", {}).items()} | response.get("headers", {})
    assert {k: headers[k] for k in expected["headers"]} == expected["headers"]
    assert json.loads(response["body"]) == expected["body"]


def test_a_forged_twilio_status_callback_is_forbidden(kizuna):
    event, expected = load("twilio_status_delivered_forged")

    response = kizuna.handlers["twilio_webhook"](event, LocalLambdaContext("twilio_webhook", 10))

    assert (response["statusCode"], response["body"]) == (expected["statusCode"], expected["body"])


def test_a_forged_inbound_stop_opts_nobody_out(kizuna):
    event, expected = load("twilio_inbound_stop_forged")

    response = kizuna.handlers["twilio_webhook"](event, LocalLambdaContext("twilio_webhook", 10))

    assert (response["statusCode"], response["body"]) == (expected["statusCode"], expected["body"])


def test_a_malformed_queue_message_fails_alone_and_goes_back_to_the_queue(kizuna):
    event, expected = load("sqs_send_batch_malformed")

    response = kizuna.handlers["sender"](event, LocalLambdaContext("sender", 30))

    assert response == expected
