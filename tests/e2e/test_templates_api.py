"""Message templates through the stock boto3 pinpoint client against local mode: versions, the active version,
listing, validation, and who may change them."""

from __future__ import annotations

import time
import uuid
from typing import Any

import boto3
import pytest

from kizuna import wiring
from kizuna.adapters.access_key_store import DynamoAccessKeyStore
from kizuna.auth.access_keys import create_access_key
from kizuna.clock import SystemClock
from kizuna.local.system import REGION

pytestmark = pytest.mark.e2e

BODY = "{{User.UserAttributes.FirstName}}様、ご予約は{{Attributes.Date}}です。"


@pytest.fixture
def name() -> str:
    return f"reminder-{uuid.uuid4().hex[:8]}"


def sms(pinpoint: Any, name: str, version: str | None = None) -> dict[str, Any]:
    extra = {"Version": version} if version else {}
    return pinpoint.get_sms_template(TemplateName=name, **extra)["SMSTemplateResponse"]


def test_versions_and_the_active_version(pinpoint, name):
    created = pinpoint.create_sms_template(
        TemplateName=name,
        SMSTemplateRequest={"Body": BODY, "DefaultSubstitutions": '{"User.UserAttributes.FirstName": "お客"}'},
    )["CreateTemplateMessageBody"]
    pinpoint.update_sms_template(TemplateName=name, CreateNewVersion=True, SMSTemplateRequest={"Body": "v2 " + BODY})
    still_v1 = sms(pinpoint, name)
    pinpoint.update_template_active_version(
        TemplateName=name, TemplateType="SMS", TemplateActiveVersionRequest={"Version": "2"}
    )
    versions = pinpoint.list_template_versions(TemplateName=name, TemplateType="SMS")["TemplateVersionsResponse"]

    assert created["Arn"].endswith(f":templates/{name}/SMS")
    assert (still_v1["Version"], still_v1["Body"]) == ("1", BODY)
    assert (sms(pinpoint, name)["Version"], sms(pinpoint, name)["Body"]) == ("2", "v2 " + BODY)
    assert sms(pinpoint, name, "1")["DefaultSubstitutions"] == '{"User.UserAttributes.FirstName": "お客"}'
    assert [v["Version"] for v in versions["Item"]] == ["1", "2"]


def test_an_update_without_a_new_version_overwrites_the_latest_and_must_name_it(pinpoint, name):
    pinpoint.create_sms_template(TemplateName=name, SMSTemplateRequest={"Body": BODY})
    pinpoint.update_sms_template(TemplateName=name, Version="1", SMSTemplateRequest={"Body": "edited"})

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="latest"):
        pinpoint.update_sms_template(TemplateName=name, Version="7", SMSTemplateRequest={"Body": "stale"})
    assert (sms(pinpoint, name)["Version"], sms(pinpoint, name)["Body"]) == ("1", "edited")


def test_list_templates_by_prefix_and_type(pinpoint, name):
    pinpoint.create_sms_template(TemplateName=name, SMSTemplateRequest={"Body": BODY})
    pinpoint.create_voice_template(
        TemplateName=name, VoiceTemplateRequest={"Body": "お電話です", "LanguageCode": "ja-JP", "VoiceId": "Mizuki"}
    )
    pinpoint.create_email_template(
        TemplateName=name, EmailTemplateRequest={"Subject": "ご予約", "TextPart": BODY, "HtmlPart": "<p>" + BODY}
    )

    everything = pinpoint.list_templates(Prefix=name)["TemplatesResponse"]["Item"]
    voice = pinpoint.list_templates(Prefix=name, TemplateType="VOICE")["TemplatesResponse"]["Item"]
    voice_doc = pinpoint.get_voice_template(TemplateName=name)["VoiceTemplateResponse"]

    assert sorted(t["TemplateType"] for t in everything) == ["EMAIL", "SMS", "VOICE"]
    assert [(t["TemplateName"], t["TemplateType"]) for t in voice] == [(name, "VOICE")]
    assert (voice_doc["LanguageCode"], voice_doc["VoiceId"]) == ("ja-JP", "Mizuki")


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"Body": "{{#if User.UserId}}never closed"}, "SMSTemplateRequest.Body"),
        ({"Body": "x", "DefaultSubstitutions": "{not json"}, "SMSTemplateRequest.DefaultSubstitutions"),
        ({"TemplateDescription": "no body"}, "SMSTemplateRequest"),
    ],
)
def test_invalid_templates_are_bad_requests_naming_the_field(pinpoint, name, request_body, field):
    with pytest.raises(pinpoint.exceptions.BadRequestException, match=field.replace(".", r"\.")):
        pinpoint.create_sms_template(TemplateName=name, SMSTemplateRequest=request_body)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        sms(pinpoint, name)


