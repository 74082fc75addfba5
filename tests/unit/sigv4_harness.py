"""Requests signed by botocore itself, the way the boto3 `pinpoint` client signs them, as API Gateway hands them to
the Lambda; and the verifier's answer to them (the SigV4 tests: test_sigv4_accepted, _refused, _fuzz)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from unittest import mock
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode, percent_encode_sequence

from kizuna.auth.sigv4 import (
    SignedRequest,
    VerifiedCaller,
    verify_request,
)
from kizuna.errors import Forbidden

AKID = "KZABCDEFGHIJKLMNOPQR"
SECRET = "s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tS3CR3Tabcd"
SECRETS = {AKID: SECRET}
T0 = datetime(2026, 11, 23, 10, 30, 0, tzinfo=UTC)
BASE = "https://abc123.execute-api.us-east-1.amazonaws.com/prod"
JP_BODY = json.dumps(
    {
        "Address": "+819012345678",
        "ChannelType": "SMS",
        "Attributes": {"名前": ["山田 太郎"], "メモ": ["こんにちは、世界"]},
    },
    ensure_ascii=False,
).encode("utf-8")
HEX64 = re.compile(r"[0-9a-f]{64}")


def endpoint_url(app_id: str = "abc", endpoint_id: str = "e1") -> str:
    # botocore's rest-json serializer: percent_encode() each (non-greedy) URI label.
    return f"{BASE}/v1/apps/{percent_encode(app_id)}/endpoints/{percent_encode(endpoint_id)}"


def sign(
    method: str,
    url: str,
    body: bytes = b"",
    query: dict | None = None,
    headers: dict | None = None,
    when: datetime = T0,
    akid: str = AKID,
    secret: str = SECRET,
    region: str = "us-east-1",
    service: str = "mobiletargeting",
) -> AWSRequest:
    if query:
        url = url + "?" + percent_encode_sequence(query)
    request = AWSRequest(
        method=method,
        url=url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Boto3/1.44.5 md/Botocore#1.44.5",
            **(headers or {}),
        },
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=when.astimezone(UTC).replace(tzinfo=None)):
        SigV4Auth(Credentials(akid, secret), service, region).add_auth(request)
    return request


def received(request, path_encoded: bool = True) -> SignedRequest:
    """What API Gateway hands the Lambda: raw path, decoded multi-value query, headers (with Host), body."""
    prepared = request.prepare() if isinstance(request, AWSRequest) else request
    parts = urlsplit(prepared.url)
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()}
    headers.setdefault("Host", parts.netloc)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return SignedRequest(
        method=prepared.method,
        path=parts.path if path_encoded else unquote(parts.path),
        query=parse_qs(parts.query, keep_blank_values=True),
        headers=headers,
        body=body,
        path_encoded=path_encoded,
    )


def verify(req: SignedRequest, now: datetime = T0) -> VerifiedCaller:
    return verify_request(req, SECRETS.get, now)


def replace(req: SignedRequest, **changes) -> SignedRequest:
    fields = {
        "method": req.method,
        "path": req.path,
        "query": req.query,
        "headers": req.headers,
        "body": req.body,
        "path_encoded": req.path_encoded,
    }
    fields.update(changes)
    return SignedRequest(**fields)


def with_header(req: SignedRequest, name: str, value: str | None) -> SignedRequest:
    headers = {k: v for k, v in req.headers.items() if k.lower() != name.lower()}
    if value is not None:
        headers[name] = value
    return replace(req, headers=headers)


def forbidden(req: SignedRequest, now: datetime = T0) -> str:
    with pytest.raises(Forbidden) as info:
        verify(req, now)
    assert not HEX64.search(info.value.message), "a signature leaked into the message"
    return info.value.message
