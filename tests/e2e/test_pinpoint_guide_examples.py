"""Issue "Moving off Pinpoint" (must-hold): an application written against boto3's pinpoint client, and not by us,
passes against Kizuna with only the client's construction changed. The application here is what AWS's own Amazon
Pinpoint examples do. Each section makes one example's calls with that example's request shapes, checks the response
fields the example's code reads or prints, and checks that the message really went out (to the sandbox Twilio, or to
SES, which is moto in local mode).

Sources. The calls and request shapes are AWS's. Account constants are swapped for local ones: the app id comes from
create_app, senders are @kizuna.local, the origination number is the sandbox's valid From, and destinations are
Japanese mobiles (or the tutorial's fictional US number).

[1] github.com/awsdocs/aws-doc-sdk-examples @ 7d1e1237789cbf5033a7c22d917d17c64de1aaaa (these files last changed in
    afb3309b385db90e6ff01c0268429cde9610f53e), python/example_code/pinpoint/:
      pinpoint_send_email_message_api.py        send_email_message()
      pinpoint_send_sms_message_api.py          send_sms_message() (also the guide's send-messages-sms.md)
      pinpoint_send_templated_email_message.py  send_templated_email_message()
      pinpoint_send_templated_sms_message.py    send_templated_sms_message()
[2] github.com/awsdocs/aws-doc-sdk-examples @ 20d9bc7b09912339f22488ea77fb48fe5ea9aac6 (the Pinpoint "basics"
    scenario, which is not on the default branch at 7d1e1237), python/example_code/pinpoint/:
      pinpoint_hello.py (hello_pinpoint), pinpoint_wrapper.py (PinpointWrapper),
      scenarios/pinpoint_basics_scenario.py (PinpointScenario.run and cleanup, without the CloudFormation setup:
      local mode's SES has kizuna.local verified already)
[3] github.com/awsdocs/amazon-pinpoint-developer-guide @ 0af07e480864b84c454abdeec4ecb70f6705d89c,
      doc-source/send-validate-otp.md: generate_ref_id(), send_otp(), verify_otp()
[4] github.com/awsdocs/amazon-pinpoint-developer-guide @ 64bafbac2cf2dd6392599abcb308c4ed073e5284 (the tutorial
    "Importing endpoints", removed from the guide later):
      doc-source/tutorials-importing-data-lambda-function-process-incoming.md: check_phone_number(),
        check_endpoint_exists(), process_incoming_file() (the rows it writes, and the header)
      doc-source/tutorials-importing-data-lambda-function-import-job.md: check_import_jobs(), create_import_job()
[5] the guide @ 0af07e48, doc-source/tutorials-two-way-sms-part-3.md: the Node.js Lambdas validateNumber(),
    createEndpoint(), sendConfirmation() and updateEndpointOptIn(), with the same calls and parameters made through
    boto3 (members that are undefined in JavaScript are left out, as the JavaScript SDK leaves them out)
[6] the guide @ 0af07e48: doc-source/audience-define-endpoints.md (the update-endpoint request file and the response
    it documents), doc-source/validate-phone-numbers.md (phone-number-validate PhoneNumber=+442079460881),
    doc-source/analytics-query-txn-messaging.md (get-application-date-range-kpi, txn-sms-sent-grouped-by-date, with
    start-time and end-time)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from kizuna.local.sandbox_twilio import VALID_FROM
from kizuna.local.system import REGION, LocalKizuna
from tests.e2e.support import record, until

pytestmark = pytest.mark.e2e

ORIGINATION_NUMBER = VALID_FROM  # the examples' "+12065550199" / "+18555550001": a number the account owns


def connect(kizuna: LocalKizuna, region_name: str | None = REGION) -> Any:
    """The one change the examples get: the client is built with Kizuna's endpoint and a Kizuna key."""
    assert kizuna.credentials is not None
    return boto3.client(
        "pinpoint",
        endpoint_url=kizuna.base_url,
        region_name=region_name,
        aws_access_key_id=kizuna.credentials.access_key_id,
        aws_secret_access_key=kizuna.credentials.secret_access_key,
    )


@pytest.fixture(scope="module")
def client(kizuna: LocalKizuna) -> Any:
    return connect(kizuna)


@pytest.fixture
def project_id(client: Any) -> str:
    return client.create_app(CreateApplicationRequest={"Name": f"guide-{uuid.uuid4().hex[:8]}"})["ApplicationResponse"][
        "Id"
    ]


def enable_email_channel(pinpoint_client: Any, application_id: str, from_address: str) -> dict:
    """[2] PinpointWrapper.update_email_channel: the examples' "make sure the email channel is enabled"."""
    region = pinpoint_client.meta.region_name
    return pinpoint_client.update_email_channel(
        ApplicationId=application_id,
        EmailChannelRequest={
            "FromAddress": from_address,
            "Identity": f"arn:aws:ses:{region}:123456789012:identity/{from_address}",
            "Enabled": True,
        },
    )["EmailChannelResponse"]


