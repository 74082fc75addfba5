"""The delivery records and engagement a split reads are prefetched for each batch of moving participants: one
batched read per batch instead of one read per participant, and the same answers."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from kizuna.domain.messages import DeliveryRecord
from kizuna.domain.sharding import endpoint_shard
from tests.unit.journey_harness import Setup, sms

SPLIT_ON_DELIVERY = {
    "hello": sms("welcome", "wait"),
    "wait": {"Wait": {"WaitTime": {"WaitFor": "P1D"}, "NextActivity": "split"}},
    "split": {
        "ConditionalSplit": {
            "Condition": {
                "Conditions": [
                    {
                        "EventCondition": {
                            "MessageActivity": "hello",
                            "Dimensions": {"EventType": {"Values": ["_SMS.SUCCESS"]}},
                        }
                    },
                    {
                        "EventCondition": {
                            "MessageActivity": "hello",
                            "Dimensions": {"EventType": {"Values": ["_SMS.CLICK"]}},
                        }
                    },
                ],
                "Operator": "ANY",
            },
            "TrueActivity": "thanks",
            "FalseActivity": "again",
        }
    },
    "thanks": sms("thanks"),
    "again": sms("again"),
}


class Counted:
    """A store whose reads are counted by method name."""

    def __init__(self, inner: object) -> None:
        self._inner, self.calls = inner, Counter[str]()

    def __getattr__(self, name: str):
        value = getattr(self._inner, name)
        if callable(value) and name in ("get", "get_many", "engagement", "engagement_many"):
            self.calls[name] += 1
        return value


def test_a_split_on_delivery_reads_the_records_of_a_whole_batch_at_once_and_branches_as_before():
    s = Setup(endpoints=12)
    s.deps.messages = messages = Counted(s.messages)  # type: ignore[assignment]
    s.deps.engagement = engaged = Counted(s.engagement)  # type: ignore[assignment]
    journey = s.publish(SPLIT_ON_DELIVERY, "hello")
    s.first_loop(journey["Id"])
    for m in s.sent():
        if int(m.endpoint_id[1:]) % 3:  # two in three delivered
            s.messages.records[m.message_id] = DeliveryRecord(m.message_id, s.app_id, "delivered")
    s.clock.advance(timedelta(days=1))
    s.loops_until_done(journey["Id"])

    assert s.follow_ups(12) == {f"e{i}": ["ありがとう" if i % 3 else "もう一度"] for i in range(12)}
    shards = len({endpoint_shard(f"e{i}") for i in range(12)})  # one batch per shard here
    assert messages.calls["get"] == 0 and engaged.calls["engagement"] == 0  # nothing read one by one
    assert messages.calls["get_many"] == shards and messages.calls["get_many"] == engaged.calls["engagement_many"]
