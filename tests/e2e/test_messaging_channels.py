"""Issue 4 end to end in local mode: every channel through the real SDKs (twilio against the sandbox, SES on moto),
consent keywords and the WhatsApp window through signed inbound webhooks, relays that a third party's own Twilio
signature check accepts, channels and the messaging policy through boto3, one-time passwords."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from kizuna import wiring
from kizuna.adapters.memory import InMemoryEventSink
from kizuna.clock import SystemClock
from kizuna.local.sandbox_twilio import VALID_FROM
from kizuna.local.system import LocalKizuna
from kizuna.services.email_events import record_email_event
from tests.e2e.support import events_in_stream, record, wait_for_status

pytestmark = pytest.mark.e2e
DONE = frozenset({"delivered", "failed", "undelivered", "expired", "read"})
TEMPLATE_SID = "HX" + "a1" * 16


@pytest.fixture(scope="module")
def client(kizuna: LocalKizuna) -> Any:
    """The pinpoint client with Kizuna's extensions (WhatsApp, messaging policy)."""
    kizuna.sandbox.calls.time_scale = 0.02  # calls ring and speak in milliseconds
    kizuna.sandbox.contents[TEMPLATE_SID] = {"body": "{{1}}様、ご予約の確認です。", "status": "approved"}
    return kizuna.kizuna_client()


@pytest.fixture
def app(client: Any) -> str:
    return client.create_app(CreateApplicationRequest={"Name": f"msg-{uuid.uuid4().hex[:8]}"})["ApplicationResponse"][
        "Id"
    ]


def inbound(kizuna: LocalKizuna, app: str, from_: str, body: str) -> Any:
    """The user's message to the app's number, as Twilio posts it (WhatsApp addresses carry "whatsapp:")."""
    url = f"{kizuna.base_url}/webhooks/twilio/inbound?app={app}"
    to = f"whatsapp:{VALID_FROM}" if from_.startswith("whatsapp:") else VALID_FROM
    return kizuna.sandbox.simulate_inbound(to=to, from_=from_, body=body, url=url)


def endpoint(client: Any, app: str, endpoint_id: str, channel: str, address: str, **extra: Any) -> None:
    client.update_endpoint(
        ApplicationId=app, EndpointId=endpoint_id, EndpointRequest={"ChannelType": channel, "Address": address, **extra}
    )


def send(client: Any, app: str, config: dict, **recipients: Any) -> dict:
    return client.send_messages(ApplicationId=app, MessageRequest={**recipients, "MessageConfiguration": config})[
        "MessageResponse"
    ]


def sent_to(kizuna: LocalKizuna, to: str) -> list[Any]:
    return [r for r in kizuna.sandbox.requests if r.to == to]


# --- consent keywords -----------------------------------------------------------------------------------------------


def test_stop_opts_the_number_out_until_start_and_stop_please_is_just_a_message(kizuna, client, app):
    number = "+819012340001"
    endpoint(client, app, "hanako", "SMS", number)
    sms = {"SMSMessage": {"Body": "セール開始"}}

    assert inbound(kizuna, app, number, "Stop please").status_code == 200
    assert send(client, app, sms, Endpoints={"hanako": {}})["EndpointResult"]["hanako"]["DeliveryStatus"] == (
        "SUCCESSFUL"
    )

    inbound(kizuna, app, number, "stop")
    assert client.get_endpoint(ApplicationId=app, EndpointId="hanako")["EndpointResponse"]["OptOut"] == "ALL"
    refused = send(client, app, sms, Endpoints={"hanako": {}}, Addresses={number: {"ChannelType": "SMS"}})
    assert refused["EndpointResult"]["hanako"]["DeliveryStatus"] == "OPT_OUT"
    assert refused["Result"][number]["DeliveryStatus"] == "OPT_OUT"  # the address itself is on the list

    inbound(kizuna, app, number, "START")
    assert client.get_endpoint(ApplicationId=app, EndpointId="hanako")["EndpointResponse"]["OptOut"] == "NONE"
    assert send(client, app, sms, Addresses={number: {"ChannelType": "SMS"}})["Result"][number]["DeliveryStatus"] == (
        "SUCCESSFUL"
    )
    kinds = [e["event_type"] for e in _events_of(kizuna, app)]
    assert "_SMS.OPTOUT" in kinds and "_SMS.OPTIN" in kinds and kinds.count("_SMS.RECEIVED") == 3


