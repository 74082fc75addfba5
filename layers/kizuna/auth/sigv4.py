"""AWS Signature Version 4 verification, done by Kizuna itself inside the API function.

The signature is recomputed with botocore's own signer (`botocore.auth.SigV4Auth`), so the canonical request is
built exactly the way the stock boto3 `pinpoint` client built it: same path normalisation and double encoding,
same query canonicalisation, same header trimming, same payload hash. Two things differ from signing: the headers
signed are exactly the client's `SignedHeaders`, and the timestamp comes from the request, not the wall clock.

Every failure raises `kizuna.errors.Forbidden` with a Pinpoint/AWS-like message; the expected signature is never
revealed. Only `secret_for` (the key store) may raise something else, e.g. when the store is unavailable.

The path: give the path as the client put it on the wire (API Gateway REST `requestContext.path`, which keeps the
stage prefix and the percent-encoding). A decoded path is accepted with `path_encoded=False`; it is re-encoded
the way botocore's rest-json serializer encodes URI labels, which is exact except for a `/` inside a label
(a decoded path cannot tell `a/b` from `a%2Fb`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from kizuna.errors import Forbidden

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=5)
MAX_AUTH_HEADER_CHARS = 8192

MSG_MISSING_TOKEN = "Missing Authentication Token"
MSG_INVALID_KEY = "The security token included in the request is invalid."
MSG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
MSG_MISSING_DATE = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."

_ACCESS_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")
_SCOPE_DATE = re.compile(r"\d{8}")
_SCOPE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
# Characters that can never appear literally in a percent-encoded path, and a '%' not starting an escape.
_NOT_IN_ENCODED_PATH = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]|%(?![0-9A-Fa-f]{2})")
_PLACEHOLDER_ORIGIN = "https://kizuna.invalid"


@dataclass(frozen=True)
class SignedRequest:
    """An incoming HTTP request as the API function received it."""

    method: str
    path: str
    query: Mapping[str, Any] = field(default_factory=dict)  # name -> list of values (a bare string is one value)
    headers: Mapping[str, Any] = field(default_factory=dict)  # any case; looked up case-insensitively
    body: bytes = b""
    # True: `path` is percent-encoded as on the wire (API Gateway REST). False: `path` is decoded.
    path_encoded: bool = True


@dataclass(frozen=True)
class VerifiedCaller:
    access_key_id: str
    region: str
    service: str


@dataclass(frozen=True)
class _Authorization:
    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def verify_request(
    req: SignedRequest,
    secret_for: Callable[[str], str | None],
    now: datetime,
    max_skew: timedelta = MAX_SKEW,
) -> VerifiedCaller:
    """Verify a SigV4 `Authorization` header; return who signed it, or raise Forbidden."""
    headers = _lower_headers(req.headers)
    auth = _parse_authorization(headers.get("authorization"))
    timestamp = _request_timestamp(headers, auth, now, max_skew)
    if auth.scope_date != timestamp[:8]:
        raise Forbidden(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{auth.scope_date}' != '{timestamp[:8]}', from '{_date_header_name(headers)}'."
        )
    body = req.body if isinstance(req.body, bytes | bytearray) else b""
    body = bytes(body)
    _check_content_sha256(headers, body)

    secret = secret_for(auth.access_key_id)
    if not secret:
        raise Forbidden(MSG_INVALID_KEY)

    try:
        expected = _expected_signature(req, headers, body, auth, timestamp, secret)
    except Forbidden:
        raise
    except Exception:  # noqa: BLE001 - any oddity in the input is a signature that cannot match
        raise Forbidden(MSG_MISMATCH) from None
    if not hmac.compare_digest(expected.encode("ascii"), auth.signature.encode("ascii")):
        raise Forbidden(MSG_MISMATCH)
    return VerifiedCaller(auth.access_key_id, auth.region, auth.service)


def canonical_path(path: str, path_encoded: bool = True) -> str:
    """The path as the client sent it on the wire (before botocore's own SigV4 canonicalisation)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise Forbidden(MSG_MISMATCH)
    try:
        if not path_encoded:
            # botocore's rest-json serializer: percent_encode(label) with '~' (and '/' between labels) kept.
            return quote(path.encode("utf-8"), safe="/~")
        # Escape only what cannot be literal in an encoded path; decoding the result gives the same string.
        return _NOT_IN_ENCODED_PATH.sub(lambda m: quote(m.group(0).encode("utf-8"), safe=""), path)
    except UnicodeError:
        raise Forbidden(MSG_MISMATCH) from None


# --- parsing ---------------------------------------------------------------------------------------------------


def _lower_headers(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        items = list(headers.items()) if headers is not None else []
    except Exception:  # noqa: BLE001
        raise Forbidden(MSG_MISSING_TOKEN) from None
    for name, value in items:
        if not isinstance(name, str):
            continue
        if isinstance(value, list | tuple) and len(value) == 1:
            value = value[0]
        if not isinstance(value, str):
            raise Forbidden(MSG_MISMATCH)
        lname = name.lower()
        if lname in out and out[lname] != value:
            # The same header twice under different cases with different values: ambiguous, refuse.
            raise Forbidden(MSG_MISMATCH)
        out[lname] = value
    return out


def _parse_authorization(value: str | None) -> _Authorization:
    if value is None or not value.strip():
        raise Forbidden(MSG_MISSING_TOKEN)
    if len(value) > MAX_AUTH_HEADER_CHARS:
        raise Forbidden("Authorization header is too long.")
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise Forbidden(f"Authorization header requires the '{ALGORITHM}' algorithm.")
    params: dict[str, str] = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        key, eq, val = part.partition("=")
        if not eq or not key:
            raise Forbidden("Invalid key=value pair (missing equal-sign) in Authorization header.")
        if key in params:
            raise Forbidden(f"Authorization header has a duplicate '{key}' parameter.")
        params[key] = val.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in params]
    if missing:
        raise Forbidden(" ".join(f"Authorization header requires '{name}' parameter." for name in missing))

    scope = params["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise Forbidden(
            "Credential should be scoped with a valid terminator: 'aws4_request', "
            "in the form <access key>/<date>/<region>/<service>/aws4_request."
        )
    access_key_id, scope_date, region, service, _ = scope
    if not _ACCESS_KEY_ID.fullmatch(access_key_id):
        raise Forbidden(MSG_INVALID_KEY)
    if not _SCOPE_DATE.fullmatch(scope_date):
        raise Forbidden("Credential should be scoped to a valid date in the form YYYYMMDD.")
    if not _SCOPE_NAME.fullmatch(region) or not _SCOPE_NAME.fullmatch(service):
        raise Forbidden("Credential should be scoped to a valid region and service.")

    signed = tuple(params["SignedHeaders"].split(";"))
    if not signed or any(not _HEADER_NAME.fullmatch(name) for name in signed) or len(set(signed)) != len(signed):
        raise Forbidden("SignedHeaders must be a ';'-separated list of lowercase header names.")
    if "host" not in signed:
        raise Forbidden("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")

    signature = params["Signature"]
    if not _SIGNATURE.fullmatch(signature):
        raise Forbidden(MSG_MISMATCH)
    return _Authorization(access_key_id, scope_date, region, service, signed, signature)


def _date_header_name(headers: Mapping[str, str]) -> str:
    return "X-Amz-Date" if "x-amz-date" in headers else "Date"


def _request_timestamp(headers: Mapping[str, str], auth: _Authorization, now: datetime, max_skew: timedelta) -> str:
    """The signing timestamp (YYYYMMDDTHHMMSSZ) from X-Amz-Date (preferred) or Date, checked for freshness."""
    if "x-amz-date" in headers:
        raw = headers["x-amz-date"].strip()
        if "x-amz-date" not in auth.signed_headers:
            raise Forbidden("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
        if not _AMZ_DATE.fullmatch(raw):
            raise Forbidden(MSG_MISSING_DATE)
        try:
            moment = datetime.strptime(raw, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
        except ValueError:
            raise Forbidden(MSG_MISSING_DATE) from None
    elif "date" in headers:
        if "date" not in auth.signed_headers:
            raise Forbidden("'Date' must be a 'SignedHeader' in the AWS Authorization.")
        try:
            moment = parsedate_to_datetime(headers["date"])
        except (TypeError, ValueError, IndexError, OverflowError):
            raise Forbidden(MSG_MISSING_DATE) from None
        if moment is None:
            raise Forbidden(MSG_MISSING_DATE)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    else:
        raise Forbidden(MSG_MISSING_DATE)

    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    stamp = moment.strftime(SIGV4_TIMESTAMP)
    if moment < now - max_skew:
        raise Forbidden(
            f"Signature expired: {stamp} is now earlier than {(now - max_skew).strftime(SIGV4_TIMESTAMP)} "
            f"({now.strftime(SIGV4_TIMESTAMP)} - {_minutes(max_skew)} min.)"
        )
    if moment > now + max_skew:
        raise Forbidden(
            f"Signature not yet current: {stamp} is still later than "
            f"{(now + max_skew).strftime(SIGV4_TIMESTAMP)} "
            f"({now.strftime(SIGV4_TIMESTAMP)} + {_minutes(max_skew)} min.)"
        )
    return stamp


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return str(int(minutes)) if minutes == int(minutes) else f"{minutes:g}"


def _check_content_sha256(headers: Mapping[str, str], body: bytes) -> None:
    """If the client sent x-amz-content-sha256, it must be the body's hash (no UNSIGNED-PAYLOAD, no streaming)."""
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and claimed.strip() != hashlib.sha256(body).hexdigest():
        raise Forbidden("The provided 'x-amz-content-sha256' header does not match what was computed.")


# --- recomputation with botocore ------------------------------------------------------------------------------


class _VerifyingSigV4Auth(SigV4Auth):
    """botocore's signer, told which headers the client signed and what their values were."""

    def __init__(
        self, credentials: Credentials, service: str, region: str, signed: tuple[str, ...], headers: Mapping[str, str]
    ) -> None:
        super().__init__(credentials, service, region)
        self._signed = signed
        self._received = headers

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        header_map = HTTPHeaders()
        for name in self._signed:
            if name not in self._received:
                # The client signed a header that did not reach us (or was stripped): cannot match.
                raise Forbidden(MSG_MISMATCH)
            header_map[name] = self._received[name]
        return header_map

    def payload(self, request: AWSRequest) -> str:
        # Always hash the body we received; never trust a client-declared hash or UNSIGNED-PAYLOAD.
        return hashlib.sha256(request.data or b"").hexdigest()

    def signature_for(self, request: AWSRequest, timestamp: str) -> str:
        request.context["timestamp"] = timestamp
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        return self.signature(string_to_sign, request)


def _query_pairs(query: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, values in (query or {}).items():
        if not isinstance(name, str):
            raise Forbidden(MSG_MISMATCH)
        if values is None:
            values = [""]
        elif isinstance(values, str):
            values = [values]
        for value in values:
            if not isinstance(value, str):
                raise Forbidden(MSG_MISMATCH)
            pairs.append((name, value))
    return pairs


def _expected_signature(
    req: SignedRequest, headers: Mapping[str, str], body: bytes, auth: _Authorization, timestamp: str, secret: str
) -> str:
    method = req.method if isinstance(req.method, str) else ""
    if not method or not method.isascii() or not method.isalpha():
        raise Forbidden(MSG_MISMATCH)
    path = canonical_path(req.path, req.path_encoded)
    request = AWSRequest(method=method.upper(), url=_PLACEHOLDER_ORIGIN + path, data=body)
    # botocore re-encodes (key, value) pairs with quote(safe='-_.~') and sorts them: exactly what the client did
    # to the decoded values API Gateway hands us. An empty list means "no query string".
    request.params = _query_pairs(req.query)
    signer = _VerifyingSigV4Auth(
        Credentials(auth.access_key_id, secret), auth.service, auth.region, auth.signed_headers, headers
    )
    return signer.signature_for(request, timestamp)
