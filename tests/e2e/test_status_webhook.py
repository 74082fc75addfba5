"""The Twilio status webhook's answers, over HTTP in local mode: 200 only for a callback applied or rightly ignored;
one for a message without a delivery record is answered 503 (Twilio, and the sandbox, post it again) instead of
200 and the status lost; a callback URL without its message id is a 400 naming it. A late delivery receipt
corrects an undelivered message end to end. Callbacks are signed with Twilio's RequestValidator, as Twilio signs
them (bench/load_requests.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from load_requests import status_callback, status_callback_params  # noqa: E402

from kizuna.local.system import REGION, LocalKizuna  # noqa: E402

pytestmark = pytest.mark.e2e


def _post(kizuna: LocalKizuna, url: str, status: str, error_code: str | None = None, sid: str = "SM" + "0" * 32):
    params = status_callback_params(kizuna.sandbox.account_sid, sid, "+15005550006", "+819000000001", status,
                                    error_code)  # fmt: skip
    prepared = status_callback(url, params, kizuna.sandbox.auth_token)
    return requests.post(kizuna.base_url + prepared.path, data=prepared.body, headers=prepared.headers, timeout=60)


def test_a_callback_for_a_message_without_a_record_asks_for_a_retry(kizuna):
    response = _post(kizuna, f"{kizuna.base_url}/webhooks/twilio/status?app=a1&m=never-sent", "delivered")

    assert response.status_code == 503
    assert "never-sent" in response.text


def test_a_callback_url_without_its_message_id_is_a_bad_request(kizuna):
    response = _post(kizuna, f"{kizuna.base_url}/webhooks/twilio/status?app=a1", "delivered")

    assert response.status_code == 400
    assert "?m=" in response.text


def test_a_late_delivery_receipt_corrects_an_undelivered_message(kizuna: LocalKizuna, pinpoint: Any, app_id: str):
    kizuna.sandbox.callbacks_enabled = False  # the test posts the callbacks itself
    try:
        pinpoint.update_endpoints_batch(
            ApplicationId=app_id,
            EndpointBatchRequest={"Item": [{"Id": "e1", "ChannelType": "SMS", "Address": "+819000000001"}]},
        )
        pinpoint.send_messages(
            ApplicationId=app_id,
            MessageRequest={
                "Endpoints": {"e1": {}},
                "MessageConfiguration": {"SMSMessage": {"Body": "hi", "MessageType": "TRANSACTIONAL"}},
            },
        )
        ddb = boto3.client("dynamodb", endpoint_url=kizuna.aws_endpoint, region_name=REGION)
        table = kizuna.resources.tables["messages"]
        deadline = time.monotonic() + 60
        while not (
            taken := [m for m in kizuna.sandbox.messages.values() if f"app={app_id}" in (m.status_callback or "")]
        ):
            assert time.monotonic() < deadline, "the SMS did not reach the sandbox"
            time.sleep(0.2)
        message = taken[0]
        message_id = message.status_callback.rsplit("m=", 1)[1]

        def record() -> dict[str, Any]:
            return ddb.get_item(TableName=table, Key={"message_id": {"S": message_id}}, ConsistentRead=True)["Item"]

        while record()["status"]["S"] != "queued" and time.monotonic() < deadline:
            time.sleep(0.2)

        assert _post(kizuna, message.status_callback, "undelivered", "30003", message.sid).status_code == 200
        assert _post(kizuna, message.status_callback, "delivered", None, message.sid).status_code == 200
        assert _post(kizuna, message.status_callback, "undelivered", "30003", message.sid).status_code == 200  # late

        item = record()
        assert item["status"]["S"] == "delivered" and "error_code" not in item
        assert (item["corrected_status"]["S"], item["corrected_error_code"]["S"]) == ("undelivered", "30003")
    finally:
        kizuna.sandbox.callbacks_enabled = True