def test_stopall_opts_out_every_phone_channel_and_help_is_answered(kizuna, client, app):
    number = "+819012340002"
    endpoint(client, app, "sms", "SMS", number)
    endpoint(client, app, "voice", "VOICE", number)
    client.update_messaging_policy(ApplicationId=app, MessagingPolicy={"HelpMessage": "お問い合わせ: 0120-000-000"})

    help_reply = inbound(kizuna, app, number, "HELP")
    inbound(kizuna, app, number, "STOPALL")

    assert "0120-000-000" in help_reply.text and "<Message>" in help_reply.text
    for endpoint_id in ("sms", "voice"):
        assert client.get_endpoint(ApplicationId=app, EndpointId=endpoint_id)["EndpointResponse"]["OptOut"] == "ALL"


def test_a_replayed_inbound_webhook_is_acted_on_once(kizuna, client, app):
    number = "+819012340003"
    url = f"{kizuna.base_url}/webhooks/twilio/inbound?app={app}"
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": number, "To": VALID_FROM, "Body": "STOP"}
    signature = RequestValidator(kizuna.sandbox.auth_token).compute_signature(url, params)

    for _ in range(2):
        assert requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10).ok
    forged = requests.post(url, data={**params, "Body": "START"}, headers={"X-Twilio-Signature": signature}, timeout=10)

    assert forged.status_code == 403
    received = [e for e in _events_of(kizuna, app) if e["attributes"].get("message_id") == params["MessageSid"]]
    assert sorted(e["event_type"] for e in received) == ["_SMS.OPTOUT", "_SMS.RECEIVED"]


# --- WhatsApp -------------------------------------------------------------------------------------------------------


def test_whatsapp_free_form_needs_the_window_and_a_template_needs_opt_in(kizuna, client, app):
    number = "+819012340004"
    endpoint(client, app, "wa", "WHATSAPP", number, User={"UserAttributes": {"FirstName": ["花子"]}})
    free_form = {"WhatsAppMessage": {"Body": "こんにちは"}}
    template = {
        "WhatsAppMessage": {"ContentSid": TEMPLATE_SID, "ContentVariables": {"1": "{{User.UserAttributes.FirstName}}"}}
    }

    outside = send(client, app, free_form, Endpoints={"wa": {}})["EndpointResult"]["wa"]
    not_opted_in = send(client, app, template, Endpoints={"wa": {}})["EndpointResult"]["wa"]
    assert outside["DeliveryStatus"] == "PERMANENT_FAILURE" and "24 hours" in outside["StatusMessage"]
    assert not_opted_in["DeliveryStatus"] == "OPT_OUT"

    endpoint(client, app, "wa", "WHATSAPP", number, Attributes={"WhatsAppOptIn": ["2026-11-30"]})
    by_template = send(client, app, template, Endpoints={"wa": {}})["EndpointResult"]["wa"]["MessageId"]
    inbound(kizuna, app, f"whatsapp:{number}", "はい、お願いします")
    in_window = send(client, app, free_form, Endpoints={"wa": {}})["EndpointResult"]["wa"]["MessageId"]

    statuses = wait_for_status(kizuna, [by_template, in_window], DONE)
    assert statuses == {by_template: "delivered", in_window: "delivered"}
    # Both went through the send queue, which several sender threads read: they may reach Twilio in either order.
    requests = sent_to(kizuna, f"whatsapp:{number}")
    assert len(requests) == 2
    template_request, free_request = sorted(requests, key=lambda r: r.content_sid is None)
    assert template_request.content_sid == TEMPLATE_SID and template_request.body == "花子様、ご予約の確認です。"
    assert free_request.body == "こんにちは" and free_request.from_ == f"whatsapp:{VALID_FROM}"
    assert {"_WHATSAPP.BUFFERED", "_WHATSAPP.SUCCESS", "_WHATSAPP.RECEIVED"} <= {
        e["event_type"] for e in _events_of(kizuna, app)
    }


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
    kinds = {e["event_type"] for e in _events_of(kizuna, app) if e["attributes"].get("message_id") == message_id}
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


