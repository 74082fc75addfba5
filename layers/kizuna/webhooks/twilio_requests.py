"""Twilio webhook requests: rebuild the URL Twilio signed, parse the form, verify X-Twilio-Signature."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from twilio.request_validator import RequestValidator

from kizuna.errors import Forbidden


@dataclass(frozen=True)
class TwilioRequest:
    url: str
    params: dict[str, str]
    signature: str | None


def from_api_gateway(event: dict) -> TwilioRequest:
    """The public URL as Twilio called it: scheme and host from the forwarded headers, the full path from the request
    context (it includes the API Gateway stage), and the query string in the order it arrived."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    scheme = headers.get("x-forwarded-proto", "https")
    host = headers.get("host", "")
    path = (event.get("requestContext") or {}).get("path") or event.get("path", "")
    query = event.get("multiValueQueryStringParameters") or {}
    url = f"{scheme}://{host}{path}"
    if query:
        url += "?" + urlencode([(k, v) for k, values in query.items() for v in values])
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    params = dict(parse_qsl(body, keep_blank_values=True))
    return TwilioRequest(url, params, headers.get("x-twilio-signature"))


def verify(request: TwilioRequest, auth_token: str) -> None:
    if not request.signature:
        raise Forbidden("Missing X-Twilio-Signature")
    if not RequestValidator(auth_token).validate(request.url, request.params, request.signature):
        raise Forbidden("Invalid X-Twilio-Signature")