def ses_messages(to: str) -> list[Any]:
    """What local SES (moto, in this process) sent to `to`."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
    return [m for m in backend.sent_messages if to in (m.destinations.get("ToAddresses") or [])]


def status(kizuna: LocalKizuna, message_id: str) -> str:
    return (record(kizuna, message_id) or {}).get("status", {}).get("S", "")


# --- [1] pinpoint_send_email_message_api.py -------------------------------------------------------------------------

EMAIL_SUBJECT = "Amazon Pinpoint Test (SDK for Python (Boto3))"
EMAIL_TEXT = """Amazon Pinpoint Test (SDK for Python)
    -------------------------------------
    This email was sent with Amazon Pinpoint using the AWS SDK for Python (Boto3).
    For more information, see https://aws.amazon.com/sdk-for-python/
                """
EMAIL_HTML = """<html>
    <head></head>
    <body>
      <h1>Amazon Pinpoint Test (SDK for Python (Boto3)</h1>
      <p>This email was sent with
        <a href='https://aws.amazon.com/pinpoint/'>Amazon Pinpoint</a> using the
        <a href='https://aws.amazon.com/sdk-for-python/'>
          AWS SDK for Python (Boto3)</a>.</p>
    </body>
    </html>
                """


def send_email_message(
    pinpoint_client: Any,
    app_id: str,
    sender: str,
    to_addresses: list[str],
    char_set: str,
    subject: str,
    html_message: str,
    text_message: str,
) -> dict[str, str]:
    response = pinpoint_client.send_messages(
        ApplicationId=app_id,
        MessageRequest={
            "Addresses": {to_address: {"ChannelType": "EMAIL"} for to_address in to_addresses},
            "MessageConfiguration": {
                "EmailMessage": {
                    "FromAddress": sender,
                    "SimpleEmail": {
                        "Subject": {"Charset": char_set, "Data": subject},
                        "HtmlPart": {"Charset": char_set, "Data": html_message},
                        "TextPart": {"Charset": char_set, "Data": text_message},
                    },
                }
            },
        },
    )
    return {to_address: message["MessageId"] for to_address, message in response["MessageResponse"]["Result"].items()}


def test_send_email_message_reaches_ses(kizuna: LocalKizuna) -> None:
    pinpoint_client = connect(kizuna, "us-west-2")  # the 2019 version of the example used us-west-2
    app_id = pinpoint_client.create_app(CreateApplicationRequest={"Name": "email-example"})["ApplicationResponse"]["Id"]
    sender, to_address = "sender@kizuna.local", "recipient@kizuna.local"
    enable_email_channel(pinpoint_client, app_id, sender)

    message_ids = send_email_message(
        pinpoint_client, app_id, sender, [to_address], "UTF-8", EMAIL_SUBJECT, EMAIL_HTML, EMAIL_TEXT
    )

    assert list(message_ids) == [to_address] and message_ids[to_address]
    (sent,) = until(lambda: ses_messages(to_address))
    assert (sent.source, sent.subject) == (sender, EMAIL_SUBJECT)
    assert "AWS SDK for Python (Boto3)</a>" in sent.body
    assert until(lambda: status(kizuna, message_ids[to_address]) == "queued")  # SES took it


# --- [1] pinpoint_send_sms_message_api.py ---------------------------------------------------------------------------

SMS_MESSAGE = "This is a sample message sent from Amazon Pinpoint by using the AWS SDK for Python (Boto 3)."


def send_sms_message(
    pinpoint_client: Any,
    app_id: str,
    origination_number: str,
    destination_number: str,
    message: str,
    message_type: str,
) -> str:
    response = pinpoint_client.send_messages(
        ApplicationId=app_id,
        MessageRequest={
            "Addresses": {destination_number: {"ChannelType": "SMS"}},
            "MessageConfiguration": {
                "SMSMessage": {
                    "Body": message,
                    "MessageType": message_type,
                    "OriginationNumber": origination_number,
                }
            },
        },
    )
    return response["MessageResponse"]["Result"][destination_number]["MessageId"]


def test_send_sms_message_reaches_twilio_from_the_origination_number(kizuna, client, project_id):
    destination_number = "+819012345001"

    message_id = send_sms_message(
        client, project_id, ORIGINATION_NUMBER, destination_number, SMS_MESSAGE, "TRANSACTIONAL"
    )

    assert message_id
    assert kizuna.drain(30)
    assert kizuna.sandbox.count(destination_number, SMS_MESSAGE) == 1
    (sent,) = [r for r in kizuna.sandbox.requests if r.to == destination_number]
    assert sent.from_ == ORIGINATION_NUMBER
    assert status(kizuna, message_id) == "delivered"


# --- [1] pinpoint_send_templated_sms_message.py ---------------------------------------------------------------------


def send_templated_sms_message(
    pinpoint_client: Any,
    project_id: str,
    destination_number: str,
    message_type: str,
    origination_number: str,
    template_name: str,
    template_version: str,
) -> str:
    response = pinpoint_client.send_messages(
        ApplicationId=project_id,
        MessageRequest={
            "Addresses": {destination_number: {"ChannelType": "SMS"}},
            "MessageConfiguration": {
                "SMSMessage": {
                    "MessageType": message_type,
                    "OriginationNumber": origination_number,
                }
            },
            "TemplateConfiguration": {"SMSTemplate": {"Name": template_name, "Version": template_version}},
        },
    )
    return response["MessageResponse"]["Result"][destination_number]["MessageId"]


def test_send_templated_sms_message_sends_version_1_of_the_template(kizuna, project_id):
    pinpoint_client = connect(kizuna, "us-east-1")
    body = "ExampleCorp: your order has shipped."
    pinpoint_client.create_sms_template(TemplateName="My_SMS_Template", SMSTemplateRequest={"Body": body})
    destination_number = "+819012345002"

    message_id = send_templated_sms_message(
        pinpoint_client, project_id, destination_number, "TRANSACTIONAL", ORIGINATION_NUMBER, "My_SMS_Template", "1"
    )

    assert message_id
    assert kizuna.drain(30)
    assert kizuna.sandbox.count(destination_number, body) == 1
    assert status(kizuna, message_id) == "delivered"


# --- [1] pinpoint_send_templated_email_message.py -------------------------------------------------------------------


def send_templated_email_message(
    pinpoint_client: Any,
    project_id: str,
    sender: str,
    to_addresses: list[str],
    template_name: str,
    template_version: str,
) -> dict[str, str]:
    response = pinpoint_client.send_messages(
        ApplicationId=project_id,
        MessageRequest={
            "Addresses": {to_address: {"ChannelType": "EMAIL"} for to_address in to_addresses},
            "MessageConfiguration": {"EmailMessage": {"FromAddress": sender}},
            "TemplateConfiguration": {"EmailTemplate": {"Name": template_name, "Version": template_version}},
        },
    )
    return {to_address: message["MessageId"] for to_address, message in response["MessageResponse"]["Result"].items()}


def test_send_templated_email_message_reaches_ses_for_every_address(kizuna, client, project_id):
    sender = "sender@kizuna.local"
    to_addresses = ["first.recipient@kizuna.local", "second.recipient@kizuna.local"]
    enable_email_channel(client, project_id, sender)
    client.create_email_template(
        TemplateName="My_Email_Template",
        EmailTemplateRequest={
            "Subject": "Your ExampleCorp order",
            "HtmlPart": "<p>Hello {{Address}}, your order has shipped.</p>",
            "TextPart": "Hello {{Address}}, your order has shipped.",
        },
    )

    message_ids = send_templated_email_message(client, project_id, sender, to_addresses, "My_Email_Template", "1")

    assert set(message_ids) == set(to_addresses) and len(set(message_ids.values())) == 2
    for to_address in to_addresses:
        (sent,) = until(lambda to_address=to_address: ses_messages(to_address))
        assert (sent.source, sent.subject) == (sender, "Your ExampleCorp order")
        assert f"Hello {to_address}, your order has shipped." in sent.body


# --- [2] pinpoint_hello.py, PinpointWrapper and PinpointScenario ----------------------------------------------------


def test_the_pinpoint_basics_scenario_runs_its_email_campaign_and_cleans_up(kizuna, client):
    email_address = "marketing@kizuna.local"

    # Step 1: CreateApp. The scenario prints Name, Id and Arn.
    app = client.create_app(CreateApplicationRequest={"Name": "PinpointBasicsExample"}).get("ApplicationResponse", {})
    app_id = app.get("Id")
    assert app_id and app.get("Name") == "PinpointBasicsExample" and app_id in app.get("Arn", "")

    # hello_pinpoint: GetApps with a page size of 5, printing each Name and Id.
    apps = client.get_apps(PageSize="5").get("ApplicationsResponse", {}).get("Item", [])
    assert 1 <= len(apps) <= 5 and all(a.get("Name") and a.get("Id") for a in apps)

    # Step 2: UpdateEmailChannel. It prints FromAddress, Identity and Enabled.
    channel = enable_email_channel(client, app_id, email_address)
    assert channel.get("FromAddress") == email_address and channel.get("Enabled") is True
    assert channel.get("Identity", "").endswith(f":identity/{email_address}")

    # The scenario's account has no endpoints yet. Give the campaign one subscriber to reach.
    subscriber = "subscriber@kizuna.local"
    client.update_endpoint(
        ApplicationId=app_id, EndpointId="subscriber-1", EndpointRequest={"ChannelType": "EMAIL", "Address": subscriber}
    )

    # Step 3: CreateSegment (Demographic.Channel INCLUSIVE EMAIL). It prints Name, Id and SegmentType.
    segment = client.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={
            "Name": "EmailSubscribers",
            "Dimensions": {"Demographic": {"Channel": {"DimensionType": "INCLUSIVE", "Values": ["EMAIL"]}}},
        },
    ).get("SegmentResponse", {})
    segment_id = segment.get("Id")
    assert segment_id and segment.get("Name") == "EmailSubscribers" and segment.get("SegmentType") == "DIMENSIONAL"

    # Step 4: CreateCampaign (EmailMessage, Schedule IMMEDIATE). It prints Name, Id and State.CampaignStatus.
    campaign = client.create_campaign(
        ApplicationId=app_id,
        WriteCampaignRequest={
            "Name": "WelcomeEmailCampaign",
            "SegmentId": segment_id,
            "MessageConfiguration": {
                "EmailMessage": {
                    "Title": "Welcome to Our Service!",
                    "Body": "Welcome! Thank you for subscribing to our service.",
                    "HtmlBody": (
                        "<html><body><h1>Welcome!</h1><p>Thank you for subscribing to our service.</p></body></html>"
                    ),
                    "FromAddress": email_address,
                }
            },
            "Schedule": {"StartTime": "IMMEDIATE"},
        },
    ).get("CampaignResponse", {})
    campaign_id = campaign.get("Id")
    assert campaign_id and campaign.get("Name") == "WelcomeEmailCampaign"
    assert campaign.get("State", {}).get("CampaignStatus")

    # Step 5: SendMessages to the scenario's own address. It prints DeliveryStatus, StatusCode and MessageId.
    result = (
        client.send_messages(
            ApplicationId=app_id,
            MessageRequest={
                "Addresses": {email_address: {"ChannelType": "EMAIL"}},
                "MessageConfiguration": {
                    "EmailMessage": {
                        "FromAddress": email_address,
                        "SimpleEmail": {
                            "Subject": {"Charset": "UTF-8", "Data": "Direct Message from Pinpoint"},
                            "HtmlPart": {
                                "Charset": "UTF-8",
                                "Data": (
                                    "<h1>Hello!</h1><p>This is a transactional email sent via the SendMessages API.</p>"
                                ),
                            },
                            "TextPart": {
                                "Charset": "UTF-8",
                                "Data": "Hello! This is a transactional email sent via the SendMessages API.",
                            },
                        },
                    }
                },
            },
        )
        .get("MessageResponse", {})
        .get("Result", {})
    )
    assert result[email_address].get("DeliveryStatus") == "SUCCESSFUL" and result[email_address].get("MessageId")
    assert result[email_address].get("StatusCode") in (200, 202)

    # The scenario sleeps 5 s "so the campaign has time to execute". Here we wait until it has.
    def activities() -> list[dict]:
        return (
            client.get_campaign_activities(ApplicationId=app_id, CampaignId=campaign_id)
            .get("ActivitiesResponse", {})
            .get("Item", [])
        )

    done = until(lambda: [a for a in activities() if a.get("State") == "COMPLETED"], timeout=30)

    # Step 6: GetCampaign. It prints Name, Id, SegmentId, State.CampaignStatus and CreationDate.
    detail = client.get_campaign(ApplicationId=app_id, CampaignId=campaign_id).get("CampaignResponse", {})
    assert (detail.get("Name"), detail.get("Id"), detail.get("SegmentId")) == (
        "WelcomeEmailCampaign",
        campaign_id,
        segment_id,
    )
    assert detail.get("State", {}).get("CampaignStatus") == "COMPLETED" and detail.get("CreationDate")

    # Step 7: GetCampaignActivities. It prints Id, CampaignId, State, Start, End and the two endpoint counts.
    (activity,) = done
    assert activity.get("Id") and activity.get("CampaignId") == campaign_id
    assert activity.get("Start") and activity.get("End")
    assert (activity.get("SuccessfulEndpointCount"), activity.get("TotalEndpointCount")) == (1, 1)

    (welcome,) = until(lambda: ses_messages(subscriber))
    assert (welcome.source, welcome.subject) == (email_address, "Welcome to Our Service!")
    (direct,) = until(lambda: ses_messages(email_address))
    assert direct.subject == "Direct Message from Pinpoint"

    # Cleanup: DeleteCampaign, DeleteSegment, DeleteApp.
    client.delete_campaign(ApplicationId=app_id, CampaignId=campaign_id)
    client.delete_segment(ApplicationId=app_id, SegmentId=segment_id)
    client.delete_app(ApplicationId=app_id)
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_app(ApplicationId=app_id)


# --- [3] send-validate-otp.md ---------------------------------------------------------------------------------------


# The guide's send_otp() and verify_otp() build their own boto3.client('pinpoint', region_name=region) and print the
# response; these take the client and return the response so the test can read what the guide's print shows.


def generate_ref_id(destination_number: str, brand_name: str, source: str) -> str:
    ref_id = brand_name + source + destination_number
    return hashlib.md5(ref_id.encode()).hexdigest()


def send_otp(
    pinpoint_client: Any,
    app_id: str,
    destination_number: str,
    code_length: int,
    validity_period: int,
    brand_name: str,
    source: str,
    language: str,
) -> dict:
    return pinpoint_client.send_otp_message(
        ApplicationId=app_id,
        SendOTPMessageRequestParameters={
            "Channel": "SMS",
            "BrandName": brand_name,
            "CodeLength": code_length,
            "ValidityPeriod": validity_period,
            "AllowedAttempts": 3,  # the guide's allowedAttempts
            "Language": language,
            "OriginationIdentity": ORIGINATION_NUMBER,
            "DestinationIdentity": destination_number,
            "ReferenceId": generate_ref_id(destination_number, brand_name, source),
        },
    )


def verify_otp(pinpoint_client: Any, app_id: str, destination_number: str, otp: str, brand_name: str, source: str):
    return pinpoint_client.verify_otp_message(
        ApplicationId=app_id,
        VerifyOTPMessageRequestParameters={
            "DestinationIdentity": destination_number,
            "ReferenceId": generate_ref_id(destination_number, brand_name, source),
            "Otp": otp,
        },
    )


def test_send_otp_then_verify_otp(kizuna, project_id):
    pinpoint_client = connect(kizuna, "us-east-1")
    destination_number = "+819012345003"

    response = send_otp(pinpoint_client, project_id, destination_number, 6, 15, "ExampleCorp", "CreateAccount", "en-US")

    # The SendOtpMessage response the guide documents.
    assert response["MessageResponse"]["ApplicationId"] == project_id
    result = response["MessageResponse"]["Result"][destination_number]
    assert result["DeliveryStatus"] == "SUCCESSFUL" and result["StatusCode"] == 200 and result["MessageId"]
    (sms,) = [r for r in kizuna.sandbox.requests if r.to == destination_number]  # sent before the call returned
    assert sms.from_ == ORIGINATION_NUMBER and "ExampleCorp" in sms.body
    (otp,) = re.findall(r"\b\d{6}\b", sms.body)

    wrong = "012345" if otp != "012345" else "543210"  # the guide's own example verifies "012345"
    refused = verify_otp(pinpoint_client, project_id, destination_number, wrong, "ExampleCorp", "CreateAccount")
    other_source = verify_otp(pinpoint_client, project_id, destination_number, otp, "ExampleCorp", "SignIn")
    accepted = verify_otp(pinpoint_client, project_id, destination_number, otp, "ExampleCorp", "CreateAccount")

    assert refused["VerificationResponse"] == {"Valid": False}
    assert other_source["VerificationResponse"] == {"Valid": False}  # another reference id
    assert accepted["VerificationResponse"] == {"Valid": True}


# --- [4] the "Importing endpoints" tutorial's Lambda functions ------------------------------------------------------

# process_incoming_file() writes this header, then one row per e-mail address and one per phone number.
IMPORT_HEADER = [
    "ChannelType",
    "Address",
    "Id",
    "User.UserAttributes.City",
    "User.UserAttributes.Region",
    "User.UserAttributes.PostalCode",
    "Location.Country",
    "User.UserAttributes.Salutation",
    "User.UserAttributes.FirstName",
    "User.UserAttributes.LastName",
    "User.UserAttributes.Title",
    "User.UserAttributes.StreetAddress",
    "User.UserAttributes.ContactRecordType",
    "User.UserAttributes.AccountName",
    "User.UserAttributes.AccountOwner",
    "User.UserAttributes.LeadSource",
    "User.UserId",
]
# The incoming file's columns: Salutation, FirstName, LastName, Title, StreetAddress, City, Region, PostalCode,
# Country, Phone, Email, ContactRecordType, AccountName, AccountOwner, LeadSource.
INCOMING_ROWS = [
    ["Ms.", "Hanako", "Yamada", "CTO", "1-1 Marunouchi", "Chiyoda", "Tokyo", "100-0005", "日本", "090-1234-5007",
     "hanako.yamada@kizuna.local", "Lead", "Example KK", "Carlos Salazar", "Web"],
    ["Mr.", "Taro", "Suzuki", "Engineer", "2-2 Umeda", "Osaka", "Osaka", "530-0001", "Japan", "06-1234-5678", "",
     "Contact", "Example KK", "Carlos Salazar", "Referral"],
]  # fmt: skip
JAPAN_ALIASES = ["jp", "jpn", "japan", "日本"]  # get_country_code()'s japanAliases


def check_phone_number(pinpoint_client: Any, country: str, phone: str) -> list[str]:
    """input_internationalization.check_phone_number: prefix the country code when it is missing (keeping the trunk
    0: "the phone number validation service performs additional cleansing"), then validate."""
    phone = re.sub("[^0-9]", "", phone)
    if country == "JP" and not phone.startswith("81"):
        phone = "+81" + phone
    elif country in ("CA", "US") and not phone.startswith("1"):
        phone = "+1" + phone
    response = pinpoint_client.phone_number_validate(
        NumberValidateRequest={"IsoCountryCode": country, "PhoneNumber": phone}
    )
    return [
        response["NumberValidateResponse"]["CleansedPhoneNumberE164"],
        response["NumberValidateResponse"]["PhoneType"],
    ]


def check_endpoint_exists(pinpoint_client: Any, project_id: str, endpoint_id: str) -> list[Any]:
    try:
        response = pinpoint_client.get_endpoint(ApplicationId=project_id, EndpointId=endpoint_id)
    except ClientError:
        return [False, ""]
    return [True, response["EndpointResponse"]["User"]["UserId"]]


def processed_rows(pinpoint_client: Any, project_id: str) -> list[list[str]]:
    """process_incoming_file()'s loop over INCOMING_ROWS."""
    rows = []
    for row in INCOMING_ROWS:
        user_id = str(uuid.uuid4())
        country = "JP" if row[8].strip().lower() in JAPAN_ALIASES else "US"
        details = [row[5], row[6], row[7], country, row[0], row[1], row[2], row[3], row[4], row[11], row[12], row[13]]
        details.append(row[14])
        if row[10]:
            exists, existing_user = check_endpoint_exists(pinpoint_client, project_id, row[10])
            user_id = existing_user if exists else user_id
            rows.append(["EMAIL", row[10], row[10], *details, user_id])
        if row[9]:
            cleansed_phone, phone_type = check_phone_number(pinpoint_client, country, row[9])
            channel = "SMS" if phone_type in ("MOBILE", "PREPAID") else "VOICE"
            exists, existing_user = check_endpoint_exists(pinpoint_client, project_id, cleansed_phone)
            user_id = existing_user if exists else user_id
            rows.append([channel, cleansed_phone, cleansed_phone, *details, user_id])
    return rows


def check_import_jobs(pinpoint_client: Any, project_id: str, s3_url: str) -> bool:
    response = pinpoint_client.get_import_jobs(ApplicationId=project_id)
    url_list = [item["Definition"]["S3Url"] for item in response["ImportJobsResponse"]["Item"]]
    return s3_url in url_list


def create_import_job(pinpoint_client: Any, project_id: str, import_role_arn: str, s3_url: str) -> dict:
    segment_name = s3_url.split("/")[4]
    response = pinpoint_client.create_import_job(
        ApplicationId=project_id,
        ImportJobRequest={
            "DefineSegment": True,
            "Format": "CSV",
            "RegisterEndpoints": True,
            "RoleArn": import_role_arn,
            "S3Url": s3_url,
            "SegmentName": segment_name,
        },
    )
    # The Lambda prints these three.
    return {
        "Id": response["ImportJobResponse"]["Id"],
        "JobStatus": response["ImportJobResponse"]["JobStatus"],
        "SegmentId": response["ImportJobResponse"]["Definition"]["SegmentId"],
    }


def test_the_importing_endpoints_tutorial_validates_imports_and_finds_its_endpoints(kizuna, client, project_id):
    s3 = boto3.client("s3", endpoint_url=kizuna.aws_endpoint, region_name=REGION)
    bucket = "pinpoint-import-tutorial"
    s3.create_bucket(Bucket=bucket)

    assert check_phone_number(client, "JP", "090-1234-5007") == ["+819012345007", "MOBILE"]
    assert check_endpoint_exists(client, project_id, "hanako.yamada@kizuna.local") == [False, ""]
    rows = processed_rows(client, project_id)
    assert [r[:3] for r in rows] == [
        ["EMAIL", "hanako.yamada@kizuna.local", "hanako.yamada@kizuna.local"],
        ["SMS", "+819012345007", "+819012345007"],
        ["VOICE", "+81612345678", "+81612345678"],  # an Osaka landline: not MOBILE, so the tutorial makes it VOICE
    ]

    # The processed file, where the first Lambda writes it (utf-8-sig, as its s3fs writer does).
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IMPORT_HEADER)
    writer.writerows(rows)
    key = "processed/testfile/testfile__part1__of1_processed.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue().encode("utf-8-sig"))

    # The second Lambda, for that S3 event: s3_url is the file's folder.
    s3_url = "s3://" + f"{bucket}/{key.rsplit('/', 1)[0]}"
    assert check_import_jobs(client, project_id, s3_url) is False
    job = create_import_job(client, project_id, "arn:aws:iam::123456789012:role/ImporterPinpointRole", s3_url)
    assert job["Id"] and job["JobStatus"] and job["SegmentId"]

    def finished() -> dict | None:
        current = client.get_import_job(ApplicationId=project_id, JobId=job["Id"])["ImportJobResponse"]
        return current if current["JobStatus"] in ("COMPLETED", "FAILED") else None

    completed = until(finished, timeout=30)
    assert completed and completed["JobStatus"] == "COMPLETED" and completed["TotalProcessed"] == 3
    assert check_import_jobs(client, project_id, s3_url) is True  # a second S3 event would not import again

    hanako = rows[0][-1]
    assert check_endpoint_exists(client, project_id, "hanako.yamada@kizuna.local") == [True, hanako]
    assert check_endpoint_exists(client, project_id, "+819012345007") == [True, hanako]
    assert check_endpoint_exists(client, project_id, "+81612345678") == [True, rows[2][-1]]
    phone = client.get_endpoint(ApplicationId=project_id, EndpointId="+819012345007")["EndpointResponse"]
    assert (phone["ChannelType"], phone["Location"]["Country"]) == ("SMS", "JP")
    assert phone["User"]["UserAttributes"]["FirstName"] == ["Hanako"]
    segment = client.get_segment(ApplicationId=project_id, SegmentId=job["SegmentId"])["SegmentResponse"]
    assert (segment["Name"], segment["SegmentType"]) == ("testfile", "IMPORT")


