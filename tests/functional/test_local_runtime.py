"""Local runtime against a real moto server on loopback: gateway, SQS pollers, scheduler, resource creation."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from kizuna.catalog import FUNCTIONS, QUEUES, SCHEDULES, SECRETS, STREAMS, TABLES, Naming, Queue, visibility_timeout_s
from kizuna.clock import SystemClock, VirtualClock
from kizuna.local.aws_resources import create_local_resources, create_queue_pair
from kizuna.local.lambda_context import LocalLambdaContext
from kizuna.local.runtime_gateway import HTTP, LocalGateway, Route
from kizuna.local.runtime_queues import QueuePoller
from kizuna.local.runtime_scheduler import LocalScheduler
from kizuna.settings import ApiSettings, ReconcilerSettings, SenderSettings

REGION = "us-east-1"
KIND = {"DataType": "String", "StringValue": "t"}


# -- moto server ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


def client(session: boto3.Session, moto_url: str, service: str) -> Any:
    return session.client(service, endpoint_url=moto_url, config=Config(max_pool_connections=20))


@pytest.fixture(scope="module")
def sqs(session: boto3.Session, moto_url: str) -> Any:
    return client(session, moto_url, "sqs")


def send(sqs: Any, url: str, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": body, "MessageAttributes": {"kind": KIND}}
                for i, body in enumerate(bodies[start : start + 10])
            ],
        )


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])


class ConcurrencyMeter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.current += 1
            self.peak = max(self.peak, self.current)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.current -= 1


# -- resources ----------------------------------------------------------------------------------------------------


def test_resources_from_catalog_idempotent_and_env(session: boto3.Session, moto_url: str) -> None:
    naming = Naming(prefix=f"res{uuid.uuid4().hex[:6]}")
    first = create_local_resources(session, naming, endpoint_url=moto_url)
    again = create_local_resources(session, naming, endpoint_url=moto_url)
    assert again == first

    ddb = client(session, moto_url, "dynamodb")
    for key, spec in TABLES.items():
        table = ddb.describe_table(TableName=first.tables[key])["Table"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert {k["AttributeName"] for k in table["KeySchema"]} == {spec.partition_key, spec.sort_key} - {None}
        assert {g["IndexName"] for g in table.get("GlobalSecondaryIndexes", [])} == {i.name for i in spec.indexes}
        projections = {
            g["IndexName"]: g["Projection"]["ProjectionType"] for g in table.get("GlobalSecondaryIndexes", [])
        }
        assert projections == {i.name: i.projection for i in spec.indexes}
        if spec.ttl_attribute:
            ttl = ddb.describe_time_to_live(TableName=first.tables[key])["TimeToLiveDescription"]
            assert ttl["AttributeName"] == spec.ttl_attribute

    sqs = client(session, moto_url, "sqs")
    for key, spec in QUEUES.items():
        attrs = sqs.get_queue_attributes(QueueUrl=first.queue_urls[key], AttributeNames=["All"])["Attributes"]
        assert int(attrs["VisibilityTimeout"]) == visibility_timeout_s(spec)
        assert json.loads(attrs["RedrivePolicy"]) == {
            "deadLetterTargetArn": first.dlq_arns[key],
            "maxReceiveCount": spec.max_receive_count,
        }

    # Firehose delivers to the events bucket under the static part of the catalog prefix (moto writes at once).
    firehose = client(session, moto_url, "firehose")
    firehose.put_record(DeliveryStreamName=first.stream_name, Record={"Data": b'{"event": 1}\n'})
    keys = [o["Key"] for o in client(session, moto_url, "s3").list_objects_v2(Bucket=first.bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("events/")

    secrets = client(session, moto_url, "secretsmanager")
    assert json.loads(secrets.get_secret_value(SecretId=first.secrets["twilio"])["SecretString"]) == {}
    assert client(session, moto_url, "kms").describe_key(KeyId=first.kms_key_id)["KeyMetadata"]["Enabled"]

    api_env = first.env_for(ApiSettings, extra={"WEBHOOK_BASE_URL": "http://x", "LINKS_BASE_URL": "http://l"})
    assert (
        api_env.items()
        >= {
            TABLES["data"].env_var: first.tables["data"],
            TABLES["messages"].env_var: first.tables["messages"],
            TABLES["access_keys"].env_var: first.tables["access_keys"],
            "KEYS_KMS_KEY_ID": first.kms_key_id,
            QUEUES["send"].env_var: first.queue_urls["send"],
            QUEUES["jobs"].env_var: first.queue_urls["jobs"],
            STREAMS["events"].env_var: first.stream_name,
            SECRETS["twilio"].env_var: first.secrets["twilio"],
            TABLES["consultations"].env_var: first.tables["consultations"],
            SECRETS["stripe"].env_var: first.secrets["stripe"],
            TABLES["analytics"].env_var: first.tables["analytics"],
        }.items()
    )
    assert set(api_env) == ApiSettings.env_names() - {"POWERTOOLS_SERVICE_NAME"}  # nothing missing, nothing extra
    ApiSettings(**api_env)  # the model accepts it
    assert first.env_for(ReconcilerSettings)["TWILIO_SECRET_ID"] == first.secrets["twilio"]
    with pytest.raises(KeyError, match="WEBHOOK_BASE_URL"):
        first.env_for(SenderSettings)
    extra = {"WEBHOOK_BASE_URL": "http://x", "EMAIL_CONFIGURATION_SET": "kizuna-email"}
    assert first.env_for(SenderSettings, extra=extra)["WEBHOOK_BASE_URL"] == "http://x"


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


# -- queue pollers -------------------------------------------------------------------------------------------------


def test_poller_batches_and_bounded_concurrency(session: boto3.Session, moto_url: str, sqs: Any) -> None:
    naming = Naming(prefix=f"q{uuid.uuid4().hex[:6]}")
    res = create_local_resources(session, naming, endpoint_url=moto_url)
    spec = QUEUES["send"]
    meter = ConcurrencyMeter()
    seen: list[str] = []
    batches: list[int] = []
    events: list[dict] = []
    lock = threading.Lock()

    def handler(event: dict, context: Any) -> dict:
        with meter:
            with lock:
                seen.extend(r["body"] for r in event["Records"])
                batches.append(len(event["Records"]))
                events.append(event)
            time.sleep(0.2)
        return {"batchItemFailures": []}

    send(sqs, res.queue_urls["send"], [f"m{i}" for i in range(25)])
    poller = QueuePoller(
        sqs, res.queue_urls["send"], res.queue_arns["send"], spec, handler, FUNCTIONS["sender"].timeout_s, SystemClock()
    )
    poller.start()
    try:
        assert poller.drain(timeout=20)
    finally:
        poller.stop()
    # SQS is at-least-once (and moto's concurrent receives can hand a message out twice): every message is
    # processed, none lost; exact-once is the sender's job (its claim), not the poller's.
    assert set(seen) == {f"m{i}" for i in range(25)}
    assert max(batches) <= spec.batch_size and meter.peak <= spec.max_concurrency
    assert poller.records == len(seen) and poller.invocations == len(batches) and poller.failures == 0
    record = events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == res.queue_arns["send"]
    assert record["awsRegion"] == REGION and record["md5OfBody"] and record["receiptHandle"]
    assert {"ApproximateReceiveCount", "SentTimestamp", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "t",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }


def test_poller_never_exceeds_max_concurrency(sqs: Any) -> None:
    name = f"conc-{uuid.uuid4().hex[:6]}"
    _, _, url, arn = create_queue_pair(sqs, name, f"{name}-dlq", visibility_timeout_s=30, max_receive_count=3)
    spec = Queue("conc", "UNUSED", consumer="sender", batch_size=1, max_concurrency=3, max_receive_count=3)
    meter = ConcurrencyMeter()

    def handler(event: dict, context: Any) -> None:
        with meter:
            time.sleep(0.1)

    send(sqs, url, [f"m{i}" for i in range(12)])
    with QueuePoller(sqs, url, arn, spec, handler, 30, SystemClock()) as poller:
        assert poller.drain(timeout=20)
    assert poller.invocations == 12 and meter.peak == 3 and poller.stats.max_in_flight <= 3


def test_partial_batch_failures_and_redrive(sqs: Any) -> None:
    name = f"partial-{uuid.uuid4().hex[:6]}"
    # Visibility long enough that a slow machine never sees a record reappear while its batch is still running.
    dlq_url, _, url, arn = create_queue_pair(sqs, name, f"{name}-dlq", visibility_timeout_s=3, max_receive_count=3)
    spec = Queue("partial", "UNUSED", consumer="sender", batch_size=10, max_concurrency=2, max_receive_count=3)
    attempts: Counter[str] = Counter()
    done: list[str] = []
    lock = threading.Lock()

    def handler(event: dict, context: Any) -> dict:
        failures = []
        for record in event["Records"]:
            body = record["body"]
            with lock:
                attempts[body] += 1
                n = attempts[body]
            assert int(record["attributes"]["ApproximateReceiveCount"]) == n
            if body == "poison" or (body == "flaky" and n <= 2):
                failures.append({"itemIdentifier": record["messageId"]})
            else:
                done.append(body)
        return {"batchItemFailures": failures}

    send(sqs, url, ["ok-1", "ok-2", "flaky", "poison", "ok-3"])
    poller = QueuePoller(sqs, url, arn, spec, handler, 30, SystemClock())
    poller.start()
    try:
        assert poller.drain(timeout=45)
    finally:
        poller.stop()
    assert sorted(done) == ["flaky", "ok-1", "ok-2", "ok-3"]
    assert attempts == {"ok-1": 1, "ok-2": 1, "ok-3": 1, "flaky": 3, "poison": spec.max_receive_count}
    assert poller.failures == 2 + spec.max_receive_count
    dead = receive_all(sqs, dlq_url)
    assert [m["Body"] for m in dead] == ["poison"]


def test_handler_exception_retries_whole_batch(sqs: Any) -> None:
    name = f"raise-{uuid.uuid4().hex[:6]}"
    _, _, url, arn = create_queue_pair(sqs, name, f"{name}-dlq", visibility_timeout_s=1, max_receive_count=3)
    spec = Queue("raise", "UNUSED", consumer="sender", batch_size=10, max_concurrency=2, max_receive_count=3)
    deliveries: Counter[str] = Counter()
    in_failed: Counter[str] = Counter()  # how many failed invocations each record was part of
    calls = []
    lock = threading.Lock()

    def handler(event: dict, context: Any) -> dict:
        bodies = [record["body"] for record in event["Records"]]
        with lock:
            calls.append(len(bodies))
            deliveries.update(bodies)
            n = len(calls)
            if n <= 2:
                in_failed.update(bodies)
        if n == 1:
            raise RuntimeError("first invocation fails")
        # An identifier that is not in the batch also fails the whole batch (Lambda's rule) - only on the 2nd call.
        if n == 2:
            return {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}
        return {}

    send(sqs, url, ["a", "b", "c"])
    time.sleep(0.05)
    poller = QueuePoller(sqs, url, arn, spec, handler, 30, SystemClock())
    poller.start()
    try:
        assert poller.drain(timeout=20)
    finally:
        poller.stop()
    # Every record of a failed invocation came back (however a loaded machine split the records over batches), and
    # each was finally handled once more than the failures it was part of.
    assert set(deliveries) == {"a", "b", "c"} and sum(in_failed.values()) >= 2
    assert deliveries == Counter({body: in_failed[body] + 1 for body in "abc"})
    assert poller.stats.errors == 2


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
