"""Schemathesis against the management API's own OpenAPI document (kizuna.pinpoint.openapi), through local mode.

Every operation Kizuna serves is fuzzed with bodies, query strings and path parameters generated from the document
(valid ones and, in negative mode, ones that break it), each request SigV4-signed with botocore's signer as the
stock boto3 client signs. Checks: never a 5xx; 2xx bodies, status codes, content types and error headers as the
document says; and a refused (4xx) mutating request leaves every table as it was.

Path parameters are pointed at things that exist (an app with an endpoint, a segment, templates of each kind, a
campaign and a journey), so generated bodies reach the operations instead of stopping at 404. Runs bounded for
`make test`; `KIZUNA_FUZZ_EXAMPLES=50` (examples per operation) runs it longer.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kizuna import wiring
from kizuna.adapters.dynamo_data import APPS_PK
from kizuna.adapters.dynamo_templates import HEADS_PK as TEMPLATE_HEADS_PK
from kizuna.api.app import registered_operations
from kizuna.catalog import TABLES
from kizuna.local.system import REGION, LocalKizuna
from kizuna.pinpoint.openapi import openapi_document

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("KIZUNA_FUZZ_EXAMPLES", "3"))
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Written by the asynchronous side (senders, callbacks, analytics counters), never by a refused API call: left out
# of the snapshot so work queued by an earlier accepted request cannot look like a partial write.
ASYNC_TABLES = frozenset({"messages", "limits", "analytics"})
UNWRITTEN_TABLES = frozenset({"access_keys"})  # keys are made by the command line and local mode, not the API

schema = schemathesis.openapi.from_dict(openapi_document(registered_operations()))
if os.environ.get("KIZUNA_FUZZ_TAGS"):  # a regex over the document's tags (segments, templates...), to fuzz a few
    schema = schema.include(tag_regex=os.environ["KIZUNA_FUZZ_TAGS"])
schema.config.phases.update(phases=["examples", "fuzzing"])
schema.config.generation.update(
    max_examples=EXAMPLES,
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    with_security_parameters=False,  # the signature is made per request below, never generated
    database="none",
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class SigV4(requests.auth.AuthBase):
    """Signs each prepared request as botocore does (service `mobiletargeting`), after schemathesis built it."""

    def __init__(self, access_key_id: str, secret: str) -> None:
        self.credentials = Credentials(access_key_id, secret)

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urlsplit(prepared.url)
        body = prepared.body or b""
        signed = AWSRequest(
            method=prepared.method,
            url=urlunsplit((url.scheme, url.netloc, url.path, "", "")),
            data=body.encode("utf-8") if isinstance(body, str) else body,
            headers={k: v for k, v in prepared.headers.items() if k.lower() == "content-type"},
        )
        # As botocore signs its own parameters: the decoded pairs, re-encoded its way (the server does the same).
        signed.params = parse_qsl(url.query, keep_blank_values=True)
        SigV4Auth(self.credentials, "mobiletargeting", REGION).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date"):
            prepared.headers[name] = signed.headers[name]
        return prepared


@dataclass
class World:
    """Things that exist for the fuzzed requests to reach, and a way to put them back after a delete."""

    kizuna: LocalKizuna
    pinpoint: Any
    session: requests.Session
    ids: dict[str, str] = field(default_factory=dict)
    # The snapshot taken after the last refused mutating request: still the state if nothing was accepted since.
    settled: dict[str, str] | None = None

    def build(self) -> None:
        p = self.pinpoint
        app = p.create_app(CreateApplicationRequest={"Name": "fuzz"})["ApplicationResponse"]["Id"]
        p.update_endpoint(
            ApplicationId=app,
            EndpointId="fuzz-endpoint",
            EndpointRequest={"ChannelType": "SMS", "Address": "+15005550006", "User": {"UserId": "fuzz-user"}},
        )
        segment = p.create_segment(
            ApplicationId=app,
            WriteSegmentRequest={"Name": "fuzz", "Dimensions": {"Demographic": {"Channel": {"Values": ["SMS"]}}}},
        )["SegmentResponse"]["Id"]
        name = f"fuzz-{uuid.uuid4().hex[:6]}"
        p.create_sms_template(TemplateName=name, SMSTemplateRequest={"Body": "Hello {{Attributes.Name}}"})
        p.create_email_template(TemplateName=name, EmailTemplateRequest={"Subject": "Hi", "TextPart": "Hello"})
        p.create_voice_template(TemplateName=name, VoiceTemplateRequest={"Body": "Hello", "LanguageCode": "en-US"})
        campaign = p.create_campaign(
            ApplicationId=app,
            WriteCampaignRequest={
                "Name": "fuzz",
                "SegmentId": segment,
                "Schedule": {"StartTime": "2099-01-01T00:00:00Z", "Frequency": "ONCE"},
                "MessageConfiguration": {"SMSMessage": {"Body": "Hello"}},
            },
        )["CampaignResponse"]["Id"]
        journey = p.create_journey(
            ApplicationId=app,
            WriteJourneyRequest={
                "Name": "fuzz",
                "StartActivity": "a",
                "StartCondition": {"SegmentStartCondition": {"SegmentId": segment}},
                "Activities": {"a": {"SMS": {"TemplateName": name}}},
            },
        )["JourneyResponse"]["Id"]
        self.settled = None
        self.ids = {
            "application-id": app,
            "endpoint-id": "fuzz-endpoint",
            "user-id": "fuzz-user",
            "segment-id": segment,
            "template-name": name,
            "campaign-id": campaign,
            "journey-id": journey,
        }

    def aim(self, case: schemathesis.Case) -> None:
        """Point most path parameters at what exists; one in eight keeps its generated value (a 404 path)."""
        for name, value in (case.path_parameters or {}).items():
            if name in self.ids and int(hashlib.sha256(str(value).encode()).hexdigest(), 16) % 8:
                case.path_parameters[name] = self.ids[name]

    def snapshot(self) -> dict[str, str]:
        """A digest of what a request aimed at this world can write, item by item: in every table the API writes,
        the items whose partition names the app or the templates, and the lists of apps and templates (earlier
        worlds' items are left out, so the snapshot stays small however long the fuzz runs)."""
        ddb = wiring.aws("dynamodb")
        ours = {
            "FilterExpression": "contains(pk, :app) OR contains(pk, :template) OR pk IN (:apps, :templates)",
            "ExpressionAttributeValues": {
                ":app": {"S": self.ids["application-id"]},
                ":template": {"S": self.ids["template-name"]},
                ":apps": {"S": APPS_PK},
                ":templates": {"S": TEMPLATE_HEADS_PK},
            },
        }
        digests = {}
        for key, table in self.kizuna.resources.tables.items():
            if key in ASYNC_TABLES | UNWRITTEN_TABLES:
                continue
            scope = ours if TABLES[key].partition_key == "pk" else {}
            items = ddb.get_paginator("scan").paginate(TableName=table, **scope).build_full_result()["Items"]
            for item in items:
                ident = json.dumps({k: item[k] for k in sorted(item) if k in ("pk", "sk", "access_key_id")})
                digests[f"{key}:{ident}"] = _digest(item)
        return digests


@pytest.fixture(scope="module")
def world(kizuna: LocalKizuna, pinpoint: Any) -> World:
    assert kizuna.credentials is not None
    session = requests.Session()
    session.auth = SigV4(kizuna.credentials.access_key_id, kizuna.credentials.secret_access_key)
    built = World(kizuna, pinpoint, session)
    built.build()
    return built


def _digest(item: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(item, sort_keys=True, default=repr).encode()).hexdigest()


def _changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


@schema.parametrize()
def test_operation(case: schemathesis.Case, world: World, kizuna: LocalKizuna) -> None:
    world.aim(case)
    mutating = case.method.upper() in MUTATING
    before = (world.settled or world.snapshot()) if mutating else {}
    response = case.call(base_url=kizuna.base_url, session=world.session, timeout=60)
    case.validate_response(response, checks=CHECKS)
    # The key is an admin key: a 403 can only mean the signature of this request was refused, and every request
    # signed as botocore signs must verify, whatever its path parameters and query string hold.
    assert response.status_code != 403, f"signature refused: {response.text}"
    if not mutating:
        return
    world.settled = None
    if 400 <= response.status_code < 500:
        after = world.snapshot()
        changed = _changes(before, after)
        assert not changed, f"{case.operation.label} answered {response.status_code} but changed {changed[:5]}"
        world.settled = after
    elif response.status_code < 300 and case.method.upper() == "DELETE":
        world.build()  # what was deleted (the app, its segment, a template...) exists again for the next cases


def test_the_api_serves_its_document_to_signed_callers_only(kizuna: LocalKizuna, world: World) -> None:
    response = world.session.get(f"{kizuna.base_url}/v1/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.json() == openapi_document(registered_operations(), server_url="/")
    unsigned = requests.get(f"{kizuna.base_url}/v1/openapi.json", timeout=30)
    assert (unsigned.status_code, unsigned.headers["x-amzn-ErrorType"]) == (403, "ForbiddenException")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/apps",
        "/v1/apps/{application-id}/jobs/import",
        "/v1/apps/{application-id}/jobs/export",
        "/v1/apps/{application-id}/segments/{segment-id}/jobs/export",
        "/v1/apps/{application-id}/consultations",
    ],
)
@pytest.mark.parametrize("token", ["%C2%A9", "eyJwayI6IHsiUyI6ICJBUFAjb3RoZXIifSwgInNrIjogeyJTIjogIngifX0="])
def test_a_page_token_that_is_not_ours_is_a_400_naming_it(
    kizuna: LocalKizuna, world: World, path: str, token: str
) -> None:
    # Found by the fuzzer: a token that did not decode crashed the API (502); one naming another partition would
    # have reached DynamoDB as an ExclusiveStartKey.
    url = kizuna.base_url + path.format_map(world.ids) + f"?token={token}"
    response = world.session.get(url, timeout=30)
    assert (response.status_code, response.headers["x-amzn-ErrorType"]) == (400, "BadRequestException")
    assert response.json()["Message"].startswith("token is not valid")