# --- [5] the two-way SMS tutorial's registration Lambdas (Node.js), through boto3 -----------------------------------

REGISTRATION_MESSAGE = (
    "ExampleCorp: Reply YES to confirm your subscription. 2 msgs per "
    "month. No purchase req'd. Msg&data rates may apply. Terms: "
    "example.com/terms-sms"
)


def defined(**members: Any) -> dict[str, Any]:
    """What the JavaScript SDK sends for an object literal: the members that are not undefined."""
    return {k: v for k, v in members.items() if v is not None}


def validate_number(pinpoint_client: Any, project_id: str, event: dict) -> str | None:
    destination_number = event["destinationNumber"]
    if len(destination_number) == 10:
        destination_number = "+1" + destination_number
    data = pinpoint_client.phone_number_validate(
        NumberValidateRequest={"IsoCountryCode": "US", "PhoneNumber": destination_number}
    )
    if data["NumberValidateResponse"]["PhoneTypeCode"] == 0:
        return create_endpoint(
            pinpoint_client, project_id, data, event["firstName"], event["lastName"], event["source"]
        )
    return None  # "Received a phone number that isn't capable of receiving SMS messages."


def create_endpoint(pinpoint_client: Any, project_id: str, data: dict, first_name, last_name, source) -> str:
    validated = data["NumberValidateResponse"]
    destination_number = validated["CleansedPhoneNumberE164"]
    endpoint_id = validated["CleansedPhoneNumberE164"][1:]
    pinpoint_client.update_endpoint(
        ApplicationId=project_id,
        EndpointId=endpoint_id,
        EndpointRequest={
            "ChannelType": "SMS",
            "Address": destination_number,
            "OptOut": "ALL",
            "Location": defined(
                PostalCode=validated.get("ZipCode"),
                City=validated.get("City"),
                Country=validated.get("CountryCodeIso2"),
            ),
            "Demographic": defined(Timezone=validated.get("Timezone")),
            "Attributes": {"Source": [source]},
            "User": {"UserAttributes": {"FirstName": [first_name], "LastName": [last_name]}},
        },
    )
    return send_confirmation(pinpoint_client, project_id, destination_number)


