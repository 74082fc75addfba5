"""Fuzzing template bodies through local mode (CreateSmsTemplate and SendMessages): never a 5xx, a refused
template is not stored, and no body runs code in the API function (pybars compiles templates into Python)."""

from __future__ import annotations

import builtins
import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_endpoints import FUZZ, _signed, _status_of_boto3_call, junk

pytestmark = pytest.mark.e2e

PAYLOAD = "str(__import__('builtins').__dict__.update(KIZUNA_PWNED=1))"
PIECES = ["{{", "}}", "{{{", "}}}", "[", "]", "'", '"', "\\", "+", "a", ".", "#if ", "/if", "#each ", "/each", " ",
          "\n", "!", "@index", "=", "~", "^", "&", ">", "User.UserAttributes.FirstName", "東京", PAYLOAD]  # fmt: skip
bodies = st.one_of(st.lists(st.sampled_from(PIECES), max_size=14).map("".join), st.text(max_size=30))


@pytest.fixture(autouse=True)
def not_pwned():
    builtins.__dict__.pop("KIZUNA_PWNED", None)
    yield
    assert builtins.__dict__.get("KIZUNA_PWNED") is None, "a template body ran code in the API function"


@FUZZ
@given(body=bodies)
def test_create_sms_template(pinpoint, body):
    name = f"fuzz-{uuid.uuid4().hex[:10]}"
    status = _status_of_boto3_call(pinpoint.create_sms_template, TemplateName=name, SMSTemplateRequest={"Body": body})

    assert status < 500, f"server error {status}"
    stored = _status_of_boto3_call(pinpoint.get_sms_template, TemplateName=name)
    assert stored == (200 if status < 400 else 404)


@FUZZ
@given(request=st.one_of(bodies.map(lambda b: {"Body": b}), junk))
def test_send_messages_bodies(kizuna, pinpoint, app_id, request):
    message = {"Addresses": {"+15005550010": {"ChannelType": "SMS"}}, "MessageConfiguration": {"SMSMessage": request}}
    status = _signed(kizuna, "POST", f"/v1/apps/{app_id}/messages", json.dumps(message).encode()).status_code

    assert status < 500, f"server error {status}"


@pytest.fixture(scope="module")
def app_id(pinpoint: Any) -> str:
    return pinpoint.create_app(CreateApplicationRequest={"Name": "fuzz-templates"})["ApplicationResponse"]["Id"]
