"""SigV4 verification against requests signed by botocore itself, the way the boto3 `pinpoint` client signs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from unittest import mock
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode, percent_encode_sequence
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kizuna.auth.access_keys import CachedSecretLookup, InMemoryAccessKeyStore, create_access_key
from kizuna.auth.sigv4 import (
    MSG_INVALID_KEY,
    MSG_MISMATCH,
    MSG_MISSING_DATE,
    MSG_MISSING_TOKEN,
    SignedRequest,
    VerifiedCaller,
    canonical_path,
    verify_request,
)
from kizuna.clock import VirtualClock
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


# --- fuzzing -----------------------------------------------------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
VALID = received(sign("PUT", endpoint_url("abc", "e 1/日本"), body=JP_BODY, query={"x": "1", "t": ["b", "a"]}))
SIGNED_HEADERS = re.search(r"SignedHeaders=([^,]+)", VALID.headers["Authorization"]).group(1).split(";")


def _canon_value(v: str) -> str:
    return " ".join(v.split())


@st.composite
def mutated(draw: st.DrawFn) -> SignedRequest:
    req = VALID
    kind = draw(
        st.sampled_from(["method", "path", "query_add", "query_change", "header", "body", "signature", "credential"])
    )
    if kind == "method":
        return replace(req, method=draw(st.sampled_from(["GET", "POST", "DELETE", "PATCH", "HEAD"])))
    if kind == "path":
        pos = draw(st.integers(1, len(req.path)))
        ch = draw(st.sampled_from("abcXYZ019-_"))
        return replace(req, path=req.path[:pos] + ch + req.path[pos:])
    if kind == "query_add":
        name = draw(st.text(min_size=1, max_size=8))
        assume(name not in req.query)
        return replace(req, query={**req.query, name: draw(st.lists(st.text(max_size=8), min_size=1, max_size=3))})
    if kind == "query_change":
        name = draw(st.sampled_from(sorted(req.query)))
        values = draw(st.lists(st.text(max_size=8), max_size=3))
        assume(sorted(values) != sorted(req.query[name]))
        return replace(req, query={**req.query, name: values})
    if kind == "header":
        name = draw(st.sampled_from(SIGNED_HEADERS))
        original = next(v for k, v in req.headers.items() if k.lower() == name)
        value = draw(st.text(max_size=30))
        assume(_canon_value(value) != _canon_value(original))
        return with_header(req, name, value)
    if kind == "body":
        body = draw(st.binary(max_size=64))
        assume(body != req.body)
        return replace(req, body=body)
    auth = req.headers["Authorization"]
    if kind == "signature":
        sig = auth[-64:]
        pos = draw(st.integers(0, 63))
        ch = draw(st.sampled_from("0123456789abcdef"))
        assume(ch != sig[pos])
        return with_header(req, "Authorization", auth[:-64] + sig[:pos] + ch + sig[pos + 1 :])
    # credential: any other region / service / key id in the scope
    region = draw(st.from_regex(r"[a-z]{2}-[a-z]{4,9}-[1-3]", fullmatch=True))
    assume(region != "us-east-1")
    return with_header(req, "Authorization", auth.replace("/us-east-1/", f"/{region}/"))


@FUZZ
@given(mutated())
def test_mutations_never_verify(req: SignedRequest) -> None:
    with pytest.raises(Forbidden):
        verify(req)


@FUZZ
@given(st.text(max_size=300))
def test_random_authorization_header_only_forbidden(header: str) -> None:
    with pytest.raises(Forbidden):
        verify(with_header(VALID, "Authorization", header))


AUTH_PIECES = st.sampled_from(
    [
        "AWS4-HMAC-SHA256 ",
        "Credential=",
        "KZABCDEFGHIJKLMNOPQR",
        "/20261123",
        "/us-east-1",
        "/mobiletargeting",
        "/aws4_request",
        ", ",
        "SignedHeaders=",
        "host",
        ";",
        "x-amz-date",
        "content-type",
        "Signature=",
        "=",
        ",",
        "0" * 64,
        "/",
        " ",
        "\u65e5",
        "\x00",
        "date",
    ]
)


@FUZZ
@given(
    st.lists(AUTH_PIECES, max_size=20).map("".join),
    st.sampled_from(["", "20261123T103000Z", "garbage", "Mon, 23 Nov 2026 10:30:00 GMT"]),
)
def test_structured_authorization_fuzz_only_forbidden(header: str, amz_date: str) -> None:
    req = with_header(VALID, "Authorization", header)
    req = with_header(req, "X-Amz-Date", amz_date or None)
    req = with_header(req, "Date", "Mon, 23 Nov 2026 10:30:00 GMT")
    with pytest.raises(Forbidden):
        verify(req)


@FUZZ
@given(
    method=st.text(max_size=8),
    path=st.text(max_size=40),
    query=st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5)))),
    headers=st.dictionaries(
        st.sampled_from(["host", "x-amz-date", "date", "content-type", "x-amz-content-sha256", "X-AMZ-DATE", "Host"]),
        st.text(max_size=40),
    ),
    body=st.binary(max_size=32),
    path_encoded=st.booleans(),
)
def test_random_requests_with_a_valid_authorization_only_forbidden(
    method, path, query, headers, body, path_encoded
) -> None:
    headers = {**headers, "Authorization": VALID.headers["Authorization"]}
    req = SignedRequest(method=method, path=path, query=query, headers=headers, body=body, path_encoded=path_encoded)
    with pytest.raises(Forbidden):
        verify(req)


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


# --- any request: signed as boto3 signs it, accepted; any one change, refused -----------------------------------

labels = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12)
query_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=10)


@st.composite
def signed_requests(draw: st.DrawFn) -> tuple[SignedRequest, datetime]:
    method = draw(st.sampled_from(["GET", "PUT", "POST", "DELETE"]))
    url = endpoint_url(draw(labels), draw(labels))
    query = draw(st.dictionaries(st.from_regex(r"[a-z][a-z-]{0,9}", fullmatch=True), query_values, max_size=3))
    body = draw(st.binary(max_size=64)) if method in ("PUT", "POST") else b""
    when = T0 + timedelta(seconds=draw(st.integers(-86_400, 86_400)))
    return received(sign(method, url, body=body, query=query or None, when=when)), when


@FUZZ
@given(signed_requests(), st.integers(-300, 300))
def test_any_signed_request_verifies_within_five_minutes(signed, skew_s) -> None:
    req, when = signed
    assert verify(req, when + timedelta(seconds=skew_s)).access_key_id == AKID


@FUZZ
@given(signed_requests(), st.integers(301, 10 * 86_400), st.sampled_from([-1, 1]))
def test_any_signed_request_is_refused_outside_five_minutes(signed, skew_s, sign_) -> None:
    req, when = signed
    message = forbidden(req, when + timedelta(seconds=sign_ * skew_s))
    assert message.startswith("Signature expired" if sign_ > 0 else "Signature not yet current")


@st.composite
def one_change(draw: st.DrawFn) -> tuple[SignedRequest, datetime]:
    req, when = draw(signed_requests())
    kind = draw(st.sampled_from(["method", "path", "query", "header", "body", "date"]))
    if kind == "method":
        return replace(req, method=draw(st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH"]).filter(
            lambda m: m != req.method))), when  # fmt: skip
    if kind == "path":
        pos = draw(st.integers(1, len(req.path)))
        return replace(req, path=req.path[:pos] + draw(st.sampled_from("aZ0-_~")) + req.path[pos:]), when
    if kind == "query":
        name = draw(st.from_regex(r"[a-z][a-z-]{0,9}", fullmatch=True))
        values = draw(st.lists(query_values, min_size=1, max_size=2))
        changed = {**req.query, name: values}
        assume(changed != req.query)
        return replace(req, query=changed), when
    if kind == "header":
        value = draw(st.text(alphabet=st.characters(codec="ascii", min_codepoint=33), min_size=1, max_size=20))
        assume(value != req.headers["Content-Type"])
        return with_header(req, "Content-Type", value), when
    if kind == "body":
        body = draw(st.binary(max_size=64))
        assume(body != req.body)
        return replace(req, body=body), when
    # The date: another moment within the window, so only the signature (not freshness) can refuse it.
    moved = when + timedelta(seconds=draw(st.integers(-300, 300).filter(bool)))
    return with_header(req, "X-Amz-Date", moved.strftime("%Y%m%dT%H%M%SZ")), when


@FUZZ
@given(one_change())
def test_any_change_to_a_signed_request_is_refused(changed) -> None:
    req, when = changed
    forbidden(req, when)
