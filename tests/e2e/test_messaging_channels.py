"""Issue 4 end to end in local mode: every channel through the real SDKs (twilio against the sandbox, SES on moto),
relays that a third party's own Twilio signature check accepts, channels and the messaging policy through boto3,
one-time passwords and users' messages. Consent keywords and WhatsApp's rules: test_messaging_consent_whatsapp.py."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from kizuna import wiring
from kizuna.adapters.memory import InMemoryEventSink
from kizuna.clock import SystemClock
from kizuna.local.sandbox_twilio import VALID_FROM
from kizuna.local.system import LocalKizuna
from kizuna.services.email_events import record_email_event
from tests.e2e.messaging_support import (
    DONE,
    endpoint,
    events_of,
    inbound,
    messaging_client,
    new_app,
    send,
    sent_to,
)
from tests.e2e.support import record, wait_for_status

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(kizuna: LocalKizuna) -> Any:
    return messaging_client(kizuna)


@pytest.fixture
def app(client: Any) -> str:
    return new_app(client)


# --- relays ---------------------------------------------------------------------------------------------------------


class SurveyPlatform:
    """A third party that expects Twilio's inbound webhook and checks X-Twilio-Signature with the auth token."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.received: list[dict[str, str]] = []
        self.refusals: list[str] = []
        self.fail_next = 0
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/twilio/sms"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _app(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        form = request.form.to_dict()
        if not self.validator.validate(self.url, form, request.headers.get("X-Twilio-Signature", "")):
            self.refusals.append("bad signature")
            return Response("forbidden", 403)(environ, start_response)
        if self.fail_next > 0:
            self.fail_next -= 1
            return Response("busy", 503)(environ, start_response)
        self.received.append(form)
        return Response("<Response/>", 200, mimetype="text/xml")(environ, start_response)

    def close(self) -> None:
        self._server.shutdown()


@pytest.fixture
def survey(kizuna: LocalKizuna) -> Iterator[SurveyPlatform]:
    platform = SurveyPlatform(kizuna.sandbox.auth_token)
    yield platform
    platform.close()


