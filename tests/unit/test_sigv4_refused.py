"""SigV4 verification refuses, with a message that leaks no signature: any tampered part of a signed request, a
wrong secret or unknown key, missing or unsigned headers, expired or future dates, malformed Authorization headers,
text that cannot be encoded; and a stale request never reaches the key store."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from kizuna.auth.sigv4 import (
    MSG_INVALID_KEY,
    MSG_MISMATCH,
    MSG_MISSING_DATE,
    MSG_MISSING_TOKEN,
    SignedRequest,
    verify_request,
)
from kizuna.errors import Forbidden
from tests.unit.sigv4_harness import (
    JP_BODY,
    SECRET,
    T0,
    endpoint_url,
    forbidden,
    received,
    replace,
    sign,
    verify,
    with_header,
)

# --- refused -----------------------------------------------------------------------------------------------------


@pytest.fixture
def valid() -> SignedRequest:
    req = received(sign("PUT", endpoint_url("abc", "e 1"), body=JP_BODY, query={"x": "1"}))
    assert verify(req)
    return req


def test_tampered_method(valid: SignedRequest) -> None:
    assert forbidden(replace(valid, method="POST")) == MSG_MISMATCH


def test_tampered_path(valid: SignedRequest) -> None:
    assert forbidden(replace(valid, path=valid.path.replace("/abc/", "/abd/"))) == MSG_MISMATCH
    assert forbidden(replace(valid, path=valid.path.replace("/prod/", "/"))) == MSG_MISMATCH
    assert forbidden(replace(valid, path=valid.path + "x")) == MSG_MISMATCH


def test_tampered_query(valid: SignedRequest) -> None:
    assert forbidden(replace(valid, query={"x": ["2"]})) == MSG_MISMATCH
    assert forbidden(replace(valid, query={"x": ["1"], "y": ["1"]})) == MSG_MISMATCH
    assert forbidden(replace(valid, query={})) == MSG_MISMATCH
    assert forbidden(replace(valid, query={"x": ["1", "1"]})) == MSG_MISMATCH


def test_tampered_signed_header(valid: SignedRequest) -> None:
    assert forbidden(with_header(valid, "Content-Type", "text/plain")) == MSG_MISMATCH
    assert forbidden(with_header(valid, "Host", "evil.example.com")) == MSG_MISMATCH
    assert forbidden(with_header(valid, "Content-Type", None)) == MSG_MISMATCH


def test_tampered_body(valid: SignedRequest) -> None:
    assert forbidden(replace(valid, body=valid.body.replace("山田".encode(), "田中".encode()))) == MSG_MISMATCH
    assert forbidden(replace(valid, body=b"")) == MSG_MISMATCH


def test_tampered_signature(valid: SignedRequest) -> None:
    auth = valid.headers["Authorization"]
    last = auth[-1]
    flipped = auth[:-1] + ("0" if last != "0" else "1")
    assert forbidden(with_header(valid, "Authorization", flipped)) == MSG_MISMATCH


def test_content_sha256_header_must_match_the_body(valid: SignedRequest) -> None:
    msg = forbidden(with_header(valid, "X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"))
    assert "x-amz-content-sha256" in msg


def test_wrong_secret() -> None:
    req = received(sign("GET", endpoint_url(), secret="not-the-secret"))
    assert forbidden(req) == MSG_MISMATCH


def test_unknown_key() -> None:
    req = received(sign("GET", endpoint_url(), akid="KZUNKNOWNUNKNOWNUNKN"))
    assert forbidden(req) == MSG_INVALID_KEY


def test_malformed_key_id_never_reaches_the_store() -> None:
    calls: list[str] = []
    req = received(sign("GET", endpoint_url(), akid="bad key"))
    with pytest.raises(Forbidden, match="security token"):
        verify_request(req, lambda k: calls.append(k), T0)  # type: ignore[func-returns-value]
    assert calls == []


def test_missing_authorization(valid: SignedRequest) -> None:
    assert forbidden(with_header(valid, "Authorization", None)) == MSG_MISSING_TOKEN
    assert forbidden(with_header(valid, "Authorization", "  ")) == MSG_MISSING_TOKEN


def test_missing_date(valid: SignedRequest) -> None:
    assert forbidden(with_header(valid, "X-Amz-Date", None)) == MSG_MISSING_DATE


def test_host_and_date_must_be_signed(valid: SignedRequest) -> None:
    auth = valid.headers["Authorization"]
    no_host = re.sub(r"SignedHeaders=([^,]*)", lambda m: "SignedHeaders=" + m.group(1).replace("host;", ""), auth)
    assert "'Host'" in forbidden(with_header(valid, "Authorization", no_host))
    no_date = re.sub(r"SignedHeaders=([^,]*)", lambda m: "SignedHeaders=" + m.group(1).replace(";x-amz-date", ""), auth)
    assert "'X-Amz-Date' must be a 'SignedHeader'" in forbidden(with_header(valid, "Authorization", no_date))


def test_expired_and_not_yet_current(valid: SignedRequest) -> None:
    late = forbidden(valid, T0 + timedelta(minutes=5, seconds=1))
    assert late.startswith("Signature expired: 20261123T103000Z is now earlier than")
    early = forbidden(valid, T0 - timedelta(minutes=5, seconds=1))
    assert early.startswith("Signature not yet current: 20261123T103000Z is still later than")


def test_scope_date_mismatch(valid: SignedRequest) -> None:
    auth = valid.headers["Authorization"].replace("/20261123/", "/20261122/")
    msg = forbidden(with_header(valid, "Authorization", auth))
    assert msg.startswith("Date in Credential scope does not match")


@pytest.mark.parametrize(
    "header",
    [
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA1 Credential=x",
        "Bearer abc",
        "AWS4-HMAC-SHA256 Credential=KZABCDEFGHIJKLMNOPQR/20261123/us-east-1/mobiletargeting/aws4_request",
        "AWS4-HMAC-SHA256 Credential=KZABCDEFGHIJKLMNOPQR/20261123/us-east-1/aws4_request, SignedHeaders=host, "
        "Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=KZABCDEFGHIJKLMNOPQR/20261123/us-east-1/mobiletargeting/aws4_request, "
        "SignedHeaders=Host;X-Amz-Date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=KZABCDEFGHIJKLMNOPQR/20261123/us-east-1/mobiletargeting/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=zz",
        "AWS4-HMAC-SHA256 Credential, SignedHeaders, Signature",
        "AWS4-HMAC-SHA256 Credential=a, Credential=b",
    ],
)
def test_malformed_authorization_headers(valid: SignedRequest, header: str) -> None:
    forbidden(with_header(valid, "Authorization", header))


def test_stale_request_does_not_hit_the_store(valid: SignedRequest) -> None:
    calls: list[str] = []

    def secret_for(key: str) -> str | None:
        calls.append(key)
        return SECRET

    with pytest.raises(Forbidden):
        verify_request(valid, secret_for, T0 + timedelta(hours=1))
    assert calls == []


@pytest.mark.parametrize("field", ["path", "query", "header", "method"])
def test_unencodable_text_is_forbidden_not_a_crash(valid: SignedRequest, field: str) -> None:
    bad = "x\ud800y"  # a lone surrogate cannot be UTF-8 encoded
    changed = {
        "path": lambda: replace(valid, path=valid.path + bad),
        "query": lambda: replace(valid, query={**valid.query, "x": [bad]}),
        "header": lambda: with_header(valid, "Content-Type", bad),
        "method": lambda: replace(valid, method=bad),
    }[field]()
    assert forbidden(changed) == MSG_MISMATCH
