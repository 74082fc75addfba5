"""Twilio webhook requests: rebuild the URL Twilio signed, parse the form, verify X-Twilio-Signature."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

from kizuna.errors import Forbidden


@dataclass(frozen=True)
class TwilioRequest:
    url: str
    params: dict[str, str]
    signature: str | None


def from_http_api(event: dict) -> TwilioRequest:
    """The public URL exactly as Twilio called it, from an HTTP API event (payload format 2.0): scheme and host from
    the forwarded headers, the path as sent (`rawPath`; the `$default` stage adds no segment to the URL) and the
    query string as sent (`rawQueryString`: its order and percent-encoding are the ones Twilio signed)."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    scheme = headers.get("x-forwarded-proto", "https")
    host = headers.get("host", "")
    url = f"{scheme}://{host}{event.get('rawPath', '')}"
    if event.get("rawQueryString"):
        url += "?" + event["rawQueryString"]
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
