"""Personal data and secrets never reach the logs: local mode runs a whole engagement (endpoints and a user, SMS to
an endpoint and to an address, a failing number, e-mail, a one-time password, consent keywords, a reply, a
WhatsApp message, a forged webhook, a billed consultation with its call, the user's erasure) while every log record
any logger emits is captured, at DEBUG for Kizuna's logger and INFO for every library (stricter than Lambda, whose
root logger stays at WARNING). Then each phone number, e-mail address and secret used is searched for, in every
form a log line could hold it (E.164, without the +, national digits, national format, URL-encoded).

Kizuna's own log calls carry ids, not addresses, and its logger's formatter masks any address that gets into a line
anyway (test_security_log_formatter.py); the twilio SDK's request log, which would hold looked-up numbers at INFO,
is kept to warnings (test_security_provider_logs.py). This test finds whatever got through either.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
import pytest
import requests

from kizuna import observability
from kizuna.adapters.stripe_payments import make_stripe_client
from kizuna.local.sandbox_twilio import VALID_FROM, SandboxTwilio
from kizuna.local.system import LocalKizuna

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Bare functions are deprecated")]

USER_ID = "user-aiko-1"
PHONES = {
    "endpoint": "+819011110001",
    "address": "+819011110002",
    "stop": "+819011110003",
    "reply": "+819011110004",
    "whatsapp": "+819011110005",
    "forged": "+819011110006",
    "otp": "+819011110007",
    "client": "+819011110008",
    "expert": "+819033334444",
    "events": "+819011110009",
    "bad_request": "+8190111100",  # too short: refused, with the number in the request
}
EMAILS = {"endpoint": "aiko.tanaka@example.jp", "stripe_customer": "client.kimura@example.jp"}
# Loggers that are not Kizuna's: local mode's stand-ins for AWS and the providers (they do not exist in Lambda).
STAND_INS = ("kizuna.local", "werkzeug", "moto", "localstripe", "aiohttp")


class Capture(logging.Handler):
    """Every record any logger emits, rendered the way Powertools renders it (JSON with extra keys and traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

        self._format = LambdaPowertoolsFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self._format.format(record)
        except Exception:  # noqa: BLE001 - a record the JSON formatter cannot render is still searched
            text = f"{record.msg!r} {record.args!r}"
        with self._lock:
            self.lines.append((record.name, text))


class Tee(io.TextIOBase):
    """The Powertools handler's own output (what reaches CloudWatch), kept as well as written on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.fixture(scope="module")
def logs() -> Iterator[dict[str, Any]]:
    capture = Capture()
    root = logging.getLogger()
    saved_root_level = root.level
    kizuna_logger = observability.logger
    saved_level = kizuna_logger.log_level
    handler = kizuna_logger.registered_handler
    tee = Tee(handler.stream)
    saved_stream = handler.setStream(tee)
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    kizuna_logger.setLevel(logging.DEBUG)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
        try:
            with LocalKizuna(sandbox=SandboxTwilio(call_time_scale=0.002)) as kizuna:
                used = _run_the_flow(kizuna)
                kizuna.drain(60)
        finally:
            root.removeHandler(capture)
            root.setLevel(saved_root_level)
            kizuna_logger.setLevel(saved_level)
            handler.setStream(saved_stream)
    yield {"capture": capture, "powertools": "".join(tee.parts), **used}


def _run_the_flow(kizuna: LocalKizuna) -> dict[str, Any]:
    client = kizuna.kizuna_client()
    app = client.create_app(CreateApplicationRequest={"Name": f"logs-{uuid.uuid4().hex[:8]}"})["ApplicationResponse"]
    app_id = app["Id"]
    user = {"UserId": USER_ID}
    client.update_endpoint(
        ApplicationId=app_id,
        EndpointId="phone",
        EndpointRequest={"ChannelType": "SMS", "Address": PHONES["endpoint"], "User": user},
    )
    client.update_email_channel(
        ApplicationId=app_id,
        EmailChannelRequest={
            "FromAddress": "shop@kizuna.local",
            "Identity": "arn:aws:ses:us-east-1:123456789012:identity/kizuna.local",
            "Enabled": True,
        },
    )
    client.update_endpoint(
        ApplicationId=app_id,
        EndpointId="mail",
        EndpointRequest={"ChannelType": "EMAIL", "Address": EMAILS["endpoint"], "User": user},
    )
    # Refused requests carry the number too (the API answers 400; nothing may log it).
    with contextlib.suppress(client.exceptions.BadRequestException):
        client.update_endpoint(
            ApplicationId=app_id,
            EndpointId="bad",
            EndpointRequest={"ChannelType": "SMS", "Address": PHONES["bad_request"]},
        )
    sms = {"SMSMessage": {"Body": "ご予約ありがとうございます"}}
    client.send_messages(
        ApplicationId=app_id,
        MessageRequest={
            "Endpoints": {"phone": {}},
            "Addresses": {PHONES["address"]: {"ChannelType": "SMS"}, "+15005550001": {"ChannelType": "SMS"}},
            "MessageConfiguration": sms,
        },
    )
    email = {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "お知らせ"}, "TextPart": {"Data": "本文"}}}}
    client.send_messages(
        ApplicationId=app_id, MessageRequest={"Endpoints": {"mail": {}}, "MessageConfiguration": email}
    )
    client.send_otp_message(
        ApplicationId=app_id,
        SendOTPMessageRequestParameters={
            "BrandName": "Kizuna", "Channel": "SMS", "DestinationIdentity": PHONES["otp"], "ReferenceId": "login-1",
            "OriginationIdentity": VALID_FROM, "Language": "ja-JP", "AllowedAttempts": 2,
        },
    )  # fmt: skip
    client.verify_otp_message(
        ApplicationId=app_id,
        VerifyOTPMessageRequestParameters={"DestinationIdentity": PHONES["otp"], "ReferenceId": "login-1", "Otp": "0"},
    )
    client.put_events(
        ApplicationId=app_id,
        EventsRequest={
            "BatchItem": {
                "app-phone": {
                    "Endpoint": {"ChannelType": "SMS", "Address": PHONES["events"], "User": user},
                    "Events": {"ev-1": {"EventType": "signup", "Timestamp": datetime.now(UTC).isoformat()}},
                }
            }
        },
    )
    inbound_url = f"{kizuna.base_url}/webhooks/twilio/inbound?app={app_id}"
    kizuna.sandbox.simulate_inbound(to=VALID_FROM, from_=PHONES["stop"], body="STOP", url=inbound_url)
    kizuna.sandbox.simulate_inbound(to=VALID_FROM, from_=PHONES["reply"], body="はい", url=inbound_url)
    kizuna.sandbox.simulate_inbound(
        to=f"whatsapp:{VALID_FROM}", from_=f"whatsapp:{PHONES['whatsapp']}", body="こんにちは", url=inbound_url
    )
    forged = requests.post(
        inbound_url,
        data={"From": PHONES["forged"], "To": VALID_FROM, "Body": "forged", "MessageSid": "SM" + "0" * 32},
        headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        timeout=30,
    )
    assert forged.status_code == 403
    _consultation(kizuna, client, app_id)
    kizuna.drain(60)
    client.get_user_endpoints(ApplicationId=app_id, UserId=USER_ID)
    client.delete_user_endpoints(ApplicationId=app_id, UserId=USER_ID)
    return {
        "app_id": app_id,
        "secrets": {
            "twilio auth token": kizuna.sandbox.auth_token,
            "stripe api key": kizuna.stripe.api_key,
            "stripe webhook secret": kizuna.stripe_webhook_secret,
            "admin access key secret": kizuna.credentials.secret_access_key,
        },
    }


def _consultation(kizuna: LocalKizuna, client: Any, app_id: str) -> None:
    stripe = make_stripe_client(kizuna.stripe.api_key, kizuna.stripe.base_url)
    customer = stripe.v1.customers.create(params={"email": EMAILS["stripe_customer"]})
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    method = stripe.v1.payment_methods.create(params={"type": "card", "card": card})
    stripe.v1.payment_methods.attach(method.id, params={"customer": customer.id})
    now = datetime.now(UTC)
    booking = client.create_consultation(
        ApplicationId=app_id,
        ConsultationRequest={
            "ClientPhoneNumber": PHONES["client"], "ExpertPhoneNumber": PHONES["expert"],
            "StartTime": (now - timedelta(minutes=1)).isoformat(), "EndTime": (now + timedelta(hours=1)).isoformat(),
            "RatePerMinute": 100, "Currency": "JPY", "MaxMinutes": 10, "CancellationFee": 300,
            "CancellationWindowMinutes": 60, "StripeCustomerId": customer.id, "StripePaymentMethodId": method.id,
        },
    )["ConsultationResponse"]  # fmt: skip
    kizuna.sandbox.call_outcomes[PHONES["expert"]] = ("completed", 61)
    sid = kizuna.sandbox.simulate_inbound_call(PHONES["client"], VALID_FROM)
    assert kizuna.sandbox.calls.wait_for_call(sid, 20)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = client.get_consultation(ApplicationId=app_id, ConsultationId=booking["Id"])["ConsultationResponse"]
        if found["PaymentStatus"] in ("CAPTURED", "RELEASED", "FAILED"):
            break
        time.sleep(0.1)


def _forms_of_phone(number: str) -> set[str]:
    parsed = phonenumbers.parse(number, None)
    national = str(parsed.national_number)
    forms = {number, number[1:], national, "%2B" + number[1:]}
    if phonenumbers.is_possible_number(parsed):
        forms |= {
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL),
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        }
    return forms


def _forms_of_email(address: str) -> set[str]:
    return {address, address.replace("@", "%40"), address.upper()}


def _kizuna_lines(logs: dict[str, Any]) -> list[str]:
    """What the functions' log streams receive: Kizuna's logger as its own handler wrote it (masked by its
    formatter; in Lambda the root handler suppresses its records), and every other library's records."""
    service = observability.logger.service
    lines = [
        text
        for name, text in logs["capture"].lines
        if not name.startswith(STAND_INS) and name != service and not name.startswith(service + ".")
    ]
    return [*lines, logs["powertools"]]


def _found(lines: list[str], forms: set[str]) -> list[str]:
    hits = []
    for line in lines:
        for form in forms:
            # A form must stand alone (a national number is also the tail of another digit run).
            if re.search(rf"(?<![0-9A-Za-z]){re.escape(form)}(?![0-9])", line, re.IGNORECASE):
                hits.append(f"{form!r} in {line[:300]}")
    return hits


def test_the_capture_saw_the_flow(logs):
    # The search below means something only if the functions' logs were captured: the forged webhook is logged.
    lines = _kizuna_lines(logs)
    assert any("rejected Twilio webhook" in line for line in lines)
    assert "rejected Twilio webhook" in logs["powertools"]


@pytest.mark.parametrize("role", sorted(PHONES))
def test_no_phone_number_is_logged_unmasked(logs, role):
    assert _found(_kizuna_lines(logs), _forms_of_phone(PHONES[role])) == []


@pytest.mark.parametrize("role", sorted(EMAILS))
def test_no_email_address_is_logged_unmasked(logs, role):
    assert _found(_kizuna_lines(logs), _forms_of_email(EMAILS[role])) == []


@pytest.mark.parametrize(
    "name", ["twilio auth token", "stripe api key", "stripe webhook secret", "admin access key secret"]
)
def test_no_secret_is_logged(logs, name):
    secret = logs["secrets"][name]
    assert secret and len(secret) >= 16
    # Stand-ins included: nothing anywhere in the process may print a secret.
    everything = [text for _, text in logs["capture"].lines] + [logs["powertools"]]
    assert [line[:200] for line in everything if secret in line] == []


def test_the_user_id_is_not_logged(logs):
    assert _found(_kizuna_lines(logs), {USER_ID}) == []