def send_confirmation(pinpoint_client: Any, project_id: str, destination_number: str) -> str:
    data = pinpoint_client.send_messages(
        ApplicationId=project_id,
        MessageRequest={
            "Addresses": {destination_number: {"ChannelType": "SMS"}},
            "MessageConfiguration": {
                "SMSMessage": {
                    "Body": REGISTRATION_MESSAGE,
                    "MessageType": "TRANSACTIONAL",
                    "OriginationNumber": ORIGINATION_NUMBER,
                }
            },
        },
    )
    return data["MessageResponse"]["Result"][destination_number]["StatusMessage"]  # "Message sent! " + this


def opt_in_handler(pinpoint_client: Any, project_id: str, event: dict, confirm_keyword: str = "yes") -> None:
    timestamp = event["Records"][0]["Sns"]["Timestamp"]
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    if confirm_keyword in message["messageBody"].lower():
        origination_number = message["originationNumber"]
        pinpoint_client.update_endpoint(
            ApplicationId=project_id,
            EndpointId=origination_number[1:],
            EndpointRequest={
                "Address": origination_number,
                "ChannelType": "SMS",
                "OptOut": "NONE",
                "Attributes": {"OptInTimestamp": [timestamp]},
            },
        )


def test_the_sms_registration_tutorial_registers_confirms_and_opts_in(kizuna, client, project_id):
    # The tutorial's test event for the RegistrationForm function.
    event = {
        "destinationNumber": "2065550142",
        "firstName": "Carlos",
        "lastName": "Salazar",
        "source": "Registration form test",
    }

    status_message = validate_number(client, project_id, event)

    assert status_message
    assert kizuna.drain(30)
    assert kizuna.sandbox.count("+12065550142", REGISTRATION_MESSAGE) == 1
    registered = client.get_endpoint(ApplicationId=project_id, EndpointId="12065550142")["EndpointResponse"]
    assert (registered["Address"], registered["OptOut"]) == ("+12065550142", "ALL")
    assert registered["Location"]["Country"] == "US" and registered["Demographic"]["Timezone"] == "America/Los_Angeles"

    # The tutorial's test event for the RegistrationForm_OptIn function (the customer's "Yes", relayed by SNS).
    sns = {"originationNumber": "+12065550142", "messageBody": "Yes"}
    optin = {"Records": [{"Sns": {"Message": json.dumps(sns), "Timestamp": "2019-02-20T17:47:44.147Z"}}]}
    opt_in_handler(client, project_id, optin)

    # The tutorial then finds the endpoint by a segment on User.UserAttributes.FirstName: one eligible endpoint.
    # That needs the opt-in update (no User member) to leave the user's attributes, and the Source attribute, as
    # they were.
    confirmed = client.get_endpoint(ApplicationId=project_id, EndpointId="12065550142")["EndpointResponse"]
    assert confirmed["OptOut"] == "NONE"
    assert confirmed["Attributes"] == {
        "Source": ["Registration form test"],
        "OptInTimestamp": ["2019-02-20T17:47:44.147Z"],
    }
    assert confirmed["User"]["UserAttributes"] == {"FirstName": ["Carlos"], "LastName": ["Salazar"]}


