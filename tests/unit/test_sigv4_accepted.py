"""SigV4 verification accepts what botocore signs: methods, bodies, queries, headers, any region and service, the
Date header, the five-minute skew, path parameters raw or decoded; and the stock boto3 pinpoint client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from urllib.parse import unquote

import boto3
import pytest

from kizuna.auth.access_keys import CachedSecretLookup, InMemoryAccessKeyStore, create_access_key
from kizuna.auth.sigv4 import (
    MSG_MISMATCH,
    VerifiedCaller,
    canonical_path,
    verify_request,
)
from kizuna.clock import VirtualClock
from kizuna.errors import Forbidden
from tests.unit.sigv4_harness import (
    AKID,
    BASE,
    JP_BODY,
    T0,
    endpoint_url,
    forbidden,
    received,
    replace,
    sign,
    verify,
)

# --- accepted ----------------------------------------------------------------------------------------------------


def test_get_endpoint_verifies() -> None:
    caller = verify(received(sign("GET", endpoint_url())))
    assert caller == VerifiedCaller(AKID, "us-east-1", "mobiletargeting")


def test_put_with_japanese_json_body_verifies() -> None:
    assert verify(received(sign("PUT", endpoint_url(), body=JP_BODY))).access_key_id == AKID


def test_multi_value_and_special_query_verifies() -> None:
    query = {"page-size": "10", "token": "a b+c/=日本", "empty": "", "tags": ["z", "a", "m"]}
    assert verify(received(sign("GET", f"{BASE}/v1/apps", query=query)))


def test_any_region_and_service_in_scope() -> None:
    caller = verify(received(sign("GET", endpoint_url(), region="ap-northeast-1", service="execute-api")))
    assert (caller.region, caller.service) == ("ap-northeast-1", "execute-api")


def test_date_header_instead_of_x_amz_date() -> None:
    # botocore signs with `Date` (not X-Amz-Date) when the request already carries one.
    request = sign("GET", endpoint_url(), headers={"Date": formatdate(0, usegmt=True)})
    req = received(request)
    assert "X-Amz-Date" not in req.headers
    assert verify(req)


def test_matching_content_sha256_header_is_accepted() -> None:
    import hashlib

    request = sign(
        "PUT", endpoint_url(), body=JP_BODY, headers={"X-Amz-Content-SHA256": hashlib.sha256(JP_BODY).hexdigest()}
    )
    assert verify(received(request))


def test_header_names_in_any_case_and_unsigned_extras_are_fine() -> None:
    req = received(sign("PUT", endpoint_url(), body=JP_BODY))
    headers = {k.upper(): v for k, v in req.headers.items()}
    headers["X-Forwarded-For"] = "203.0.113.9"
    headers["Via"] = "1.1 cloudfront"
    assert verify(replace(req, headers=headers))


def test_skew_exactly_five_minutes_is_accepted() -> None:
    req = received(sign("GET", endpoint_url()))
    assert verify(req, T0 + timedelta(minutes=5))
    assert verify(req, T0 - timedelta(minutes=5))


PATH_VALUES = ["e 1", "日本語", "a+b", "a/b", "~-._", "100%", "a%20b", "x?y#z", "émoji😀", "semi;colon=eq&amp"]


@pytest.mark.parametrize("endpoint_id", PATH_VALUES)
def test_path_params_verify_with_the_raw_wire_path(endpoint_id: str) -> None:
    req = received(sign("GET", endpoint_url("app 1", endpoint_id)))
    assert req.path.startswith("/prod/v1/apps/app%201/endpoints/")
    assert verify(req)


@pytest.mark.parametrize("endpoint_id", [v for v in PATH_VALUES if "/" not in v])
def test_path_params_verify_with_a_decoded_path(endpoint_id: str) -> None:
    req = received(sign("GET", endpoint_url("app 1", endpoint_id)), path_encoded=False)
    assert verify(req)


def test_decoded_path_cannot_carry_an_encoded_slash() -> None:
    # "a/b" was sent as a%2Fb; once decoded, it is indistinguishable from two segments: refused, never misread.
    req = received(sign("GET", endpoint_url("abc", "a/b")), path_encoded=False)
    assert forbidden(req) == MSG_MISMATCH


@pytest.mark.parametrize("endpoint_id", ["e 1", "日本語", "x?y#z", "100%"])
def test_decoded_path_passed_as_raw_still_verifies_when_unambiguous(endpoint_id: str) -> None:
    # Characters that cannot appear literally in an encoded path are escaped, which preserves the decoded value.
    req = received(sign("GET", endpoint_url("abc", endpoint_id)))
    assert verify(replace(req, path=unquote(req.path), path_encoded=True))


def test_canonical_path_escaping_preserves_the_decoded_value() -> None:
    for raw in ["/a b", "/50%off", "/50%25", "/x?y#z", "/日本"]:
        assert unquote(canonical_path(raw)) == unquote(raw)
    assert canonical_path("/a%2Fb") == "/a%2Fb"
    assert canonical_path("/a b/c+d", path_encoded=False) == "/a%20b/c%2Bd"


# --- the stock boto3 pinpoint client -----------------------------------------------------------------------------


class _Captured(Exception):
    def __init__(self, request) -> None:
        super().__init__("captured")
        self.request = request


def capture(client, call):
    def before_send(request, **_kwargs):
        raise _Captured(request)

    client.meta.events.register("before-send.pinpoint.*", before_send)
    try:
        call()
    except _Captured as captured:
        return captured.request
    finally:
        client.meta.events.unregister("before-send.pinpoint.*", before_send)
    raise AssertionError("no request was sent")


def test_stock_boto3_pinpoint_client_is_accepted() -> None:
    clock = VirtualClock(datetime.now(UTC))
    store = InMemoryAccessKeyStore()
    key, secret = create_access_key(store, ["app 1"], "ci", clock)
    lookup = CachedSecretLookup(store, clock)
    client = boto3.client(
        "pinpoint",
        endpoint_url=BASE,
        region_name="ap-northeast-1",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=secret,
    )
    update = capture(
        client,
        lambda: client.update_endpoint(
            ApplicationId="app 1",
            EndpointId="端末 1/a+b",
            EndpointRequest={
                "Address": "+819012345678",
                "ChannelType": "SMS",
                "Attributes": {"名前": ["山田 太郎"]},
                "User": {"UserId": "ユーザー+1"},
            },
        ),
    )
    req = received(update)
    assert req.path == "/prod/v1/apps/app%201/endpoints/%E7%AB%AF%E6%9C%AB%201%2Fa%2Bb"
    assert b"\\u5c71\\u7530" in req.body  # botocore's rest-json body is ASCII-escaped JSON
    caller = verify_request(req, lookup, clock.now())
    assert caller == VerifiedCaller(key.access_key_id, "ap-northeast-1", "mobiletargeting")

    listing = received(capture(client, lambda: client.get_apps(PageSize="5", Token="a b/c")))
    assert listing.query == {"page-size": ["5"], "token": ["a b/c"]}
    assert verify_request(listing, lookup, clock.now()).access_key_id == key.access_key_id
    assert store.gets == 1  # the second request was served from the cache

    with pytest.raises(Forbidden):
        verify_request(replace(req, body=req.body.replace(b"5c71", b"7530")), lookup, clock.now())
