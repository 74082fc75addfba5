"""The management API in-process: the stock (extended) boto3 pinpoint client signs and serializes each request as
it would for the network, and a `before-send` hook hands it to `build_resolver`'s resolver as the API Gateway REST
proxy event the API function receives (stage in `requestContext.path`, decoded `path`), then gives botocore the
function's response. Errors are parsed by botocore, so tests see exactly what a Pinpoint caller sees.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config

from kizuna.local.lambda_context import LocalLambdaContext
from kizuna.pinpoint.client import extended_client

STAGE = "/prod"
BASE_URL = f"https://api.kizuna.test{STAGE}"
REGION = "ap-northeast-1"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs: Any):
        yield self._body


def api_gateway_event(request: AWSPreparedRequest) -> dict[str, Any]:
    """What API Gateway (REST, `/{proxy+}` Lambda proxy) puts in the event for this prepared request."""
    parts = urlsplit(request.url)
    raw_path = parts.path
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    headers.setdefault("Host", parts.netloc)
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    path = unquote(raw_path.removeprefix(STAGE))
    request_id = str(uuid.uuid4())
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "stage": STAGE.strip("/"),
            "requestId": request_id,
            "path": raw_path,
            "httpMethod": request.method,
            "identity": {"sourceIp": "203.0.113.7"},
        },
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def _response(url: str, result: dict[str, Any]) -> AWSResponse:
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = str(values[-1])
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return AWSResponse(url, int(result["statusCode"]), headers, _Raw(payload))


def client_for(
    resolve: Callable[[dict[str, Any]], dict[str, Any]],
    access_key_id: str,
    secret: str,
    *,
    validate: bool = False,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """A pinpoint client (with Kizuna's extensions) whose requests go to `resolve(event)` instead of the network.

    `validate=False` turns botocore's client-side parameter validation off, so a test can send bodies that only
    the server judges (an empty body, a missing required member)."""
    client = extended_client(
        endpoint_url=BASE_URL,
        region_name=REGION,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret,
        config=Config(parameter_validation=validate, retries={"max_attempts": 1, "mode": "standard"}),
    )

    def send(request: AWSPreparedRequest, **_kwargs: Any) -> AWSResponse:
        event = api_gateway_event(request)
        if on_event is not None:
            on_event(event)
        return _response(request.url, resolve(event))

    client.meta.events.register("before-send.pinpoint.*", send)
    return client


def lambda_context() -> LocalLambdaContext:
    return LocalLambdaContext("api", 29, 512)
