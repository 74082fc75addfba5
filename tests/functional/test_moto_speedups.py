"""Local mode's moto speed-ups (kizuna.local.moto_dispatch, kizuna.local.moto_sqs) keep moto's behaviour.

Each SQS scenario runs twice against moto through boto3: with local mode's receive and delete, and with moto's own
(the patched functions keep them as `__wrapped__`). Both runs must tell the same story, and that story must be SQS's:
visibility timeouts, delays, receive counts, the move to the DLQ after maxReceiveCount, FIFO groups, receipt handles.
Dispatch is checked with boto3 against a moto server: DynamoDB, SQS, S3 and Firehose each reach their own backend.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import moto
import moto.backends
import moto.core.responses as moto_responses
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import Queue, SQSBackend
from moto.sqs.responses import SQSResponse

from kizuna.local.moto_dispatch import cache_dispatch
from kizuna.local.moto_sqs import one_pass_sqs

REGION = "us-east-1"
Scenario = Callable[[Any], list[Any]]

cache_dispatch()
one_pass_sqs()


def run_both(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The scenario's observations with local mode's send, receive and delete, once moto's own say the same."""
    with mock_aws():
        patched = scenario(boto3.client("sqs", region_name=REGION))
    with monkeypatch.context() as m:
        for owner, name in ((SQSBackend, "send_message"), (SQSBackend, "receive_message"), (Queue, "delete_message")):
            m.setattr(owner, name, getattr(owner, name).__wrapped__)
        with mock_aws():
            original = scenario(boto3.client("sqs", region_name=REGION))
    assert patched == original
    return patched


def receive(sqs: Any, url: str, n: int = 10, **kwargs: Any) -> list[dict[str, Any]]:
    return sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=n, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        **kwargs,
    ).get("Messages", [])  # fmt: skip


def seen(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in messages]


def test_visibility_timeout_hides_a_message_until_it_ends_and_counts_each_receive(monkeypatch: pytest.MonkeyPatch):
    def scenario(sqs: Any) -> list[Any]:
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="a")
        first = receive(sqs, url, VisibilityTimeout=1)
        hidden = receive(sqs, url)
        time.sleep(1.2)
        again = receive(sqs, url, VisibilityTimeout=30)
        return [seen(first), seen(hidden), seen(again), first[0]["ReceiptHandle"] != again[0]["ReceiptHandle"]]

    assert run_both(scenario, monkeypatch) == [[("a", "1")], [], [("a", "2")], True]


def test_delay_seconds_hold_a_message_back(monkeypatch: pytest.MonkeyPatch):
    def scenario(sqs: Any) -> list[Any]:
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="late", DelaySeconds=1)
        sqs.send_message(QueueUrl=url, MessageBody="now")
        early = receive(sqs, url)
        time.sleep(1.2)
        return [seen(early), seen(receive(sqs, url))]

    assert run_both(scenario, monkeypatch) == [[("now", "1")], [("late", "1")]]


def test_a_message_moves_to_the_dlq_on_the_receive_after_max_receive_count(monkeypatch: pytest.MonkeyPatch):
    def scenario(sqs: Any) -> list[Any]:
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2})
        url = sqs.create_queue(QueueName="q", Attributes={"RedrivePolicy": policy})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="poison")
        sqs.send_message(QueueUrl=url, MessageBody="fine")
        # VisibilityTimeout=0: each receive hands the message straight back, as a failed invocation would
        rounds = [seen(receive(sqs, url, VisibilityTimeout=0)) for _ in range(3)]
        return [*rounds, seen(receive(sqs, dlq))]

    assert run_both(scenario, monkeypatch) == [
        [("poison", "1"), ("fine", "1")],
        [("poison", "2"), ("fine", "2")],
        [],  # both reached maxReceiveCount: moved, not delivered a third time
        [("poison", "3"), ("fine", "3")],  # the DLQ keeps their receive counts
    ]


def test_a_receive_hands_each_visible_message_once_up_to_its_count(monkeypatch: pytest.MonkeyPatch):
    def scenario(sqs: Any) -> list[Any]:
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        for start in range(0, 25, 5):
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i:02d}"}
                                                          for i in range(5)])  # fmt: skip
        batches = [sorted(m["Body"] for m in receive(sqs, url, n, VisibilityTimeout=30)) for n in (10, 3, 10, 10)]
        return [*batches, receive(sqs, url)]

    batches = run_both(scenario, monkeypatch)
    assert [len(b) for b in batches] == [10, 3, 10, 2, 0]
    assert sorted(b for batch in batches for b in batch) == [f"m{i:02d}" for i in range(25)]


