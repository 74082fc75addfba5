"""The soak with faults (issue 9): many messages through local mode's real path while everything fails at once,
then an accounting check. Shared by tests/faults/test_soak.py (a bounded run) and bench/soak.py (the long runs).

Path: the stock boto3 pinpoint client → SendMessages (API function) → send queue (moto SQS) → sender function →
sandbox Twilio → signed status callbacks → status webhook → delivery records, and every engagement event → the
event stream (local Firehose buffer → moto Firehose → S3) → analytics_ingest → KPIs read with
GetApplicationDateRangeKpi.

Faults, all active while the messages flow: the sandbox answers 5xx, 20429 and timeouts (accepted, then the
connection dropped: the ambiguous case) for a share of create requests; the send queue delivers a share of records
twice and loses a share of acks (PollerFaults), and so does the analytics queue; the sender crashes before or after
the provider call; handlers crash after their state change and before they answer; DynamoDB throttles; Firehose
reports partial failures and short outages (kizuna.local.faults).

The accounting check, once the system is idle and the faults are off:
1. every accepted message (SendMessages answered with a MessageId) has one delivery record, in a terminal status;
2. the sandbox accepted each recipient-message at most once (exactly once unless refused at submission) and a
   record's status, provider id and error code agree with the sandbox's own;
3. KPIs equal the sandbox's counts: txn-sms-sent = accepted by the sandbox + refused at submission,
   txn-sms-delivered = delivered at the sandbox, txn-sms-error-distribution = the sandbox's error codes + the
   refusals';
4. nothing is only in the dead-letter queue (a DLQ copy must belong to a settled message: a lost ack after it
   settled).
Records the callbacks never finished are settled the way the 5-minute reconciler would (asking the sandbox), and
counted; the check fails if any remain open.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kizuna import wiring
from kizuna.clock import SystemClock
from kizuna.domain.messages import TERMINAL
from kizuna.local.faults import FaultRates, Faults
from kizuna.local.runtime_queues import PollerFaults
from kizuna.local.sandbox_twilio import SandboxTwilio
from kizuna.local.sandbox_twilio_model import MAGIC_TO
from kizuna.local.system import LocalKizuna
from kizuna.services.reconcile import WAITING
from kizuna.services.record_status import record_status

REFUSED = ("+15005550001", "+15005550009")  # Twilio's magic numbers: refused when the message is created
SANDBOX_FINAL = {"delivered", "undelivered", "failed"}
# Injected crashes log a traceback each: the poller, the gateway, the sandbox's callback retries, the handlers'
# Powertools loggers (service "service_undefined" locally).
QUIET_LOGGERS = ("kizuna", "botocore", "urllib3", "werkzeug", "service_undefined")


@dataclass(frozen=True)
class SoakConfig:
    messages: int = 2000
    seed: int = 1
    batch: int = 100  # addresses per SendMessages call
    # SendMessages keeps at most this many accepted messages ahead of the sandbox's final statuses: moto's SQS
    # scans every message of a queue on each receive, so an unbounded backlog would measure moto, not Kizuna.
    backlog: int = 500
    refuse_every: int = 4  # every n-th SendMessages call also addresses one of Twilio's refused magic numbers
    sandbox_5xx: float = 0.03
    sandbox_20429: float = 0.05
    sandbox_timeout: float = 0.01
    sandbox_undelivered: float = 0.03  # delivered to Twilio, then undelivered (30003)
    sqs_duplicate: float = 0.05
    sqs_drop_ack: float = 0.05
    analytics_duplicate: float = 0.05
    analytics_drop_ack: float = 0.02
    rates: FaultRates = field(default_factory=FaultRates)
    settle_timeout_s: float = 900.0
    # Then every queue must go idle within this, plus a share per message: the analytics queue trails the sends by
    # the objects announced meanwhile, each ingested at moto's speed (lost acks and duplicates ingest some twice), so
    # the tail grows with the run. A system that never goes idle (a record redelivered forever) still fails it.
    idle_timeout_s: float = 900.0
    idle_timeout_per_message_s: float = 0.05
    backlog_every_s: float = 60.0  # how often the queues' depths are sampled (SoakResult.backlog)


@dataclass
class SoakResult:
    config: SoakConfig
    accepted: int = 0
    refused_at_submission: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    sandbox_accepted: int = 0
    sandbox_delivered: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    kpis: dict[str, Any] = field(default_factory=dict)
    expected_kpis: dict[str, Any] = field(default_factory=dict)
    reconciled: int = 0
    dead_lettered: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # (seconds since the first send, queues that were not idle) every `backlog_every_s`, printed when a run fails
    backlog: list[tuple[float, dict[str, dict[str, int]]]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def duplicates_suppressed(self) -> int:
        """Deliveries of a message the sender did not send again: its claim was already settled or held, an
        earlier attempt was found at the provider, or SQS handed the same copy over twice in one batch."""
        return self.faults["outcome_already_done"] + self.faults["outcome_same_batch_copy"]

    def summary(self) -> str:
        lines = [
            f"soak: {self.config.messages:,} messages (seed {self.config.seed}): "
            f"{'PASSED' if self.passed else 'FAILED'} in {self.seconds.get('total', 0):.0f} s",
            f"  accepted {self.accepted:,} (refused at submission {self.refused_at_submission}); "
            + ", ".join(f"{s} {n:,}" for s, n in sorted(self.statuses.items())),
            f"  sandbox accepted {self.sandbox_accepted:,}, delivered {self.sandbox_delivered:,}; "
            f"duplicates suppressed {self.duplicates_suppressed:,}; settled by reconciliation {self.reconciled}; "
            f"in the DLQ {self.dead_lettered}",
            "  faults: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.faults.items()) if not k.startswith("out")),
            "  sender outcomes: "
            + ", ".join(f"{k[8:]} {v:,}" for k, v in sorted(self.faults.items()) if k.startswith("outcome_")),
            f"  KPIs {self.kpis} (expected {self.expected_kpis})",
        ]
        lines += [f"  PROBLEM: {p}" for p in self.problems[:20]]
        if self.problems:
            lines += [f"  backlog at {at:.0f} s: {queues}" for at, queues in self.backlog]
        return "\n".join(lines)


@contextmanager
def _quiet() -> Iterator[None]:
    saved = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def run_soak(config: SoakConfig) -> SoakResult:
    """One soak in a fresh local system; `seconds` are counted from the first SendMessages call (startup apart)."""
    result = SoakResult(config)
    booting = time.monotonic()
    sandbox = SandboxTwilio(seed=config.seed)
    with _quiet(), LocalKizuna(sandbox=sandbox) as kizuna:
        pinpoint = kizuna.pinpoint()
        app_id = pinpoint.create_app(CreateApplicationRequest={"Name": f"soak-{config.seed}"})["ApplicationResponse"][
            "Id"
        ]
        body = f"【Kizuna soak {config.seed}】ご予約ありがとうございます。"
        faults = _start_faults(kizuna, config)
        started = time.monotonic()
        result.seconds["startup"] = started - booting
        try:
            with _sampling_backlog(kizuna, result, started, config.backlog_every_s):
                accepted = _send_all(kizuna, pinpoint, app_id, body, config, result)
                result.seconds["accept"] = time.monotonic() - started
                result.seconds |= _settle(kizuna, body, accepted, config, started)
                idle_within = config.idle_timeout_s + config.messages * config.idle_timeout_per_message_s
                if not kizuna.drain(idle_within):
                    sandbox_idle = kizuna.sandbox.wait_for_idle(1.0)
                    result.problems.append(
                        f"the queues were not idle {idle_within:.0f} s after the sandbox settled: "
                        f"{kizuna.backlog()}" + ("" if sandbox_idle else "; the sandbox still had callbacks to make")
                    )
            result.seconds["settle"] = time.monotonic() - started
        finally:
            _stop_faults(kizuna, faults, result)
        _account(kizuna, pinpoint, app_id, body, accepted, result)
    result.seconds["total"] = time.monotonic() - started
    return result


@contextmanager
def _sampling_backlog(kizuna: LocalKizuna, result: SoakResult, started: float, every_s: float) -> Iterator[None]:
    """Sample the queues that are not idle every `every_s` seconds while the body runs: when a run fails to settle,
    the samples say which queue fell behind and from when."""
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every_s):
            try:
                result.backlog.append((time.monotonic() - started, kizuna.backlog()))
            except Exception as exc:  # noqa: BLE001 - a sample that failed is reported, never fatal to the run
                result.backlog.append((time.monotonic() - started, {"sample failed": {str(exc)[:80]: 1}}))

    sampler = threading.Thread(target=sample, name="kizuna-soak-backlog", daemon=True)
    sampler.start()
    try:
        yield
    finally:
        done.set()
        sampler.join()


def _start_faults(kizuna: LocalKizuna, config: SoakConfig) -> Faults:
    sandbox = kizuna.sandbox
    sandbox.fail_ratio_5xx = config.sandbox_5xx
    sandbox.fail_ratio_20429 = config.sandbox_20429
    sandbox.timeout_ratio = config.sandbox_timeout
    sandbox.failure_ratio = config.sandbox_undelivered
    sandbox.failure_outcome = ("undelivered", 30003)
    kizuna.pollers["send"].faults = PollerFaults(
        duplicate_ratio=config.sqs_duplicate, drop_ack_ratio=config.sqs_drop_ack, failed_visibility_s=1,
        seed=config.seed,
    )  # fmt: skip
    kizuna.pollers["analytics"].faults = PollerFaults(
        duplicate_ratio=config.analytics_duplicate, drop_ack_ratio=config.analytics_drop_ack, failed_visibility_s=2,
        seed=config.seed + 1,
    )  # fmt: skip
    return Faults(kizuna, config.rates, config.seed).install()


def _stop_faults(kizuna: LocalKizuna, faults: Faults, result: SoakResult) -> None:
    faults.uninstall()
    sandbox = kizuna.sandbox
    sandbox.fail_ratio_5xx = sandbox.fail_ratio_20429 = sandbox.timeout_ratio = 0.0
    result.faults = faults.counts
    for key in ("send", "analytics"):
        poller_faults = kizuna.pollers[key].faults
        result.faults[f"sqs_{key}_duplicated"] = poller_faults.duplicated
        result.faults[f"sqs_{key}_acks_dropped"] = poller_faults.acks_dropped
        kizuna.pollers[key].faults = PollerFaults()


def _send_all(
    kizuna: LocalKizuna, pinpoint: Any, app_id: str, body: str, config: SoakConfig, result: SoakResult
) -> dict[str, str]:
    """message id -> address, for every message SendMessages accepted (answered 200 with a MessageId)."""
    accepted: dict[str, str] = {}
    numbers = [f"+8190{config.seed % 100:02d}{n:06d}" for n in range(config.messages)]
    start, call = 0, 0
    while start < len(numbers):
        refused = config.refuse_every and call % config.refuse_every == 0
        size = config.batch - 1 if refused else config.batch
        chunk = numbers[start : start + size]
        if refused:
            chunk.append(REFUSED[(call // config.refuse_every) % len(REFUSED)])
        index, start, call = call, start + size, call + 1
        while len(accepted) - _final_count(kizuna, body) > config.backlog:
            time.sleep(0.5)
        try:
            response = pinpoint.send_messages(
                ApplicationId=app_id,
                MessageRequest={
                    "Addresses": {n: {"ChannelType": "SMS"} for n in chunk},
                    "MessageConfiguration": {"SMSMessage": {"Body": body, "MessageType": "TRANSACTIONAL"}},
                },
            )["MessageResponse"]["Result"]
        except Exception as exc:  # noqa: BLE001 - a refused call is not an accepted message; recorded, not fatal
            result.problems.append(f"SendMessages call {index} failed after the client's retries: {exc}")
            continue
        for number in chunk:
            answer = response.get(number, {})
            if answer.get("MessageId") and answer.get("DeliveryStatus") == "SUCCESSFUL":
                accepted[answer["MessageId"]] = number
    result.accepted = len(accepted)
    result.refused_at_submission = sum(1 for n in accepted.values() if n in REFUSED)
    return accepted


def _settle(kizuna: LocalKizuna, body: str, accepted: dict[str, str], config: SoakConfig, started: float) -> dict:
    """Wait until the sandbox has a final status for every message it should have (then run_soak waits until every
    queue is idle: retries, deferrals and redeliveries included) - with the faults still on. Returns when 50, 90, 99
    and 100% of them were final (seconds since the start)."""
    deadline = time.monotonic() + config.settle_timeout_s
    expected = sum(1 for n in accepted.values() if n not in REFUSED)
    marks: dict[str, float] = {}
    while time.monotonic() < deadline:
        final = _final_count(kizuna, body)
        for share in (50, 90, 99, 100):
            if f"final_{share}%" not in marks and final * 100 >= share * expected:
                marks[f"final_{share}%"] = time.monotonic() - started
        if final >= expected:
            break
        time.sleep(1.0)
    return marks


def _final_count(kizuna: LocalKizuna, body: str) -> int:
    """Messages of this soak with a final status at the sandbox (read from its own state, not through AWS)."""
    with kizuna.sandbox._lock:
        return sum(1 for m in kizuna.sandbox.messages.values() if m.body == body and m.status in SANDBOX_FINAL)


def _records(kizuna: LocalKizuna) -> dict[str, dict[str, Any]]:
    ddb = wiring.aws("dynamodb")
    pages = ddb.get_paginator("scan").paginate(TableName=kizuna.resources.tables["messages"], ConsistentRead=True)
    return {i["message_id"]["S"]: i for page in pages for i in page.get("Items", [])}


def _status(item: dict[str, Any] | None) -> str:
    return (item or {}).get("status", {}).get("S", "")


def _account(
    kizuna: LocalKizuna, pinpoint: Any, app_id: str, body: str, accepted: dict[str, str], result: SoakResult
) -> None:
    records = _records(kizuna)
    open_ids = [m for m in accepted if _status(records.get(m)) not in TERMINAL]
    if open_ids:
        result.reconciled = _reconcile(kizuna, [records[m] for m in open_ids if m in records])
        kizuna.drain(120)
        records = _records(kizuna)

    sandbox = kizuna.sandbox
    with sandbox._lock:
        mine = {sid: m for sid, m in sandbox.messages.items() if m.body == body and m.direction == "outbound-api"}
        counts = Counter(m.to for m in mine.values())
    result.sandbox_accepted = len(mine)
    result.sandbox_delivered = sum(1 for m in mine.values() if m.status == "delivered")
    numbers = set(accepted.values())

    # 1. one terminal record per accepted message; 2. agreeing with the sandbox, which saw each at most once
    for message_id, number in accepted.items():
        item = records.get(message_id)
        status = _status(item)
        result.statuses[status or "no record"] += 1
        if status not in TERMINAL:
            result.problems.append(f"message {message_id} to {number} is not settled: {status or 'no record'}")
            continue
        provider_id = item.get("provider_id", {}).get("S")
        if number in REFUSED:
            if provider_id or status != "failed":
                result.problems.append(f"refused message {message_id} recorded as {status} with {provider_id}")
            continue
        sent = mine.get(provider_id or "")
        if sent is None or sent.to != number:
            result.problems.append(f"message {message_id} ({status}) has no matching sandbox message {provider_id}")
        elif sent.status != status:
            result.problems.append(f"message {message_id}: record {status}, sandbox {sent.status}")
        elif str(sent.error_code or "") != item.get("error_code", {}).get("S", ""):
            result.problems.append(f"message {message_id}: error code {item.get('error_code')}, sandbox's {sent}")
    for number, n in counts.items():
        if n > 1:
            result.problems.append(f"the sandbox accepted {n} messages to {number}")
        if number not in numbers:
            result.problems.append(f"the sandbox sent to {number}, which no accepted message addresses")
    missing = numbers - set(counts) - set(REFUSED)
    if missing:
        result.problems.append(f"{len(missing)} accepted recipients never reached the sandbox: {sorted(missing)[:5]}")

    # 4. the dead-letter queue holds only copies of settled messages
    dead = _dead_lettered(kizuna)
    result.dead_lettered = len(dead)
    for message_id in dead:
        if _status(records.get(message_id)) not in TERMINAL:
            result.problems.append(f"message {message_id} is only in the dead-letter queue")

    # 3. KPIs equal the sandbox's own counts
    if not kizuna.drain_analytics(600):
        result.problems.append("analytics did not settle within 600 s")
    errors = Counter(str(m.error_code) for m in mine.values() if m.error_code)
    errors += Counter(str(MAGIC_TO[n][0]) for n in accepted.values() if n in REFUSED)
    result.expected_kpis = {
        "txn-sms-sent": float(result.sandbox_accepted + result.refused_at_submission),
        "txn-sms-delivered": float(result.sandbox_delivered),
        "txn-sms-error-distribution": {k: float(v) for k, v in sorted(errors.items())},
    }
    result.kpis = {
        "txn-sms-sent": _kpi(pinpoint, app_id, "txn-sms-sent").get("", 0.0),
        "txn-sms-delivered": _kpi(pinpoint, app_id, "txn-sms-delivered").get("", 0.0),
        "txn-sms-error-distribution": dict(sorted(_kpi(pinpoint, app_id, "txn-sms-error-distribution").items())),
    }
    for name, expected in result.expected_kpis.items():
        if result.kpis[name] != expected:
            result.problems.append(f"KPI {name} is {result.kpis[name]}, the sandbox says {expected}")


def _reconcile(kizuna: LocalKizuna, records: list[dict[str, Any]]) -> int:
    """What the reconciler (every 5 minutes, for records 10 minutes without a final status) does, done now for the
    open records: ask the provider and apply its answer as a status callback would."""
    env = kizuna.resources
    store = wiring.message_store(env.tables["messages"])
    events = wiring.event_sink(env.streams["events"])
    providers = wiring.providers(env.secrets["twilio"])
    settled = 0
    for item in records:
        provider_id = item.get("provider_id", {}).get("S")
        if _status(item) not in WAITING or not provider_id:
            continue
        receipt = providers["SMS"].fetch_status(provider_id)
        params = {"MessageStatus": receipt.status, "ErrorCode": receipt.error_code or ""}
        settled += record_status(store, events, SystemClock(), item["message_id"]["S"], params)
    return settled


def _dead_lettered(kizuna: LocalKizuna) -> set[str]:
    sqs, url, found = wiring.aws("sqs"), kizuna.resources.dlq_urls["send"], set()
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
        if not batch:
            break
        found |= {json.loads(m["Body"])["message_id"] for m in batch}
    return found


def _kpi(pinpoint: Any, app_id: str, name: str) -> dict[str, float]:
    rows = pinpoint.get_application_date_range_kpi(ApplicationId=app_id, KpiName=name)[
        "ApplicationDateRangeKpiResponse"
    ]["KpiResult"]["Rows"]
    return {(r["GroupedBys"][0]["Value"] if r["GroupedBys"] else ""): float(r["Values"][0]["Value"]) for r in rows}
