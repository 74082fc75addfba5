"""Issue 2's path end to end in local mode: the stock boto3 client, the queue, the sandbox Twilio (real SDK), the
signed receipts, the event stream — and what must not happen: forged callbacks, duplicate sends, half writes."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from twilio.request_validator import RequestValidator

from kizuna import wiring
from kizuna.domain.messages import TERMINAL
from kizuna.local.lambda_context import LocalLambdaContext
from kizuna.local.system import REGION, LocalKizuna
from tests.e2e.support import events_in_stream, record

pytestmark = pytest.mark.e2e
BODY = "ご予約ありがとうございます"


def data_items(kizuna: LocalKizuna) -> list[dict]:
    return wiring.aws("dynamodb").scan(TableName=kizuna.resources.tables["data"])["Items"]


def send(pinpoint: Any, app_id: str, **recipients: Any) -> dict:
    return pinpoint.send_messages(
        ApplicationId=app_id,
        MessageRequest={**recipients, "MessageConfiguration": {"SMSMessage": {"Body": BODY}}},
    )["MessageResponse"]


def signed(kizuna: LocalKizuna, method: str, path: str, body: bytes, secret: str | None = None) -> requests.Response:
    credentials = kizuna.credentials
    request = AWSRequest(
        method=method, url=kizuna.base_url + path, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(
        Credentials(credentials.access_key_id, secret or credentials.secret_access_key), "mobiletargeting", REGION
    ).add_auth(request)
    return requests.request(method, request.url, data=body, headers=dict(request.headers), timeout=30)


# --- the path -------------------------------------------------------------------------------------------------------


def test_an_sms_goes_from_the_api_through_twilio_and_its_receipt_reaches_the_event_stream(kizuna, pinpoint, app_id):
    pinpoint.update_endpoint(
        ApplicationId=app_id, EndpointId="ep-1", EndpointRequest={"ChannelType": "SMS", "Address": "+81 90 1111 2222"}
    )
    assert pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="ep-1")["EndpointResponse"]["Address"] == (
        "+819011112222"
    )

    response = send(pinpoint, app_id, Endpoints={"ep-1": {}}, Addresses={"+819011113333": {"ChannelType": "SMS"}})
    assert kizuna.drain(30)

    ids = [response["EndpointResult"]["ep-1"]["MessageId"], response["Result"]["+819011113333"]["MessageId"]]
    assert [record(kizuna, m)["status"]["S"] for m in ids] == ["delivered", "delivered"]
    assert kizuna.sandbox.count("+819011112222", BODY) == 1 and kizuna.sandbox.count("+819011113333", BODY) == 1
    successes = [e for e in events_in_stream(kizuna) if e["event_type"] == "_SMS.SUCCESS"]
    assert {e["attributes"]["message_id"] for e in successes} >= set(ids)
    for event in successes:
        assert event["application"]["app_id"] and event["event_timestamp"] and event["attributes"]["record_status"]


def test_twilio_magic_failures_end_failed_with_their_code_and_are_never_retried(kizuna, pinpoint, app_id):
    response = send(pinpoint, app_id, Addresses={"+15005550001": {"ChannelType": "SMS"}})
    assert kizuna.drain(30)

    item = record(kizuna, response["Result"]["+15005550001"]["MessageId"])
    assert (item["status"]["S"], item["error_code"]["S"]) == ("failed", "21211")
    assert item["attempts"]["N"] == "1"


# --- refusals ------------------------------------------------------------------------------------------------------


def test_invalid_phone_number_is_a_bad_request_naming_the_field_and_writes_nothing(kizuna, pinpoint, app_id):
    before = data_items(kizuna)
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="EndpointRequest.Address"):
        pinpoint.update_endpoint(
            ApplicationId=app_id, EndpointId="bad", EndpointRequest={"ChannelType": "SMS", "Address": "+1 555"}
        )
    assert data_items(kizuna) == before


def test_unknown_app_is_not_found(pinpoint):
    with pytest.raises(pinpoint.exceptions.NotFoundException, match="Application"):
        pinpoint.update_endpoint(
            ApplicationId="0" * 32, EndpointId="e", EndpointRequest={"ChannelType": "SMS", "Address": "+819011112222"}
        )


def test_missing_body_is_a_bad_request_in_pinpoints_shape(kizuna, app_id):
    response = signed(kizuna, "PUT", f"/v1/apps/{app_id}/endpoints/e1", b"")
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert "EndpointRequest" in response.json()["Message"] and response.json()["RequestID"]


def test_oversize_body_is_refused_before_it_is_parsed(kizuna, app_id):
    response = signed(kizuna, "PUT", f"/v1/apps/{app_id}/endpoints/e1", b"{" + b" " * (6 * 1024 * 1024) + b"}")
    assert response.status_code == 413
    assert response.headers["x-amzn-ErrorType"] == "PayloadTooLargeException"


def test_unsigned_and_wrongly_signed_requests_are_forbidden(kizuna):
    unsigned = requests.get(kizuna.base_url + "/v1/apps", timeout=10)
    wrong = signed(kizuna, "GET", "/v1/apps", b"", secret="not-the-secret")
    for response in (unsigned, wrong):
        assert response.status_code == 403
        assert response.headers["x-amzn-ErrorType"] == "ForbiddenException"
        assert set(response.json()) == {"Message", "RequestID"}


# --- status callbacks ----------------------------------------------------------------------------------------------


@pytest.fixture
def silent_sandbox(kizuna: LocalKizuna) -> Iterator[None]:
    """The sandbox takes messages but sends no callbacks, so the test plays Twilio's callbacks itself."""
    kizuna.sandbox.callbacks_enabled = False
    yield
    kizuna.sandbox.callbacks_enabled = True