def test_receipt_handles_delete_once_and_unknown_ones_are_refused(monkeypatch: pytest.MonkeyPatch):
    def scenario(sqs: Any) -> list[Any]:
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="a")
        sqs.send_message(QueueUrl=url, MessageBody="b")
        old = receive(sqs, url, 1, VisibilityTimeout=0)[0]
        newer = receive(sqs, url, 2, VisibilityTimeout=30)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=old["ReceiptHandle"])  # an earlier handle still deletes it
        sqs.delete_message(QueueUrl=url, ReceiptHandle=old["ReceiptHandle"])  # twice: ignored
        try:
            sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
            refused = None
        except ClientError as exc:
            refused = exc.response["Error"]["Code"]
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return [old["Body"], seen(newer), refused, counts["ApproximateNumberOfMessagesNotVisible"]]

    assert run_both(scenario, monkeypatch) == ["a", [("a", "2"), ("b", "1")], "ReceiptHandleIsInvalid", "1"]


def test_fifo_groups_wait_for_their_pending_message(monkeypatch: pytest.MonkeyPatch):
    def scenario(sqs: Any) -> list[Any]:
        attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        url = sqs.create_queue(QueueName="q.fifo", Attributes=attributes)["QueueUrl"]
        for body, group in (("a1", "A"), ("a2", "A"), ("b1", "B")):
            sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
        first = receive(sqs, url, 1, VisibilityTimeout=1)
        second = receive(sqs, url, 10, VisibilityTimeout=30)  # A is pending: only B
        time.sleep(1.2)
        third = receive(sqs, url, 10, VisibilityTimeout=30)  # a1 timed out: A is free again, in order
        return [seen(first), seen(second), seen(third)]

    assert run_both(scenario, monkeypatch) == [[("a1", "1")], [("b1", "1")], [("a1", "2"), ("a2", "1")]]


def sequence(message: dict[str, Any]) -> int:
    return len(message["Attributes"].get("SequenceNumber", ""))


def test_fifo_deduplication_and_sequence_numbers_are_moto_s(monkeypatch: pytest.MonkeyPatch):
    def scenario(sqs: Any) -> list[Any]:
        content = sqs.create_queue(
            QueueName="c.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        )["QueueUrl"]
        explicit = sqs.create_queue(QueueName="e.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        for url, dedup in (
            (content, {}),
            (content, {}),
            (explicit, {"MessageDeduplicationId": "d"}),
            (explicit, {"MessageDeduplicationId": "d"}),
            (explicit, {"MessageDeduplicationId": "e"}),
        ):
            sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g", **dedup)
        got = [receive(sqs, url, VisibilityTimeout=30) for url in (content, explicit)]
        return [[(m["Body"], m["Attributes"].get("MessageDeduplicationId"), sequence(m)) for m in b] for b in got]

    content, explicit = run_both(scenario, monkeypatch)
    assert len(content) == 1 and content[0][0] == "same" and len(content[0][1]) == 64  # sha256 of the body
    assert explicit == [("same", "d", 20), ("same", "e", 20)]


def test_expired_messages_are_not_handed_over(monkeypatch: pytest.MonkeyPatch):
    def scenario(sqs: Any) -> list[Any]:
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="old")
        backend = moto.backends.get_backend("sqs")["123456789012"][REGION]
        backend.queues["q"]._messages[0].sent_timestamp -= 61_000  # sent 61 s ago, kept 60 s
        sqs.send_message(QueueUrl=url, MessageBody="new")
        return [seen(receive(sqs, url)), seen(receive(sqs, url))]

    assert run_both(scenario, monkeypatch) == [[], [("new", "1")]]


def test_sends_and_receives_no_longer_count_the_queue_for_each_message(monkeypatch: pytest.MonkeyPatch):
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        builds = []
        attributes = Queue.attributes
        monkeypatch.setattr(Queue, "attributes", property(lambda q: builds.append(1) or attributes.fget(q)))
        for start in range(0, 200, 10):
            entries = [{"Id": str(i), "MessageBody": str(start + i)} for i in range(10)]
            assert len(sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]) == 10
        assert len(receive(sqs, url, VisibilityTimeout=30)) == 10
        # moto's own build the attribute dict (three counts of the queue) once per message sent, 3 times per received
        assert builds == []


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    host, port = moto_server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        moto_server.stop()


def client(server: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=server, region_name=REGION, aws_access_key_id="local",
                        aws_secret_access_key="local")  # fmt: skip


