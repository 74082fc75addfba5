"""Local runtime parts that need no AWS: the gateway that stands in for API Gateway (REST and HTTP API events from
real HTTP requests) and the scheduler that stands in for EventBridge (rate schedules and one-time wake-ups)."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from kizuna.catalog import FUNCTIONS, SCHEDULES
from kizuna.clock import VirtualClock
from kizuna.local.lambda_context import LocalLambdaContext
from kizuna.local.runtime_gateway import HTTP, LocalGateway, Route
from kizuna.local.runtime_scheduler import LocalScheduler

# -- gateway -----------------------------------------------------------------------------------------------------


def echo(event: dict, context: Any) -> dict:
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": json.dumps({"event": event, "function": context.function_name, "request": context.aws_request_id}),
    }


def echo_v2(event: dict, context: Any) -> dict:
    """What a payload format 2.0 function answers: cookies apart from the headers."""
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "cookies": ["a=1", "b=2"],
        "body": json.dumps({"event": event, "function": context.function_name}),
    }


def binary(event: dict, context: Any) -> dict:
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/octet-stream"},
        "body": base64.b64encode(b"\x00\xff\x10").decode(),
        "isBase64Encoded": True,
    }


def boom(event: dict, context: Any) -> dict:
    raise RuntimeError("handler failure")


@pytest.fixture
def gateway() -> Iterator[LocalGateway]:
    routes = [
        Route("/v1", echo, "api", FUNCTIONS["api"].timeout_s),
        Route("/webhooks", binary, "webhooks", 10),
        Route("/webhooks/twilio", echo, "twilio_webhook", FUNCTIONS["twilio_webhook"].timeout_s),
        Route("/boom", boom, "boom", 10),
    ]
    gw = LocalGateway(routes)
    gw.start()
    yield gw
    gw.stop()


def request(
    gw: LocalGateway, method: str, target: str, body: bytes | None = None, headers: list[tuple[str, str]] = ()
) -> tuple[int, http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.putrequest(method, target, skip_accept_encoding=True)
    for name, value in headers:
        conn.putheader(name, value)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response, data


def test_gateway_builds_rest_proxy_events(gateway: LocalGateway) -> None:
    target = "/v1/apps/a%2Fb%20c/endpoints?x=1&x=2&y=%E3%81%82&empty="
    status, response, data = request(
        gateway, "GET", target, headers=[("X-Dup", "one"), ("X-Dup", "two"), ("x_underscore", "kept")]
    )
    assert status == 200
    assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    out = json.loads(data)
    event = out["event"]
    assert out["function"] == "api"
    assert event["resource"] == "/{proxy+}"
    assert event["httpMethod"] == "GET"
    assert event["path"] == "/v1/apps/a/b c/endpoints"
    assert event["pathParameters"] == {"proxy": "v1/apps/a/b c/endpoints"}
    assert event["queryStringParameters"] == {"x": "2", "y": "あ", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["あ"], "empty": [""]}
    assert event["multiValueHeaders"]["X-Dup"] == ["one", "two"]
    assert event["headers"]["X-Dup"] == "two"
    assert event["headers"]["x_underscore"] == "kept"
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    ctx = event["requestContext"]
    assert ctx["path"] == "/v1/apps/a%2Fb%20c/endpoints"  # exactly as sent
    assert ctx["stage"] == "local" and ctx["httpMethod"] == "GET"
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["domainName"] == f"127.0.0.1:{gateway.port}"
    assert abs(ctx["requestTimeEpoch"] / 1000 - time.time()) < 5
    assert ctx["requestId"] and event["body"] is None and event["isBase64Encoded"] is False

    # No query string -> None, like API Gateway; longest prefix wins; a fresh request id per invocation.
    _, _, data2 = request(gateway, "POST", "/webhooks/twilio/status", body="Body=héllo".encode())
    out2 = json.loads(data2)
    assert out2["function"] == "twilio_webhook" and out2["request"] != out["request"]
    assert out2["event"]["queryStringParameters"] is None
    assert out2["event"]["multiValueQueryStringParameters"] is None
    assert out2["event"]["body"] == "Body=héllo" and out2["event"]["isBase64Encoded"] is False


def test_gateway_builds_http_api_events_for_the_webhook_routes() -> None:
    # Given a route served by an HTTP API in AWS (payload format 2.0), as the webhooks are
    routes = [Route("/webhooks/twilio", echo_v2, "twilio_webhook", FUNCTIONS["twilio_webhook"].timeout_s, payload=HTTP)]
    with LocalGateway(routes) as gw:
        target = "/webhooks/twilio/status?m=a%2Fb&app=x&m=2"
        headers = [("X-Twilio-Signature", "sig"), ("X-Dup", "one"), ("X-Dup", "two"), ("Cookie", "a=1; b=2")]
        status, response, data = request(gw, "POST", target, body=b"MessageStatus=sent", headers=headers)
    assert status == 200
    # a 2.0 answer's `cookies` become Set-Cookie headers
    assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    event = json.loads(data)["event"]
    # Then the event is the 2.0 shape: the path and query string exactly as sent (Twilio signed that URL)
    assert (event["version"], event["routeKey"]) == ("2.0", "ANY /webhooks/twilio/{proxy+}")
    assert event["rawPath"] == "/webhooks/twilio/status"
    assert event["rawQueryString"] == "m=a%2Fb&app=x&m=2"
    assert event["queryStringParameters"] == {"m": "a/b,2", "app": "x"}
    assert event["pathParameters"] == {"proxy": "status"}
    # lowercased header names, repeats joined by commas, cookies apart, the forwarded headers added
    assert event["headers"]["x-twilio-signature"] == "sig" and event["headers"]["x-dup"] == "one,two"
    assert "cookie" not in event["headers"] and event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["host"] == f"127.0.0.1:{gw.port}" and event["headers"]["x-forwarded-proto"] == "http"
    ctx = event["requestContext"]
    assert ctx["stage"] == "$default" and ctx["http"]["method"] == "POST" and ctx["http"]["sourceIp"] == "127.0.0.1"
    assert event["body"] == "MessageStatus=sent" and event["isBase64Encoded"] is False


def test_gateway_binary_errors_and_limits(gateway: LocalGateway) -> None:
    # Binary request body -> base64 in the event.
    raw = b"\xff\xfe\x00binary"
    status, _, data = request(gateway, "POST", "/webhooks/twilio/x", body=raw)
    event = json.loads(data)["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw
    # Binary response body from the function.
    status, response, data = request(gateway, "GET", "/webhooks/other")
    assert status == 201 and data == b"\x00\xff\x10"
    assert response.headers["Content-Type"] == "application/octet-stream"
    # Unknown prefix ("/v1x" is not under "/v1").
    for target in ("/nope", "/v1x/apps"):
        status, _, data = request(gateway, "GET", target)
        assert (status, json.loads(data)) == (404, {"Message": "Not found"})
    status, _, data = request(gateway, "GET", "/boom")
    assert (status, json.loads(data)) == (502, {"message": "Internal server error"})
    # Over 10 MB: refused from the Content-Length, before the body is read.
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    conn.putrequest("POST", "/v1/apps")
    conn.putheader("Content-Length", str(10 * 1024 * 1024 + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    conn.close()
    # Exactly 10 MB goes through.
    status, _, data = request(gateway, "POST", "/webhooks/twilio/big", body=b"a" * (10 * 1024 * 1024))
    assert status == 200
    # The server is still healthy.
    assert request(gateway, "GET", "/v1/ok")[0] == 200


# -- scheduler ----------------------------------------------------------------------------------------------------


def test_scheduler_fires_rate_schedule_on_virtual_clock() -> None:
    clock = VirtualClock()
    start = clock.now()
    calls: list[tuple[dict, Any]] = []
    spec = SCHEDULES["reconcile_messages"]
    handlers = {"reconciler": lambda event, context: calls.append((event, context))}
    scheduler = LocalScheduler(clock, handlers, schedules=[spec])  # the catalog has other schedules too
    assert spec.rate_minutes == 5
    for _ in range(60):
        clock.advance(timedelta(minutes=1))
        scheduler.run_due()
    assert len(calls) == 12
    assert all(event == {"schedule": "reconcile_messages"} for event, _ in calls)
    assert isinstance(calls[0][1], LocalLambdaContext) and calls[0][1].function_name == "reconciler"
    assert [f.scheduled_at for f in scheduler.history] == [start + timedelta(minutes=5 * i) for i in range(1, 13)]

    # A jump over several periods fires every missed occurrence; one-time schedules fire once.
    hits: list[dict] = []
    scheduler.at(clock.now() + timedelta(minutes=7), lambda event, context: hits.append(event), {"journey": "j1"})
    clock.advance(timedelta(hours=1))
    fired = scheduler.run_due()
    assert len(calls) == 24 and hits == [{"journey": "j1"}] and len(fired) == 13
    clock.advance(timedelta(hours=1))
    scheduler.run_due()
    assert hits == [{"journey": "j1"}]


def test_scheduler_background_thread_and_failures() -> None:
    clock = VirtualClock()
    scheduler = LocalScheduler(clock, {}, schedules=())
    fired = threading.Event()
    scheduler.at(clock.now(), lambda event, context: fired.set(), {})
    scheduler.at(clock.now(), "unregistered", {})
    scheduler.start(poll_s=0.05)
    try:
        assert fired.wait(2)
    finally:
        scheduler.stop()
    assert scheduler.failures == 1 and len(scheduler.history) == 2