def test_inbound_messages_reach_the_survey_platform_signed_for_its_url_even_after_it_fails(kizuna, client, app, survey):
    client.update_messaging_policy(
        ApplicationId=app, MessagingPolicy={"InboundRelays": [{"Url": survey.url, "Channels": ["SMS", "WHATSAPP"]}]}
    )
    survey.fail_next = 1  # the first attempt meets a 503: retried with backoff

    inbound(kizuna, app, "+819012340005", "5")
    inbound(kizuna, app, "whatsapp:+819012340006", "とても満足")

    deadline = time.monotonic() + 30
    while len(survey.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(r["Body"] for r in survey.received) == ["5", "とても満足"]
    assert survey.refusals == []  # every relayed request passed the platform's own Twilio signature check
    assert {r["From"] for r in survey.received} == {"+819012340005", "whatsapp:+819012340006"}


def test_a_relay_the_destination_refuses_ends_in_the_dead_letter_queue_with_its_reason(kizuna, client, app, survey):
    survey.validator = RequestValidator("not-the-account-token")  # every request now fails its check: 403
    client.update_messaging_policy(ApplicationId=app, MessagingPolicy={"InboundRelays": [{"Url": survey.url}]})

    inbound(kizuna, app, "+819012340007", "1")

    sqs = wiring.aws("sqs")
    deadline, dead = time.monotonic() + 30, []
    while not dead and time.monotonic() < deadline:
        dead = sqs.receive_message(
            QueueUrl=kizuna.resources.dlq_urls["relay"], MessageAttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages", [])
    assert dead and "HTTP 403" in dead[0]["MessageAttributes"]["reason"]["StringValue"]


# --- channels and the policy ----------------------------------------------------------------------------------------


def test_channels_and_the_policy_decide_sender_and_destination(kizuna, client, app):
    client.update_sms_channel(ApplicationId=app, SMSChannelRequest={"SenderId": "KIZUNA", "Enabled": True})
    client.update_messaging_policy(ApplicationId=app, MessagingPolicy={"AllowedCountries": ["JP"]})
    sms = {"SMSMessage": {"Body": "ご来店ありがとうございました"}}

    result = send(
        client, app, sms, Addresses={"+819012340008": {"ChannelType": "SMS"}, "+12025550123": {"ChannelType": "SMS"}}
    )

    assert result["Result"]["+12025550123"]["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert "AllowedCountries" in result["Result"]["+12025550123"]["StatusMessage"]
    wait_for_status(kizuna, [result["Result"]["+819012340008"]["MessageId"]], DONE)
    assert sent_to(kizuna, "+819012340008")[0].from_ == "KIZUNA"  # Japan: the alphanumeric sender ID
    channels = client.get_channels(ApplicationId=app)["ChannelsResponse"]["Channels"]
    assert set(channels) == {"SMS", "VOICE", "EMAIL", "WHATSAPP"} and channels["EMAIL"]["Enabled"] is False


def test_invalid_channel_and_policy_requests_are_bad_requests_naming_the_field(client, app):
    with pytest.raises(client.exceptions.BadRequestException, match="SMSChannelRequest.SenderId"):
        client.update_sms_channel(ApplicationId=app, SMSChannelRequest={"SenderId": "TWELVECHARSX"})
    with pytest.raises(client.exceptions.BadRequestException, match="MessagingPolicy.AllowedCountries"):
        client.update_messaging_policy(ApplicationId=app, MessagingPolicy={"AllowedCountries": ["Japan"]})


# --- voice and e-mail -----------------------------------------------------------------------------------------------


def test_a_japanese_voice_message_is_spoken_and_its_call_completes(kizuna, client, app):
    number = "+819012340009"
    voice = {"VoiceMessage": {"Body": "明日の10時にご予約があります。", "LanguageCode": "ja-JP", "VoiceId": "Mizuki"}}

    message_id = send(client, app, voice, Addresses={number: {"ChannelType": "VOICE"}})["Result"][number]["MessageId"]

    assert wait_for_status(kizuna, [message_id], DONE) == {message_id: "delivered"}
    (call,) = [c for c in kizuna.sandbox.calls.calls.values() if c.to == number]
    assert call.said == [("明日の10時にご予約があります。", "ja-JP")]
    kinds = {e["event_type"] for e in events_of(kizuna, app) if e["attributes"].get("message_id") == message_id}
    assert {"_VOICE.INITIATED", "_VOICE.ANSWERED", "_VOICE.SUCCESS"} <= kinds


def test_email_goes_through_ses_and_its_delivery_event_settles_it(kizuna, client, app):
    client.update_email_channel(
        ApplicationId=app,
        EmailChannelRequest={
            "FromAddress": "shop@kizuna.local",
            "Identity": "arn:aws:ses:us-east-1:123456789012:identity/kizuna.local",
            "Enabled": True,
        },
    )
    email = {
        "EmailMessage": {
            "SimpleEmail": {
                "Subject": {"Data": "{{Attributes.Name}}様へのお知らせ"},
                "HtmlPart": {"Data": "<p>{{Attributes.Name}}様</p>"},
                "TextPart": {"Data": "{{Attributes.Name}}様"},
            }
        }
    }
    endpoint(client, app, "mail", "EMAIL", "hanako@example.jp", Attributes={"Name": ["<花子>"]})

    message_id = send(client, app, email, Endpoints={"mail": {}})["EndpointResult"]["mail"]["MessageId"]
    wait_for_status(kizuna, [message_id], {"queued"})
    sent = _ses_messages(kizuna, "hanako@example.jp")
    assert sent and sent[-1].subject == "<花子>様へのお知らせ" and "&lt;花子&gt;" in sent[-1].body

    sink = InMemoryEventSink()
    detail = {"eventType": "Delivery", "mail": {"destination": ["hanako@example.jp"],
              "tags": {"kizuna_message_id": [message_id], "kizuna_app": [app]}}}  # fmt: skip
    assert record_email_event(wiring.message_store(kizuna.resources.tables["messages"]), sink, SystemClock(), detail)
    assert record(kizuna, message_id)["status"]["S"] == "delivered"
    assert [e["event_type"] for e in sink.events] == ["_email.delivered"]


# --- one-time passwords and users -----------------------------------------------------------------------------------


def test_a_one_time_password_is_sent_at_once_and_verifies_exactly_once(kizuna, client, app):
    number = "+819012340010"
    params = {"BrandName": "Kizuna", "Channel": "SMS", "DestinationIdentity": number, "ReferenceId": "login-1",
              "OriginationIdentity": VALID_FROM, "Language": "ja-JP", "AllowedAttempts": 2}  # fmt: skip

    result = client.send_otp_message(ApplicationId=app, SendOTPMessageRequestParameters=params)
    (sms,) = sent_to(kizuna, number)  # already at the sandbox when the call returns: not queued
    code = re.search(r"\d{6}", sms.body).group()

    def verify(otp: str) -> bool:
        request = {"DestinationIdentity": number, "ReferenceId": "login-1", "Otp": otp}
        return client.verify_otp_message(ApplicationId=app, VerifyOTPMessageRequestParameters=request)[
            "VerificationResponse"
        ]["Valid"]

    assert result["MessageResponse"]["Result"][number]["DeliveryStatus"] == "SUCCESSFUL"
    assert "認証コード" in sms.body
    assert verify("000000" if code != "000000" else "111111") is False
    assert verify(code) is True
    assert verify(code) is False  # single use


def test_send_users_messages_reaches_each_of_the_users_endpoints(kizuna, client, app):
    endpoint(client, app, "u-sms", "SMS", "+819012340011", User={"UserId": "user-1"})
    endpoint(client, app, "u-wa", "WHATSAPP", "+819012340012", User={"UserId": "user-1"})
    inbound(kizuna, app, "whatsapp:+819012340012", "こんにちは")

    result = client.send_users_messages(
        ApplicationId=app,
        SendUsersMessageRequest={
            "Users": {"user-1": {}},
            "MessageConfiguration": {"DefaultMessage": {"Body": "お知らせ"}},
        },
    )["SendUsersMessageResponse"]["Result"]["user-1"]

    assert {k: v["DeliveryStatus"] for k, v in result.items()} == {"u-sms": "SUCCESSFUL", "u-wa": "SUCCESSFUL"}


def _ses_messages(kizuna: LocalKizuna, to: str) -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return [m for m in backend.sent_messages if to in (m.destinations.get("ToAddresses") or [])]
