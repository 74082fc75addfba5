"""Pacing accuracy against Twilio's per-sender rate, and the CPU Kizuna's own code spends per message.

Rate: the sandbox enforces R messages/s per sender (a sliding one-second window, 20429 above it, as Twilio does) and
Kizuna is told the sender's rate is R (the Twilio secret's `sender_rates`). Achieved rate = (accepted requests − 1)
/ (last − first accepted request time) at the sandbox. Two runs: five concurrent senders running the real Deliverer
against DynamoDB (moto) and the sandbox with an in-memory queue (the pacing figure), and the whole local stack
(bounded by one process). Status callbacks are off (they are measured in the send_path section).

CPU: time.process_time() of one thread over many messages with in-memory adapters: SendMessages composing from a
template with substitutions (render, consent and country checks, sender choice, the queue message) plus the
sender's delivery (claim, pacing, provider call to an in-memory provider, record, event).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from report import PYTHON, Section, Stats, table

from kizuna import wiring
from kizuna.adapters.dynamo_limits import DynamoLimits
from kizuna.adapters.dynamo_messages import DynamoMessageStore
from kizuna.adapters.memory import InMemoryDataStore, InMemoryMessageStore, InMemorySendQueue
from kizuna.adapters.memory_sending import (
    InMemoryChannelStore,
    InMemoryConsentStore,
    InMemoryProvider,
    InMemoryRateLimiter,
)
from kizuna.adapters.twilio_messaging import Sender, TwilioMessaging, make_twilio_client
from kizuna.adapters.twilio_provider import TwilioMessagesProvider
from kizuna.clock import SystemClock, iso
from kizuna.domain.messages import OutboundMessage
from kizuna.local.aws_resources import create_local_resources
from kizuna.local.sandbox_twilio import VALID_FROM, SandboxTwilio
from kizuna.local.system import LocalKizuna
from kizuna.services.apps import create_app
from kizuna.services.deliver import Deliverer
from kizuna.services.endpoints import update_endpoint
from kizuna.services.send_messages import SendDeps, send_messages

NAME = "send_rate"
RATE = 50
MESSAGES = 2000
LOCAL_MESSAGES = 500
CPU_MESSAGES = 3000
BODY = "Kizuna: your table for 2 is booked for 19:00. Reply STOP to opt out."  # GSM-7, one segment


class _DelayedQueue:
    """The send queue for the harness: re-enqueued messages come back once their delay has passed."""

    def __init__(self, messages: list[OutboundMessage]) -> None:
        self._ready: deque[OutboundMessage] = deque(messages)
        self._later: list[tuple[float, int, OutboundMessage]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def enqueue(self, messages: Any, delay_s: int = 0) -> list[str]:
        with self._lock:
            for m in messages:
                heapq.heappush(self._later, (time.monotonic() + delay_s, next(self._seq), m))
        return []

    def take(self, n: int) -> list[OutboundMessage]:
        with self._lock:
            while self._later and self._later[0][0] <= time.monotonic():
                self._ready.append(heapq.heappop(self._later)[2])
            return [self._ready.popleft() for _ in range(min(n, len(self._ready)))]

    def empty(self) -> bool:
        with self._lock:
            return not self._ready and not self._later


def _serve_sandbox(conn: Any) -> None:
    """The sandbox Twilio in a process of its own (Twilio is another machine): it times arrivals free of our GIL."""
    sandbox = SandboxTwilio()
    sandbox.rate_limit_per_sender = RATE
    sandbox.callbacks_enabled = False
    sandbox.start()
    conn.send((sandbox.account_sid, sandbox.auth_token, sandbox.base_url))
    conn.recv()
    conn.send((sandbox.rate_limited, [(r.to, r.time) for r in sandbox.requests]))
    sandbox.stop()


@contextlib.contextmanager
def _moto_process() -> Any:
    """moto's server in a process of its own, as DynamoDB is another service."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait()


