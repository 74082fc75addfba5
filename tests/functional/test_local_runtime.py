"""Local runtime against a real moto server on loopback: the resources created from the catalog, and the SQS pollers
that stand in for Lambda's event source mappings. The gateway and scheduler: test_local_runtime_gateway_scheduler.py."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from kizuna.catalog import FUNCTIONS, QUEUES, SECRETS, STREAMS, TABLES, visibility_timeout_s
from kizuna.catalog_types import Naming, Queue
from kizuna.clock import SystemClock
from kizuna.local.aws_resources import create_local_resources, create_queue_pair
from kizuna.local.runtime_queues import QueuePoller
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