def test_a_name_is_unique_per_type_and_deleting_removes_every_version(pinpoint, name):
    pinpoint.create_sms_template(TemplateName=name, SMSTemplateRequest={"Body": BODY})
    pinpoint.update_sms_template(TemplateName=name, CreateNewVersion=True, SMSTemplateRequest={"Body": "v2"})

    with pytest.raises(pinpoint.exceptions.BadRequestException, match="already exists"):
        pinpoint.create_sms_template(TemplateName=name, SMSTemplateRequest={"Body": BODY})
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="active version"):
        pinpoint.delete_sms_template(TemplateName=name, Version="1")
    pinpoint.delete_sms_template(TemplateName=name, Version="2")
    assert [v["Version"] for v in pinpoint.list_template_versions(TemplateName=name, TemplateType="SMS")[
        "TemplateVersionsResponse"]["Item"]] == ["1"]  # fmt: skip
    pinpoint.delete_sms_template(TemplateName=name)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        sms(pinpoint, name)


def test_an_app_scoped_key_reads_templates_but_cannot_change_them(kizuna, pinpoint, app_id, name):
    pinpoint.create_sms_template(TemplateName=name, SMSTemplateRequest={"Body": BODY})
    store = DynamoAccessKeyStore(
        kizuna.resources.tables["access_keys"], kizuna.resources.kms_key_id, wiring.aws("dynamodb"), wiring.aws("kms")
    )
    key, secret = create_access_key(store, [app_id], "scoped", SystemClock())
    scoped = boto3.client(
        "pinpoint",
        endpoint_url=kizuna.base_url,
        region_name=REGION,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=secret,
    )

    assert scoped.get_sms_template(TemplateName=name)["SMSTemplateResponse"]["Body"] == BODY
    with pytest.raises(scoped.exceptions.ForbiddenException):
        scoped.update_sms_template(TemplateName=name, SMSTemplateRequest={"Body": "hijacked"})
    with pytest.raises(scoped.exceptions.ForbiddenException):
        scoped.delete_sms_template(TemplateName=name)
    assert sms(pinpoint, name)["Body"] == BODY


def test_a_send_with_a_template_reaches_twilio_rendered_for_each_endpoint(kizuna, pinpoint, app_id, name):
    pinpoint.create_sms_template(
        TemplateName=name,
        SMSTemplateRequest={"Body": BODY, "DefaultSubstitutions": '{"User.UserAttributes.FirstName": "お客"}'},
    )
    pinpoint.update_endpoints_batch(
        ApplicationId=app_id,
        EndpointBatchRequest={
            "Item": [
                {"Id": "a", "ChannelType": "SMS", "Address": "+819044440001", "Attributes": {"Date": ["12月1日"]},
                 "User": {"UserAttributes": {"FirstName": ["花子"]}}},
                {"Id": "b", "ChannelType": "SMS", "Address": "+819044440002", "Attributes": {"Date": ["12月2日"]}},
            ]
        },
    )  # fmt: skip

    response = pinpoint.send_messages(
        ApplicationId=app_id,
        MessageRequest={
            "Endpoints": {"a": {}, "b": {}},
            "MessageConfiguration": {"SMSMessage": {"MessageType": "TRANSACTIONAL"}},
            "TemplateConfiguration": {"SMSTemplate": {"Name": name}},
        },
    )["MessageResponse"]
    expected = {"+819044440001": "花子様、ご予約は12月1日です。", "+819044440002": "お客様、ご予約は12月2日です。"}
    deadline = time.monotonic() + 90  # what Twilio received is the point; a loaded machine may take a while
    while time.monotonic() < deadline and not all(kizuna.sandbox.count(to, body) for to, body in expected.items()):
        time.sleep(0.2)

    assert {e["DeliveryStatus"] for e in response["EndpointResult"].values()} == {"SUCCESSFUL"}
    assert {to: kizuna.sandbox.count(to, body) for to, body in expected.items()} == dict.fromkeys(expected, 1)