def test_dispatch_routes_each_service_to_its_backend(server: str, monkeypatch: pytest.MonkeyPatch):
    ddb, sqs, s3, firehose = (client(server, s) for s in ("dynamodb", "sqs", "s3", "firehose"))
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")  # fmt: skip
    url = sqs.create_queue(QueueName="routed")["QueueUrl"]
    s3.create_bucket(Bucket="routed")
    firehose.create_delivery_stream(
        DeliveryStreamName="routed",
        ExtendedS3DestinationConfiguration={"RoleARN": "arn:aws:iam::123456789012:role/f",
                                            "BucketARN": "arn:aws:s3:::routed", "Prefix": "events/"},
    )  # fmt: skip
    scans = []
    listing = moto.backends.list_of_moto_modules
    monkeypatch.setattr(moto.backends, "list_of_moto_modules", lambda: scans.append(1) or listing())

    for i in range(3):  # every backend has been found once above: these requests scan nothing
        ddb.put_item(TableName="t", Item={"pk": {"S": f"k{i}"}, "n": {"N": str(i)}})
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
        s3.put_object(Bucket="routed", Key=f"o{i}", Body=f"body {i}".encode())
        firehose.put_record_batch(DeliveryStreamName="routed", Records=[{"Data": f"r{i}\n".encode()}])

    assert ddb.get_item(TableName="t", Key={"pk": {"S": "k2"}})["Item"]["n"] == {"N": "2"}
    assert sorted(m["Body"] for m in receive(sqs, url)) == ["m0", "m1", "m2"]
    assert s3.get_object(Bucket="routed", Key="o1")["Body"].read() == b"body 1"
    delivered = [o["Key"] for o in s3.list_objects_v2(Bucket="routed", Prefix="events/").get("Contents", [])]
    assert len(delivered) == 3  # moto's Firehose writes each batch to S3 at once
    assert scans == []
    expected = {"dynamodb": "dynamodb", f"sqs.{REGION}.amazonaws.com": "sqs", f"s3.{REGION}.amazonaws.com": "s3",
                f"firehose.{REGION}.amazonaws.com": "firehose"}  # fmt: skip
    hosts = DomainDispatcherApplication.get_backend_for_host._kizuna_hosts
    assert {host: hosts.get(host) for host in expected} == expected


def test_the_remembered_backend_is_the_one_moto_finds():
    app = DomainDispatcherApplication(lambda service: None)
    lookup = DomainDispatcherApplication.get_backend_for_host
    hosts = ["dynamodb", "moto_api", "instance_metadata", "sqs.eu-west-1.amazonaws.com", "s3.amazonaws.com",
             "bucket.s3.us-east-1.amazonaws.com", "firehose.ap-northeast-1.amazonaws.com", "sesv2",
             "ses.us-east-1.amazonaws.com", "events.us-east-1.amazonaws.com", "nothing.example"]  # fmt: skip
    for host in [*hosts, *hosts]:  # the second time from the cache
        assert lookup(app, host) == lookup.__wrapped__(app, host), host
    assert lookup(app, None) is None
    assert "nothing.example" not in lookup._kizuna_hosts  # no backend: not remembered, moto is asked each time


def test_action_names_are_computed_once_per_response_class():
    names = moto_responses.method_names_from_class(SQSResponse)
    assert names == moto_responses.method_names_from_class.__wrapped__(SQSResponse)
    assert "receive_message" in names
    assert moto_responses.method_names_from_class(SQSResponse) is names


def test_installing_twice_changes_nothing():
    receive_message, delete, lookup = (
        SQSBackend.receive_message,
        Queue.delete_message,
        (DomainDispatcherApplication.get_backend_for_host),
    )
    names = moto_responses.method_names_from_class
    cache_dispatch()
    one_pass_sqs()
    assert (SQSBackend.receive_message, Queue.delete_message) == (receive_message, delete)
    assert (DomainDispatcherApplication.get_backend_for_host, moto_responses.method_names_from_class) == (lookup, names)


def test_install_refuses_a_moto_it_was_not_checked_against(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(SQSBackend, "receive_message", SQSBackend.receive_message.__wrapped__)
    monkeypatch.setattr(DomainDispatcherApplication, "get_backend_for_host",
                        DomainDispatcherApplication.get_backend_for_host.__wrapped__)  # fmt: skip
    monkeypatch.setattr(moto, "__version__", "6.0.0")
    with pytest.raises(RuntimeError, match="moto 6.0.0"):
        one_pass_sqs()
    with pytest.raises(RuntimeError, match="moto 6.0.0"):
        cache_dispatch()
    monkeypatch.undo()
    monkeypatch.setattr(SQSBackend, "receive_message", SQSBackend.receive_message.__wrapped__)
    monkeypatch.delattr(Queue, "wait_for_messages")
    with pytest.raises(RuntimeError, match="Queue.wait_for_messages"):
        one_pass_sqs()


def test_local_mode_installs_the_speedups(monkeypatch: pytest.MonkeyPatch):
    from kizuna.local.system import LocalKizuna

    for owner, name in ((SQSBackend, "receive_message"), (Queue, "delete_message"),
                        (DomainDispatcherApplication, "get_backend_for_host")):  # fmt: skip
        monkeypatch.setattr(owner, name, getattr(owner, name).__wrapped__)  # as moto ships them
    monkeypatch.setattr(moto_responses, "method_names_from_class", moto_responses.method_names_from_class.__wrapped__)
    with LocalKizuna():
        assert SQSBackend.receive_message._kizuna_one_pass
        assert Queue.delete_message._kizuna_one_pass
        assert DomainDispatcherApplication.get_backend_for_host._kizuna_cached
        assert moto_responses.method_names_from_class._kizuna_cached
        assert "dynamodb" in DomainDispatcherApplication.get_backend_for_host._kizuna_hosts  # its tables went through
