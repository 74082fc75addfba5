"""Local API Gateway: an HTTP server that turns requests into the events API Gateway gives Lambda proxies.

Each `Route` is mounted at a path prefix (longest prefix wins) and stands for the API that serves it in AWS, with
its event shape:
- `REST` (the management API, and the tracked links' API, infra/links_api.py): a REST API whose only resource is
  `/{proxy+}`, payload format 1.0. The event carries `requestContext.path` exactly as the client sent it
  (percent-encoding kept; SigV4 verification needs it) and the decoded `path`.
- `HTTP` (the webhooks API, infra/webhooks_api.py): an HTTP API route `ANY <prefix>/{proxy+}` on the `$default`
  stage, payload format 2.0: `rawPath` and `rawQueryString` as sent (Twilio signs the URL it called), header names
  lowercased with repeated headers joined by commas, cookies apart.
API Gateway behaviours reproduced: 10 MB payload limit (413), an exception or a malformed proxy response from the
function -> 502 {"message": "Internal server error"}, X-Forwarded-* headers added.
Not reproduced: the REST stage prefix in requestContext.path (local mode has no stage in the URL), the 29 s
integration timeout (an over-long invocation is logged, not cut off).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from kizuna.local.lambda_context import LocalLambdaContext

log = logging.getLogger(__name__)

Handler = Callable[[dict, Any], dict]

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
INTEGRATION_TIMEOUT_S = 29


REST = "1.0"  # payload format of a REST API's Lambda proxy integration
HTTP = "2.0"  # an HTTP API's


@dataclass(frozen=True)
class Route:
    prefix: str
    handler: Handler
    function_name: str
    timeout_s: float = INTEGRATION_TIMEOUT_S
    memory_mb: int = 512
    payload: str = REST

    def matches(self, path: str) -> bool:
        prefix = self.prefix.rstrip("/")
        return prefix == "" or path == prefix or path.startswith(prefix + "/")


class _RawRequestHandler(WSGIRequestHandler):
    """Keeps the request line's path and the header names/duplicates exactly as the client sent them
    (WSGI uppercases header names, folds duplicates and drops names containing '_')."""

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ["kizuna.raw_target"] = self.path
        environ["kizuna.raw_headers"] = [(k, v.replace("\r\n", "")) for k, v in self.headers.items()]
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, self.path, code)


class LocalGateway:
    def __init__(self, routes: list[Route], host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes = sorted(routes, key=lambda r: len(r.prefix.rstrip("/")), reverse=True)
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> str:
        self._server = make_server(self.host, self.port, self._app, threaded=True, request_handler=_RawRequestHandler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="kizuna-gateway", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> LocalGateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- WSGI --------------------------------------------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raw_target = environ.get("kizuna.raw_target") or environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
        split = urlsplit(raw_target)
        raw_path = split.path or "/"
        if not split.scheme and split.netloc:  # "//x/y" was parsed as a netloc
            raw_path = f"//{split.netloc}{split.path}"
        path = unquote(raw_path)

        route = next((r for r in self.routes if r.matches(path)), None)
        if route is None:
            return _json(start_response, 404, {"Message": "Not found"})

        body = _read_body(environ)
        if body is None:
            return _json(start_response, 413, {"message": "Request Too Long"}, close=True)

        if route.payload == HTTP:
            event = self._http_event(environ, route, raw_path, path, split.query, body)
        else:
            event = self._event(environ, raw_path, path, split.query, body)
        context = LocalLambdaContext(route.function_name, route.timeout_s, route.memory_mb)
        started = time.monotonic()
        try:
            response = route.handler(event, context)
        except Exception:
            log.exception("%s: handler raised for %s %s", route.function_name, environ["REQUEST_METHOD"], raw_path)
            return _json(start_response, 502, {"message": "Internal server error"})
        finally:
            elapsed = time.monotonic() - started
            if elapsed > min(route.timeout_s, INTEGRATION_TIMEOUT_S):
                log.error(
                    "%s: invocation took %.1f s, beyond its %s s timeout (API Gateway would have answered 504)",
                    route.function_name,
                    elapsed,
                    route.timeout_s,
                )
        try:
            status, headers, payload = _http_response(response)
        except (TypeError, ValueError, KeyError) as exc:
            log.error("%s: malformed Lambda proxy response (%s): %r", route.function_name, exc, response)
            return _json(start_response, 502, {"message": "Internal server error"})
        start_response(_status_line(status), headers)
        return [payload]

    def _header_pairs(self, environ: dict[str, Any]) -> list[tuple[str, str]]:
        """The request's headers as sent, with the X-Forwarded-* ones API Gateway sets."""
        pairs: list[tuple[str, str]] = environ.get("kizuna.raw_headers") or [
            (k[5:].replace("_", "-").title(), v) for k, v in environ.items() if k.startswith("HTTP_")
        ]
        source_ip = environ.get("REMOTE_ADDR", "127.0.0.1")
        forwarded = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port"}
        existing_for = next((v for k, v in pairs if k.lower() == "x-forwarded-for"), None)
        pairs = [(k, v) for k, v in pairs if k.lower() not in forwarded]
        return pairs + [
            ("X-Forwarded-For", f"{existing_for}, {source_ip}" if existing_for else source_ip),
            ("X-Forwarded-Port", str(self.port)),
            ("X-Forwarded-Proto", environ.get("wsgi.url_scheme", "http")),
        ]

    def _http_event(
        self, environ: dict[str, Any], route: Route, raw_path: str, path: str, query: str, body: bytes
    ) -> dict[str, Any]:
        """An HTTP API's payload format 2.0 event for route `ANY <prefix>/{proxy+}` on the `$default` stage."""
        method = environ["REQUEST_METHOD"]
        pairs = self._header_pairs(environ)
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in pairs:
            if name.lower() == "cookie":
                cookies += [c.strip() for c in value.split(";") if c.strip()]
            else:
                headers[name.lower()] = f"{headers[name.lower()]},{value}" if name.lower() in headers else value
        params: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            params[name] = f"{params[name]},{value}" if name in params else value
        text, is_base64 = _body_text(body)
        now_ms = int(time.time() * 1000)
        host = headers.get("host", f"{self.host}:{self.port}")
        prefix = route.prefix.rstrip("/")
        route_key = f"ANY {prefix}/{{proxy+}}"
        event: dict[str, Any] = {
            "version": HTTP,
            "routeKey": route_key,
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": host,
                "domainPrefix": host.split(".")[0].split(":")[0],
                "http": {
                    "method": method,
                    "path": raw_path,
                    "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                    "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": route_key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
                "timeEpoch": now_ms,
            },
            "pathParameters": {"proxy": path[len(prefix) :].lstrip("/")},
            "isBase64Encoded": is_base64 if body else False,
        }
        # API Gateway leaves out what the request did not have.
        if cookies:
            event["cookies"] = cookies
        if params:
            event["queryStringParameters"] = params
        if body:
            event["body"] = text
        return event

    def _event(self, environ: dict[str, Any], raw_path: str, path: str, query: str, body: bytes) -> dict[str, Any]:
        method = environ["REQUEST_METHOD"]
        pairs = self._header_pairs(environ)
        source_ip = environ.get("REMOTE_ADDR", "127.0.0.1")
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in pairs:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)

        query_pairs = parse_qsl(query, keep_blank_values=True)
        params: dict[str, str] = {}
        multi_params: dict[str, list[str]] = {}
        for name, value in query_pairs:
            params[name] = value
            multi_params.setdefault(name, []).append(value)

        text, is_base64 = _body_text(body)
        now_ms = int(time.time() * 1000)
        host = next((v for k, v in pairs if k.lower() == "host"), f"{self.host}:{self.port}")
        request_id = str(uuid.uuid4())
        return {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": params or None,
            "multiValueQueryStringParameters": multi_params or None,
            "pathParameters": {"proxy": path.lstrip("/")},
            "stageVariables": None,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "resourceId": "local",
                "resourcePath": "/{proxy+}",
                "stage": "local",
                "requestId": request_id,
                "extendedRequestId": request_id,
                "path": raw_path,
                "httpMethod": method,
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
                "requestTimeEpoch": now_ms,
                "domainName": host,
                "domainPrefix": host.split(".")[0].split(":")[0],
                "identity": {
                    "sourceIp": source_ip,
                    "userAgent": next((v for k, v in pairs if k.lower() == "user-agent"), None),
                    "accessKey": None,
                    "accountId": None,
                    "caller": None,
                    "user": None,
                    "userArn": None,
                    "cognitoIdentityId": None,
                    "cognitoIdentityPoolId": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                },
            },
            "body": text if body else None,
            "isBase64Encoded": is_base64 if body else False,
        }