# --- [6] the guide's update-endpoint, phone-number-validate and KPI examples ----------------------------------------

# audience-define-endpoints.md: the endpoint-request-file.json of the update-endpoint example.
ENDPOINT_REQUEST_FILE = {
    "ChannelType": "APNS",
    "Address": "1a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7q8r9s0t1u2v3w4x5y6z7a8b9c0d1e2f",
    "Attributes": {"Interests": ["Technology", "Music", "Travel"]},
    "Metrics": {"technology_interest_level": 9.0, "music_interest_level": 6.0, "travel_interest_level": 4.0},
    "Demographic": {
        "AppVersion": "1.0",
        "Make": "apple",
        "Model": "iPhone",
        "ModelVersion": "8",
        "Platform": "ios",
        "PlatformVersion": "11.3.1",
        "Timezone": "America/Los_Angeles",
    },
    "Location": {"Country": "US", "City": "Seattle", "PostalCode": "98121", "Latitude": 47.61, "Longitude": -122.33},
}


def test_the_guides_update_endpoint_request_is_accepted_and_read_back(client, project_id):
    response = client.update_endpoint(
        ApplicationId=project_id, EndpointId="example_endpoint", EndpointRequest=ENDPOINT_REQUEST_FILE
    )

    # The guide's documented answer: {"RequestID": "...", "Message": "Accepted"}.
    assert response["MessageBody"]["Message"] == "Accepted" and response["MessageBody"]["RequestID"]
    endpoint = client.get_endpoint(ApplicationId=project_id, EndpointId="example_endpoint")["EndpointResponse"]
    assert {k: endpoint[k] for k in ENDPOINT_REQUEST_FILE} == ENDPOINT_REQUEST_FILE
    assert (endpoint["Id"], endpoint["ApplicationId"]) == ("example_endpoint", project_id)