# --- helpers --------------------------------------------------------------------------------------------------------


def _events_of(kizuna: LocalKizuna, app: str) -> list[dict]:
    return [e for e in events_in_stream(kizuna) if e["application"]["app_id"] == app]


def _ses_messages(kizuna: LocalKizuna, to: str) -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return [m for m in backend.sent_messages if to in (m.destinations.get("ToAddresses") or [])]


# --- WhatsApp templates and the messaging tier ----------------------------------------------------------------------


def test_a_whatsapp_template_carries_metas_approval_and_a_rejected_one_is_not_sent(kizuna, client, app):
    rejected = "HX" + "b2" * 16
    kizuna.sandbox.contents[rejected] = {"body": "{{1}}様", "status": "rejected"}
    for name, sid in (("confirm", TEMPLATE_SID), ("promo", rejected)):
        client.create_whats_app_template(
            TemplateName=f"{name}-{app[:6]}",
            WhatsAppTemplateRequest={"ContentSid": sid, "Variables": {"1": "{{User.UserAttributes.FirstName}}"}},
        )
    approved = client.get_whats_app_template(TemplateName=f"confirm-{app[:6]}")["WhatsAppTemplateResponse"]
    endpoint(client, app, "wa", "WHATSAPP", "+819012340013", Attributes={"WhatsAppOptIn": ["yes"]})

    refused = client.send_messages(
        ApplicationId=app,
        MessageRequest={
            "Endpoints": {"wa": {}},
            "MessageConfiguration": {},
            "TemplateConfiguration": {"WhatsAppTemplate": {"Name": f"promo-{app[:6]}"}},
        },
    )["MessageResponse"]["EndpointResult"]["wa"]

    assert approved["ApprovalStatus"] == "approved" and approved["ContentSid"] == TEMPLATE_SID
    assert refused["DeliveryStatus"] == "PERMANENT_FAILURE" and "rejected" in refused["StatusMessage"]
    with pytest.raises(client.exceptions.BadRequestException, match="ContentSid"):
        client.create_whats_app_template(
            TemplateName=f"ghost-{app[:6]}", WhatsAppTemplateRequest={"ContentSid": "HX" + "c3" * 16}
        )


def test_the_whatsapp_tier_caps_business_initiated_messages_per_24_hours(kizuna, client, app):
    client.update_whats_app_channel(ApplicationId=app, WhatsAppChannelRequest={"DailyConversationLimit": 2})
    numbers = [f"+81901234010{n}" for n in range(3)]
    for n, number in enumerate(numbers):
        endpoint(client, app, f"t{n}", "WHATSAPP", number, Attributes={"WhatsAppOptIn": ["yes"]})
    template = {"WhatsAppMessage": {"ContentSid": TEMPLATE_SID, "ContentVariables": {"1": "様"}}}

    ids = [
        send(client, app, template, Endpoints={f"t{n}": {}})["EndpointResult"][f"t{n}"]["MessageId"] for n in range(3)
    ]
    statuses = wait_for_status(kizuna, ids, DONE)

    assert sorted(statuses.values()) == ["delivered", "delivered", "failed"]
    failed = [m for m, s in statuses.items() if s == "failed"]
    assert record(kizuna, failed[0])["error_code"]["S"] == "WHATSAPP_TIER"
