"""Fuzzing UpdateEndpoint / UpdateEndpointsBatch through local mode: never a 5xx, and a 4xx changes nothing.

Bodies botocore accepts go through the stock boto3 client; the rest (wrong types, unknown members, NaN, junk bytes)
go as raw SigV4-signed requests, as a hand-rolled client could send them.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.validate
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kizuna.local.system import REGION, LocalKizuna
from kizuna.pinpoint.model import service_model

pytestmark = pytest.mark.e2e

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CHANNELS = ["SMS", "EMAIL", "VOICE", "CUSTOM", "WHATSAPP", "PUSH", "GCM", "sms", "TELEGRAM", ""]


@pytest.fixture(scope="module")
def app_id(pinpoint: Any) -> str:
    app = pinpoint.create_app(CreateApplicationRequest={"Name": "fuzz"})["ApplicationResponse"]["Id"]
    pinpoint.update_endpoint(
        ApplicationId=app,
        EndpointId="fuzz",
        EndpointRequest={"ChannelType": "SMS", "Address": "+15005550006", "Attributes": {"plan": ["gold"]}},
    )
    return app


# -- strategies -----------------------------------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=90, max_size=120),  # around the 100-char value limit
    st.sampled_from(["+15005550006", "+81 90-1234-5678", "aiko@example.com", "Asia/Tokyo", "ALL", "NONE", "ACTIVE"]),
    st.builds(lambda n: "x" * n, st.integers(0, 20_000)),  # huge
)
junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
string_lists = st.lists(texts, max_size=60)
attribute_maps = st.dictionaries(st.text(max_size=60), string_lists, max_size=5) | junk


def maybe_junk(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(strategy, strategy, strategy, junk)


endpoint_requests = st.fixed_dictionaries(
    {},
    optional={
        "Address": maybe_junk(texts),
        "ChannelType": maybe_junk(st.sampled_from(CHANNELS)),
        "Attributes": attribute_maps,
        "Metrics": maybe_junk(st.dictionaries(st.text(max_size=60), st.floats(), max_size=5)),
        "EndpointStatus": maybe_junk(st.sampled_from(["ACTIVE", "INACTIVE", "active", "DELETED"])),
        "OptOut": maybe_junk(st.sampled_from(["ALL", "NONE", "SOME", ""])),
        "EffectiveDate": maybe_junk(texts),
        "Demographic": maybe_junk(
            st.fixed_dictionaries(
                {},
                optional={
                    "Timezone": maybe_junk(st.sampled_from(["Asia/Tokyo", "UTC", "Mars/Base", "../etc", ""])),
                    "Locale": texts,
                    "Platform": texts,
                },
            )
        ),
        "Location": maybe_junk(
            st.fixed_dictionaries({}, optional={"Latitude": st.floats(), "Longitude": st.floats(), "City": texts})
        ),
        "User": maybe_junk(
            st.fixed_dictionaries({}, optional={"UserId": maybe_junk(texts), "UserAttributes": attribute_maps})
        ),
        "Unknown": junk,
    },
)
raw_bodies = st.one_of(
    endpoint_requests.map(lambda body: json.dumps(body).encode()),  # json.dumps writes NaN/Infinity bare
    junk.map(lambda body: json.dumps(body).encode()),
    st.binary(max_size=64),
)


# -- helpers --------------------------------------------------------------------------------------------------------


def _valid_for_botocore(operation: str, params: dict[str, Any]) -> bool:
    shape = service_model().operation_model(operation).input_shape
    return not botocore.validate.ParamValidator().validate(params, shape).has_errors()


def _signed(kizuna: LocalKizuna, method: str, path: str, body: bytes) -> requests.Response:
    assert kizuna.credentials is not None
    request = AWSRequest(
        method=method, url=f"{kizuna.base_url}{path}", data=body, headers={"Content-Type": "application/json"}
    )
    credentials = Credentials(kizuna.credentials.access_key_id, kizuna.credentials.secret_access_key)
    SigV4Auth(credentials, "mobiletargeting", REGION).add_auth(request)
    return requests.request(method, request.url, data=body, headers=dict(request.headers.items()), timeout=30)


def _snapshot(pinpoint: Any, app_id: str, endpoint_ids: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for endpoint_id in endpoint_ids:
        try:
            found[endpoint_id] = pinpoint.get_endpoint(ApplicationId=app_id, EndpointId=endpoint_id)["EndpointResponse"]
        except pinpoint.exceptions.NotFoundException:
            found[endpoint_id] = None
    return found


def _status_of_boto3_call(call: Any, **params: Any) -> int:
    try:
        return call(**params)["ResponseMetadata"]["HTTPStatusCode"]
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"]


def _check(status: int, before: dict[str, Any], after: dict[str, Any]) -> None:
    assert status < 500, f"server error {status}"
    if 400 <= status < 500:
        assert after == before, "a refused request changed the endpoint"


# -- the fuzz -------------------------------------------------------------------------------------------------------


@FUZZ
@given(body=endpoint_requests)
def test_update_endpoint_with_structured_bodies(kizuna, pinpoint, app_id, body):
    before = _snapshot(pinpoint, app_id, ["fuzz"])
    params = {"ApplicationId": app_id, "EndpointId": "fuzz", "EndpointRequest": body}
    if _valid_for_botocore("UpdateEndpoint", params):
        status = _status_of_boto3_call(pinpoint.update_endpoint, **params)
    else:
        status = _signed(kizuna, "PUT", f"/v1/apps/{app_id}/endpoints/fuzz", json.dumps(body).encode()).status_code
    _check(status, before, _snapshot(pinpoint, app_id, ["fuzz"]))


@FUZZ
@given(body=raw_bodies)
def test_update_endpoint_with_raw_bodies(kizuna, pinpoint, app_id, body):
    before = _snapshot(pinpoint, app_id, ["fuzz"])
    status = _signed(kizuna, "PUT", f"/v1/apps/{app_id}/endpoints/fuzz", body).status_code
    _check(status, before, _snapshot(pinpoint, app_id, ["fuzz"]))


@FUZZ
@given(items=st.lists(endpoint_requests, min_size=1, max_size=3))
def test_update_endpoints_batch(kizuna, pinpoint, app_id, items):
    ids = [f"fuzz-{i}" for i in range(len(items))]
    batch = {"Item": [{**item, "Id": endpoint_id} for item, endpoint_id in zip(items, ids, strict=True)]}
    before = _snapshot(pinpoint, app_id, ids)
    params = {"ApplicationId": app_id, "EndpointBatchRequest": batch}
    if _valid_for_botocore("UpdateEndpointsBatch", params):
        status = _status_of_boto3_call(pinpoint.update_endpoints_batch, **params)
    else:
        status = _signed(kizuna, "PUT", f"/v1/apps/{app_id}/endpoints", json.dumps(batch).encode()).status_code
    _check(status, before, _snapshot(pinpoint, app_id, ids))