def test_the_guides_phone_number_validate_example(client):
    response = client.phone_number_validate(NumberValidateRequest={"PhoneNumber": "+442079460881"})

    validated = response["NumberValidateResponse"]
    assert validated["CleansedPhoneNumberE164"] == "+442079460881"
    assert (validated["CountryCodeIso2"], validated["CountryCodeNumeric"], validated["Country"]) == (
        "GB",
        "44",
        "United Kingdom",
    )
    assert validated["OriginalPhoneNumber"] == "+442079460881"
    codes = {"MOBILE": 0, "LANDLINE": 1, "VOIP": 2, "INVALID": 3, "PREPAID": 4, "OTHER": 5}
    assert codes[validated["PhoneType"]] == validated["PhoneTypeCode"]


def test_the_guides_transactional_sms_kpi_counts_what_was_sent(kizuna, client, project_id):
    for destination_number in ("+819012345011", "+819012345012"):
        send_sms_message(client, project_id, ORIGINATION_NUMBER, destination_number, SMS_MESSAGE, "TRANSACTIONAL")
    assert kizuna.drain(30)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start_time, end_time = today - timedelta(days=2), today + timedelta(hours=23, minutes=59, seconds=59)

    def sent() -> float:
        response = client.get_application_date_range_kpi(
            ApplicationId=project_id,
            KpiName="txn-sms-sent-grouped-by-date",
            StartTime=start_time,
            EndTime=end_time,
        )["ApplicationDateRangeKpiResponse"]
        assert response["KpiName"] == "txn-sms-sent-grouped-by-date" and response["ApplicationId"] == project_id
        rows = response["KpiResult"]["Rows"]
        assert all(r["GroupedBys"][0]["Key"] == "Date" and r["Values"][0]["Type"] == "Double" for r in rows)
        return sum(float(v["Value"]) for r in rows for v in r["Values"])

    assert until(lambda: sent() == 2.0, timeout=20)
