"""Issue 4 end to end in local mode: consent keywords (STOP, START, HELP, STOPALL) and WhatsApp's rules (the 24-hour
window, opt-in, Meta's template approval, the messaging tier) through signed inbound webhooks and the real SDKs.
The other channels, relays and the messaging policy: test_messaging_channels.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from twilio.request_validator import RequestValidator

from kizuna.local.sandbox_twilio import VALID_FROM
from kizuna.local.system import LocalKizuna
from tests.e2e.messaging_support import (
    DONE,
    TEMPLATE_SID,
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
    kinds = [e["event_type"] for e in events_of(kizuna, app)]
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
    received = [e for e in events_of(kizuna, app) if e["attributes"].get("message_id") == params["MessageSid"]]
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
        e["event_type"] for e in events_of(kizuna, app)
    }


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
