"""Issue 4's fault injection, counted at the sandbox: SQS delivering twice, a sender crashing before Twilio got the
message or after Twilio accepted it but before the record was written, a lost ack, a storm of 20429s. Afterwards
every accepted message is in exactly one final state and no recipient got anything twice."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from kizuna import wiring
from kizuna.domain.messages import TERMINAL
from kizuna.local.runtime_queues import PollerFaults
from kizuna.local.system import LocalKizuna
from tests.e2e.support import wait_for_status

pytestmark = pytest.mark.e2e
BODY = "【障害試験】ご予約ありがとうございます"


class InjectedCrash(BaseException):
    """The sender process dies: not an error the code handles, so the whole invocation fails as in Lambda."""


class CrashingProvider:
    """The real Twilio provider, except that the first send to chosen numbers crashes the process."""

    def __init__(self, real: Any, before: set[str], after: set[str]) -> None:
        self.real, self.before, self.after = real, before, after

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def send(self, message: Any, status_callback: str | None) -> Any:
        if message.to in self.before:
            self.before.discard(message.to)
            raise InjectedCrash(f"crash before the provider call to {message.to}")
        receipt = self.real.send(message, status_callback)
        if message.to in self.after:
            self.after.discard(message.to)
            raise InjectedCrash(f"crash after Twilio accepted {receipt.provider_id}, before the record")
        return receipt


CRASH_BEFORE = {f"+8190555500{n:02d}" for n in range(0, 4)}
CRASH_AFTER = {f"+8190555500{n:02d}" for n in range(4, 8)}


@pytest.fixture(scope="module")
def kizuna() -> Iterator[LocalKizuna]:
    real = wiring.messages_provider
    before, after = set(CRASH_BEFORE), set(CRASH_AFTER)
    wiring.messages_provider = lambda secret_id: CrashingProvider(real(secret_id), before, after)
    try:
        with LocalKizuna() as k:
            yield k
    finally:
        wiring.messages_provider = real


@pytest.fixture
def faults(kizuna: LocalKizuna) -> Iterator[PollerFaults]:
    poller = kizuna.pollers["send"]
    poller.faults = PollerFaults(duplicate_ratio=0.3, drop_ack_ratio=0.2, failed_visibility_s=1, seed=4)
    yield poller.faults
    poller.faults = PollerFaults()
    kizuna.sandbox.fail_ratio_20429 = 0.0


def send_to(pinpoint: Any, app_id: str, numbers: list[str]) -> list[str]:
    ids = []
    for start in range(0, len(numbers), 100):
        chunk = numbers[start : start + 100]
        response = pinpoint.send_messages(
            ApplicationId=app_id,
            MessageRequest={
                "Addresses": {n: {"ChannelType": "SMS"} for n in chunk},
                "MessageConfiguration": {"SMSMessage": {"Body": BODY}},
            },
        )["MessageResponse"]["Result"]
        assert all(r["DeliveryStatus"] == "SUCCESSFUL" for r in response.values())
        ids += [response[n]["MessageId"] for n in chunk]
    return ids


def dead_lettered(kizuna: LocalKizuna) -> set[str]:
    """Message ids in the send DLQ (left visible for the next reader)."""
    sqs, url, found = wiring.aws("sqs"), kizuna.resources.dlq_urls["send"], set()
    for _ in range(5):
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        found |= {json.loads(m["Body"])["message_id"] for m in batch}
    return found


def assert_nothing_lost(statuses: dict[str, str], dead: set[str]) -> None:
    """Every message is settled; a DLQ copy is only ever one whose acks were lost after it was settled (SQS counts
    those receives too), never the only trace of a message."""
    assert set(statuses.values()) == {"delivered"}
    assert dead <= set(statuses)


def test_crashes_duplicates_lost_acks_and_throttling_lose_nothing_and_send_nothing_twice(
    kizuna, pinpoint, app_id, faults
):
    kizuna.sandbox.fail_ratio_20429 = 0.3
    numbers = sorted(CRASH_BEFORE | CRASH_AFTER) + [f"+8190666600{n:02d}" for n in range(52)]

    message_ids = send_to(pinpoint, app_id, numbers)
    statuses = wait_for_status(kizuna, message_ids, TERMINAL, timeout=120)

    sent = Counter(r.to for r in kizuna.sandbox.requests if r.body == BODY)
    assert sent == Counter({n: 1 for n in numbers})  # each recipient exactly once, crashes included
    assert_nothing_lost(statuses, dead_lettered(kizuna))
    assert faults.duplicated > 0 and faults.acks_dropped > 0  # the faults really happened


def test_a_storm_of_20429_is_ridden_out_without_the_dead_letter_queue(kizuna, pinpoint, app_id):
    kizuna.sandbox.fail_ratio_20429 = 0.5  # and no other fault: throttling alone must never dead-letter anything
    numbers = [f"+8190777700{n:02d}" for n in range(40)]
    before = dead_lettered(kizuna)

    message_ids = send_to(pinpoint, app_id, numbers)
    statuses = wait_for_status(kizuna, message_ids, TERMINAL, timeout=240)
    kizuna.sandbox.fail_ratio_20429 = 0.0

    assert set(statuses.values()) == {"delivered"}
    assert Counter(r.to for r in kizuna.sandbox.requests if r.to in numbers) == Counter({n: 1 for n in numbers})
    assert dead_lettered(kizuna) - before == set()
