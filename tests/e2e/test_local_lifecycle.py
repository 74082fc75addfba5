"""Local systems started one after another in one process (as test modules do) must not share AWS state: moto keeps
its backends per process, and a message left in flight by one system would keep the next one's queues busy."""

from __future__ import annotations

import pytest

from kizuna import wiring
from kizuna.local.system import LocalKizuna

pytestmark = pytest.mark.e2e


def test_a_local_system_starts_without_the_queues_and_tables_of_the_one_before():
    with LocalKizuna() as first:
        sqs = wiring.aws("sqs")
        sqs.send_message(QueueUrl=first.resources.queue_urls["send"], MessageBody="{}", DelaySeconds=900)
        table = first.resources.tables["data"]
        wiring.aws("dynamodb").put_item(TableName=table, Item={"pk": {"S": "left"}, "sk": {"S": "over"}})

    with LocalKizuna() as second:
        attributes = wiring.aws("sqs").get_queue_attributes(
            QueueUrl=second.resources.queue_urls["send"], AttributeNames=["All"]
        )["Attributes"]
        assert attributes["ApproximateNumberOfMessagesDelayed"] == "0"
        assert wiring.aws("dynamodb").scan(TableName=second.resources.tables["data"])["Count"] == 0
        assert second.drain(5)