def queued_message(kizuna: LocalKizuna, pinpoint: Any, app_id: str, number: str) -> tuple[str, str, dict]:
    message_id = send(pinpoint, app_id, Addresses={number: {"ChannelType": "SMS"}})["Result"][number]["MessageId"]
    assert kizuna.drain(30)
    (sent,) = [r for r in kizuna.sandbox.requests if r.to == number]
    params = {
        "MessageSid": sent.sid,
        "SmsSid": sent.sid,
        "AccountSid": kizuna.sandbox.account_sid,
        "From": sent.from_,
        "To": number,
        "ApiVersion": "2010-04-01",
    }
    return message_id, sent.status_callback, params


def post_callback(url: str, params: dict, signature: str | None) -> requests.Response:
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return requests.post(url, data=params, headers=headers, timeout=10)


def test_forged_unsigned_and_tampered_callbacks_are_refused_and_change_nothing(
    kizuna, pinpoint, app_id, silent_sandbox
):
    message_id, url, params = queued_message(kizuna, pinpoint, app_id, "+819022220001")
    delivered = {**params, "MessageStatus": "delivered", "SmsStatus": "delivered"}
    before = record(kizuna, message_id)

    unsigned = post_callback(url, delivered, None)
    forged = post_callback(url, delivered, RequestValidator("wrong-token").compute_signature(url, delivered))
    valid_signature = RequestValidator(kizuna.sandbox.auth_token).compute_signature(url, delivered)
    tampered = post_callback(url, {**delivered, "To": "+819099999999"}, valid_signature)

    assert [r.status_code for r in (unsigned, forged, tampered)] == [403, 403, 403]
    assert record(kizuna, message_id) == before


def test_a_replayed_callback_is_accepted_and_changes_nothing(kizuna, pinpoint, app_id, silent_sandbox):
    message_id, url, params = queued_message(kizuna, pinpoint, app_id, "+819022220002")
    delivered = {**params, "MessageStatus": "delivered", "SmsStatus": "delivered"}
    signature = RequestValidator(kizuna.sandbox.auth_token).compute_signature(url, delivered)
    assert post_callback(url, delivered, signature).status_code == 200
    after_first = record(kizuna, message_id)
    ids_after_first = {event["event_id"] for event in events_in_stream(kizuna)}

    assert post_callback(url, delivered, signature).status_code == 200
    assert record(kizuna, message_id) == after_first
    # A replay re-emits its status's event under the same id (an earlier attempt may have died before emitting it):
    # the stream is at-least-once, and what counts downstream, the distinct events, is unchanged.
    assert {event["event_id"] for event in events_in_stream(kizuna)} == ids_after_first


def test_a_late_sent_never_overwrites_delivered(kizuna, pinpoint, app_id, silent_sandbox):
    message_id, url, params = queued_message(kizuna, pinpoint, app_id, "+819022220003")
    validator = RequestValidator(kizuna.sandbox.auth_token)
    for status in ("delivered", "sent"):
        update = {**params, "MessageStatus": status, "SmsStatus": status}
        assert post_callback(url, update, validator.compute_signature(url, update)).status_code == 200
    assert record(kizuna, message_id)["status"]["S"] == "delivered"


# --- exactly once --------------------------------------------------------------------------------------------------


def sqs_event(kizuna: LocalKizuna, bodies: list[str]) -> dict:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "local",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "0",
                    "SenderId": "local",
                    "ApproximateFirstReceiveTimestamp": "0",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": kizuna.resources.queue_arns["send"],
                "awsRegion": REGION,
            }
            for body in bodies
        ]
    }


@pytest.fixture
def paused_sender(kizuna: LocalKizuna) -> Iterator[None]:
    kizuna.pollers["send"].stop()
    yield
    kizuna.pollers["send"].start()


def enqueued_body(kizuna: LocalKizuna, pinpoint: Any, app_id: str, number: str) -> tuple[str, str]:
    message_id = send(pinpoint, app_id, Addresses={number: {"ChannelType": "SMS"}})["Result"][number]["MessageId"]
    sqs = wiring.aws("sqs")
    messages = sqs.receive_message(
        QueueUrl=kizuna.resources.queue_urls["send"], MaxNumberOfMessages=10, WaitTimeSeconds=2
    )["Messages"]
    (body,) = [m["Body"] for m in messages if json.loads(m["Body"])["message_id"] == message_id]
    return message_id, body


def invoke_sender(kizuna: LocalKizuna, event: dict) -> dict:
    return kizuna.handlers["sender"](event, LocalLambdaContext("sender", 30))


def test_the_same_queue_message_twice_in_one_batch_reaches_twilio_once(kizuna, pinpoint, app_id, paused_sender):
    message_id, body = enqueued_body(kizuna, pinpoint, app_id, "+819033330001")

    response = invoke_sender(kizuna, sqs_event(kizuna, [body, body]))

    assert response == {"batchItemFailures": []}
    assert kizuna.sandbox.count("+819033330001", BODY) == 1
    assert kizuna.sandbox.wait_for_idle(10)
    assert record(kizuna, message_id)["status"]["S"] in TERMINAL


def test_the_same_queue_message_delivered_concurrently_reaches_twilio_once(kizuna, pinpoint, app_id, paused_sender):
    message_id, body = enqueued_body(kizuna, pinpoint, app_id, "+819033330002")
    start = threading.Barrier(4)
    results: list[dict] = []

    def deliver() -> None:
        start.wait()
        results.append(invoke_sender(kizuna, sqs_event(kizuna, [body])))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 4
    assert kizuna.sandbox.count("+819033330002", BODY) == 1
    assert kizuna.sandbox.wait_for_idle(10)
    assert record(kizuna, message_id)["status"]["S"] in TERMINAL