def _harness_run(count: int) -> dict[str, Any]:
    """Five concurrent senders (as five Lambda invocations) running the real Deliverer: delivery records and the
    one shared GCRA bucket in DynamoDB, the real twilio SDK to the sandbox. moto and the sandbox run in processes
    of their own; only SQS is an in-memory queue here."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    sandbox = context.Process(target=_serve_sandbox, args=(theirs,), daemon=True)
    sandbox.start()
    account_sid, auth_token, base_url = ours.recv()
    with _moto_process() as aws_url:
        session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
        resources = create_local_resources(session, endpoint_url=aws_url, region="us-east-1")
        ddb = session.client("dynamodb", endpoint_url=aws_url, config=Config(max_pool_connections=64))
        store = DynamoMessageStore(resources.tables["messages"], ddb)
        limiter = DynamoLimits(resources.tables["limits"], ddb)
        rates = {VALID_FROM: float(RATE)}
        now = iso(SystemClock().now())
        queue = _DelayedQueue([
            OutboundMessage(message_id=uuid.uuid4().hex, app_id="bench", to=f"+8191{n:08d}", body=BODY,
                            request_id="bench", accepted_at=now)
            for n in range(count)
        ])  # fmt: skip

        def sender() -> None:
            # One twilio client per sender, as each Lambda invocation has its own (and its own connection pool).
            twilio = make_twilio_client(account_sid, auth_token, base_url)
            provider = TwilioMessagesProvider(TwilioMessaging(twilio), Sender.number(VALID_FROM), sender_rates=rates)
            while not queue.empty():
                batch = queue.take(10)
                if not batch:
                    time.sleep(0.05)
                    continue
                deliverer = Deliverer(
                    store, {"SMS": provider}, queue, SystemClock(), "http://hooks", 30, limiter=limiter
                )
                deliverer.deliver_batch([(m, 1) for m in batch])

        threads = [threading.Thread(target=sender) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ours.send("stats")
    rate_limited, requests = ours.recv()
    sandbox.join(10)
    return _summary([t for to, t in requests if to.startswith("+8191")], len({to for to, _ in requests}), rate_limited)


def _local_mode_run(kizuna: LocalKizuna, count: int) -> dict[str, Any]:
    """The whole path: the stock boto3 client, the API, SQS on moto, the sender handler."""
    pinpoint = kizuna.pinpoint()
    app_id = pinpoint.create_app(CreateApplicationRequest={"Name": "rate"})["ApplicationResponse"]["Id"]
    numbers = [f"+8190{n:08d}" for n in range(count)]
    kizuna.pollers["send"].stop()  # accept everything first: measure pacing, not how fast one process accepts
    for start in range(0, count, 100):
        pinpoint.send_messages(
            ApplicationId=app_id,
            MessageRequest={
                "Addresses": {n: {"ChannelType": "SMS"} for n in numbers[start : start + 100]},
                "MessageConfiguration": {"SMSMessage": {"Body": BODY}},
            },
        )
    before = kizuna.sandbox.rate_limited
    kizuna.pollers["send"].start()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and _count(kizuna, "+8190") < count:
        time.sleep(0.5)
    times = [r.time for r in kizuna.sandbox.requests if r.body == BODY and r.to.startswith("+8190")]
    unique = len({r.to for r in kizuna.sandbox.requests if r.body == BODY and r.to.startswith("+8190")})
    return _summary(times, unique, kizuna.sandbox.rate_limited - before)


def _count(kizuna: LocalKizuna, prefix: str) -> int:
    return sum(1 for r in kizuna.sandbox.requests if r.body == BODY and r.to.startswith(prefix))


def _summary(times: list[Any], unique: int, rate_limited: int) -> dict[str, Any]:
    times = sorted(times)
    span = (times[-1] - times[0]).total_seconds() if len(times) > 1 else float("nan")
    return {
        "sent": len(times),
        "unique": unique,
        "span_s": span,
        "rate": (len(times) - 1) / span if span else float("nan"),
        "rate_limited": rate_limited,
        "busiest": _busiest_second(times),
    }


def _busiest_second(times: list[Any]) -> int:
    """The most requests any one-second window held (the sandbox's own rule)."""
    stamps = [t.timestamp() for t in times]
    best, left = 0, 0
    for right, t in enumerate(stamps):
        while t - stamps[left] >= 1.0:
            left += 1
        best = max(best, right - left + 1)
    return best


def _cpu_per_message() -> tuple[float, float]:
    """(ms of CPU per message to accept it, ms to deliver it), in process, one thread."""
    clock = SystemClock()
    data, queue = InMemoryDataStore(), InMemorySendQueue()
    channels, consent = InMemoryChannelStore(), InMemoryConsentStore()
    app = create_app(data, clock, "arn:aws:mobiletargeting:us-east-1:123456789012", {"Name": "cpu"})
    for n in range(100):
        update_endpoint(data, data, clock, app.id, f"e{n}", {
            "ChannelType": "SMS", "Address": f"+8190{n:08d}",
            "User": {"UserAttributes": {"FirstName": [f"花子{n}"]}}, "Attributes": {"Plan": ["ゴールド"]},
        })  # fmt: skip
    channels.put_policy(app.id, {"AllowedCountries": ["JP"], "SenderIds": {"JP": "KIZUNA"}})
    deps = SendDeps(data, data, queue, clock, None, channels, consent)
    request = {
        "Endpoints": {f"e{n}": {} for n in range(100)},
        "MessageConfiguration": {"SMSMessage": {"Body": "{{User.UserAttributes.FirstName}}様 {{Attributes.Plan}}特典"}},
    }
    send_messages(deps, app.id, request)  # warm: the template compiles once
    queue.messages.clear()
    started = time.process_time()
    for _ in range(CPU_MESSAGES // 100):
        send_messages(deps, app.id, request)
    accept_ms = (time.process_time() - started) * 1000 / CPU_MESSAGES
    provider = InMemoryProvider(rate_per_s=1e9)
    deliverer = Deliverer(
        InMemoryMessageStore(), {"SMS": provider}, InMemorySendQueue(), clock, "https://hooks.example", 30,
        limiter=InMemoryRateLimiter(),
    )  # fmt: skip
    messages = [m for m, _ in queue.messages]
    started = time.process_time()
    for start in range(0, len(messages), 10):
        deliverer.deliver_batch([(m, 1) for m in messages[start : start + 10]])
    deliver_ms = (time.process_time() - started) * 1000 / len(messages)
    assert len(provider.sent) == len(messages)
    return accept_ms, deliver_ms


def run() -> Section:
    section = Section(NAME, "Pacing accuracy and CPU per message", f"{PYTHON} bench/run.py --only {NAME}")
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), LocalKizuna() as kizuna:
        kizuna.sandbox.rate_limit_per_sender = RATE
        kizuna.sandbox.callbacks_enabled = False
        rate = wiring.twilio_account(kizuna.resources.secrets["twilio"]).sender_rates.get(VALID_FROM)
        assert rate == RATE, "local mode's sender rate must equal the sandbox's"
        local = _local_mode_run(kizuna, LOCAL_MESSAGES)
    result = _harness_run(MESSAGES)
    cpu = [_cpu_per_message() for _ in range(3)]
    accept, deliver = Stats.of([a for a, _ in cpu]), Stats.of([d for _, d in cpu])
    total = Stats.of([a + d for a, d in cpu])
    ratio = result["rate"] / RATE
    local_ratio = local["rate"] / RATE

    def rows(run: dict[str, Any]) -> list[str]:
        return [
            f"{run['sent']:,} ({run['unique']:,} recipients)",
            f"{run['span_s']:.1f}",
            f"{run['rate']:.2f}",
            f"**{run['rate'] / RATE:.3f}**",
            f"**{run['rate_limited']}**",
            str(run["busiest"]),
        ]

    harness, whole = rows(result), rows(local)
    labels = [
        "requests the sandbox accepted",
        "first → last accepted request (s)",
        "achieved rate (messages/s)",
        "achieved / R (target ≥ 0.95)",
        "20429s answered (target 0)",
        f"busiest one-second window (R = {RATE})",
    ]
    section.body += [
        f"**Rate**: the sandbox enforces R = {RATE} messages/s per sender (sliding one-second window, 20429 above it) "
        f"and the Twilio secret gives Kizuna the same R. One-segment SMS, status callbacks off.",
        "",
        f"- *Senders*: {MESSAGES:,} messages through five concurrent senders (as five Lambda invocations) running "
        "the real `Deliverer`: delivery records and the one shared GCRA bucket in DynamoDB (moto's server in its own "
        "process), the real twilio SDK over HTTP to the sandbox (in its own process, which times the arrivals); "
        "only SQS is an in-memory queue. This is the pacing figure.",
        f"- *Local mode*: {LOCAL_MESSAGES:,} messages through the whole local stack (boto3 client → API → SQS on "
        "moto → sender handler), accepted first with the senders paused. moto's SQS, the API, the senders and the "
        "sandbox share one process and its GIL, so this row shows what one machine's local mode sustains, not AWS.",
        "",
        *table(
            ["figure", "senders", "local mode"],
            [[label, a, b] for label, a, b in zip(labels, harness, whole, strict=True)],
        ),
        "",
        f"**CPU of Kizuna's own code per message** (in process, in-memory adapters, {CPU_MESSAGES:,} messages, "
        "3 repeats, median (min–max)): accepting = SendMessages rendering a Handlebars body with two variables for "
        "an endpoint, consent, country and sender checks, the queue message; delivering = plan (GCRA) + claim + "
        "provider call + record + event, with in-memory stores.",
        "",
        *table(
            ["step", "ms per message"],
            [
                ["accept (API)", accept.fmt(3)],
                ["deliver (sender)", deliver.fmt(3)],
                ["**both**", f"**{total.fmt(3)}**"],
            ],
        ),
    ]
    met = ratio >= 0.95 and result["rate_limited"] == 0
    section.verdict = (
        f"{ratio:.3f} of R={RATE} achieved with {result['rate_limited']} 20429s "
        f"({'target met' if met else '**target missed**'}; the whole local stack: {local_ratio:.2f} of R, "
        f"{local['rate_limited']} 20429s); {total.median:.3f} ms of CPU per message "
        f"({'within' if total.median <= 1 else '**over**'} the 1 ms target)."
    )
    return section


if __name__ == "__main__":
    print("\n".join(run().body))
