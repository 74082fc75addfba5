"""SigV4 verification under hypothesis: mutated requests, random Authorization headers and random requests are only
ever Forbidden (never a crash, never accepted); any request botocore signs verifies within five minutes of its date
and is refused outside them; any one change to it is refused."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kizuna.auth.sigv4 import (
    SignedRequest,
)
from kizuna.errors import Forbidden
from tests.unit.sigv4_harness import (
    AKID,
    JP_BODY,
    T0,
    endpoint_url,
    forbidden,
    received,
    replace,
    sign,
    verify,
    with_header,
)

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