def _body_text(body: bytes) -> tuple[str, bool]:
    """The body as the event carries it: text when it is UTF-8, else base64 (isBase64Encoded)."""
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _read_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, or None when it is over API Gateway's 10 MB limit."""
    stream = environ["wsgi.input"]
    length_header = environ.get("CONTENT_LENGTH")
    if length_header:
        length = int(length_header)
        if length > MAX_PAYLOAD_BYTES:
            return None
        return stream.read(length) if length else b""
    if environ.get("wsgi.input_terminated"):  # chunked
        data = stream.read(MAX_PAYLOAD_BYTES + 1)
        return None if len(data) > MAX_PAYLOAD_BYTES else data
    return b""


def _http_response(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    if not isinstance(response, dict):
        raise TypeError("the function must return an object")
    status = int(response["statusCode"])
    headers: list[tuple[str, str]] = []
    multi = response.get("multiValueHeaders") or {}
    for name, values in multi.items():
        headers += [(name, str(v)) for v in values]
    lower_multi = {n.lower() for n in multi}
    for name, value in (response.get("headers") or {}).items():
        if name.lower() not in lower_multi:
            headers.append((name, str(value)))
    headers += [("Set-Cookie", str(c)) for c in response.get("cookies") or []]  # payload format 2.0's cookies
    body = response.get("body")
    if body is None:
        payload = b""
    elif response.get("isBase64Encoded"):
        payload = base64.b64decode(body)
    else:
        payload = body.encode("utf-8") if isinstance(body, str) else str(body).encode("utf-8")
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(payload))))
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return status, headers, payload


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _json(start_response: Callable[..., Any], status: int, body: dict[str, Any], *, close: bool = False) -> list[bytes]:
    payload = json.dumps(body).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    if close:  # the unread request body must not be taken for the next request on this connection
        headers.append(("Connection", "close"))
    start_response(_status_line(status), headers)
    return [payload]
