"""A bounded load run on the local API (issue 9): PutEvents, UpdateEndpoint and the Twilio status webhook under
locust, in LOCAL MODE (moto + sandbox Twilio on 127.0.0.1, one machine), then a check that nothing was lost.

Local mode runs in a process of its own (bench/load_server.py), locust in another for each scenario
(bench/load_locustfile.py; gevent patches only locust's process). Setup goes through the stock boto3 pinpoint
client: an app, endpoints for PutEvents, and real SMS sent through the sender to the sandbox, which settles them
without calling back, so that the load run's own callbacks are the ones that move the delivery records. Each
scenario runs a fixed number of users for a fixed time, each user sending as soon as it is answered. Afterwards
local mode drains (events through Firehose → S3 → analytics_ingest) and bench/load_check.py compares every
acknowledged request with what the system holds.

.venv/bin/python bench/run.py --only load_api
.venv/bin/python bench/load_api.py          # the same, printing the section instead of writing the doc
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from load_check import check, delivery_records, merge, observe
from report import PYTHON, REPO_ROOT, Section, table

NAME = "load_api"
# SMS sent in setup: their callbacks are the webhook's load (then replays, once all are posted).
MESSAGES = int(os.environ.get("KIZUNA_BENCH_LOAD_MESSAGES", "400"))
EVENT_ENDPOINTS = 100
EVENTS_PER_REQUEST = 10
ENDPOINTS_PER_REQUEST = 5
SHARED_ENDPOINTS = 4  # every UpdateEndpoint user of a run writes these: concurrent merges of one endpoint
DURATION_S = int(os.environ.get("KIZUNA_BENCH_LOAD_SECONDS", "20"))
USERS = 8
MIXED_USERS = 12  # four of each kind
UNDELIVERED_EVERY = 10  # one message in ten ends undelivered (30003) at the sandbox
SETUP_TIMEOUT_S = 600.0
DRAIN_TIMEOUT_S = 1800.0
BENCH_DIR = Path(__file__).resolve().parent
BODY = "ご予約ありがとうございます。"
OPERATIONS = ("PutEvents", "UpdateEndpoint", "status webhook")


@dataclass(frozen=True)
class Scenario:
    run: str
    title: str
    users: int
    classes: tuple[str, ...]
    share: tuple[float, float] = (0.0, 0.0)  # which part of the setup's messages its webhook users post for


SCENARIOS = (
    Scenario("events", "PutEvents", USERS, ("PutEventsUser",)),
    Scenario("upserts", "UpdateEndpoint", USERS, ("UpdateEndpointUser",)),
    Scenario("webhook", "status webhook", USERS, ("StatusWebhookUser",), (0.0, 0.625)),
    Scenario(
        "mixed",
        "mixed (all three at once)",
        MIXED_USERS,
        ("PutEventsUser", "UpdateEndpointUser", "StatusWebhookUser"),
        (0.625, 1.0),
    ),
)


class LocalModeProcess:
    """bench/load_server.py as a child process, spoken to in JSON lines."""

    def __init__(self, log_path: Path) -> None:
        env = os.environ | {"PYTHONPATH": str(REPO_ROOT / "layers")}
        self._log = log_path.open("w")
        self._process = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "load_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
            cwd=REPO_ROOT,
        )
        self.info = self._read()

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        return self._read()

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"local mode exited (code {self._process.poll()}); see {self._log.name}")
        return json.loads(line)

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, BrokenPipeError, ValueError):  # it may have exited already
            self.ask(cmd="stop")
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()


def _setup(server: LocalModeProcess, count: int) -> tuple[str, list[str], list[dict[str, Any]]]:
    """An app, the endpoints PutEvents reports events for, and `count` SMS settled at the sandbox; returns the app
    id, those endpoint ids, and per message what its callbacks need."""
    info = server.info
    pinpoint = boto3.client(
        "pinpoint",
        endpoint_url=info["base_url"],
        region_name=info["region"],
        aws_access_key_id=info["access_key_id"],
        aws_secret_access_key=info["secret_access_key"],
    )
    app_id = pinpoint.create_app(CreateApplicationRequest={"Name": "load"})["ApplicationResponse"]["Id"]
    event_endpoints = [f"ev-{i:04d}" for i in range(EVENT_ENDPOINTS)]
    sms = {f"sms-{i:04d}": f"+8190{i:08d}" for i in range(count)}
    items = [{"Id": e, "ChannelType": "SMS", "Address": f"+8170{i:08d}"} for i, e in enumerate(event_endpoints)]
    items += [{"Id": e, "ChannelType": "SMS", "Address": a} for e, a in sms.items()]
    for start in range(0, len(items), 100):
        pinpoint.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items[start : start + 100]})
    server.ask(cmd="undeliverable", addresses=[a for i, a in enumerate(sms.values()) if i % UNDELIVERED_EVERY == 3])
    ids = list(sms)
    for start in range(0, len(ids), 100):
        pinpoint.send_messages(
            ApplicationId=app_id,
            MessageRequest={
                "Endpoints": {e: {} for e in ids[start : start + 100]},
                "MessageConfiguration": {"SMSMessage": {"Body": BODY, "MessageType": "TRANSACTIONAL"}},
            },
        )
    ddb = boto3.client(
        "dynamodb", endpoint_url=info["aws_endpoint"], region_name=info["region"],
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    while True:
        sandbox = [m for m in server.ask(cmd="messages")["messages"] if m["url"]]
        final = [m for m in sandbox if m["status"] in ("delivered", "undelivered")]
        by_id = {parse_qs(urlsplit(m["url"]).query)["m"][0]: m for m in final}
        records = delivery_records(ddb, info["tables"]["messages"], sorted(by_id))
        queued = [m for m, r in records.items() if r is not None and r[0] == "queued"]
        if len(queued) == count:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"setup: {len(queued)} of {count} messages reached the sandbox in time")
        time.sleep(1.0)
    messages = [
        {"index": i, "message_id": mid, "sid": m["sid"], "url": m["url"], "from": m["from"], "to": m["to"],
         "final": m["status"], "error_code": m["error_code"]}
        for i, (mid, m) in enumerate(sorted(by_id.items()))
    ]  # fmt: skip
    return app_id, event_endpoints, messages


def _locust(scenario: Scenario, config: dict[str, Any], workdir: Path) -> tuple[dict[str, Any], dict]:
    """One scenario in a locust process of its own; returns its statistics and its ledger."""
    config_path, ledger_path = workdir / f"{scenario.run}.json", workdir / f"{scenario.run}-ledger.json"
    stats_path = workdir / f"{scenario.run}-stats.json"
    config_path.write_text(json.dumps(config | {"run": scenario.run}))
    command = [
        sys.executable, str(BENCH_DIR / "load_locustfile.py"), "--users", str(scenario.users),
        "--seconds", str(DURATION_S), "--stats", str(stats_path), *scenario.classes,
    ]  # fmt: skip
    env = os.environ | {
        "KIZUNA_LOAD_CONFIG": str(config_path),
        "KIZUNA_LOAD_LEDGER": str(ledger_path),
        "PYTHONPATH": str(REPO_ROOT / "layers"),
    }
    result = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not ledger_path.exists():
        raise RuntimeError(f"locust run {scenario.run} failed (exit {result.returncode}): {result.stderr[-2000:]}")
    return json.loads(stats_path.read_text()), json.loads(ledger_path.read_text())


def measure(messages: int = MESSAGES) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="kizuna-load-"))
    load_before = os.getloadavg()
    server = LocalModeProcess(workdir / "local-mode.log")
    try:
        started = time.monotonic()
        app_id, event_endpoints, sent = _setup(server, messages)
        setup_s = time.monotonic() - started
        info = server.info
        config = {k: info[k] for k in ("base_url", "region", "access_key_id", "secret_access_key", "account_sid",
                                       "auth_token")}  # fmt: skip
        config |= {
            "app_id": app_id,
            "event_endpoints": event_endpoints,
            "events_per_request": EVENTS_PER_REQUEST,
            "endpoints_per_request": ENDPOINTS_PER_REQUEST,
            "shared_endpoints": SHARED_ENDPOINTS,
        }
        runs = {}
        for scenario in SCENARIOS:
            print(f"[load_api] {scenario.run}: {scenario.users} users, {DURATION_S} s", file=sys.stderr, flush=True)
            mine = sent[int(len(sent) * scenario.share[0]) : int(len(sent) * scenario.share[1])]
            runs[scenario.run] = _locust(scenario, config | {"messages": mine}, workdir)
        load_during = os.getloadavg()
        started = time.monotonic()
        drained = server.ask(cmd="drain", timeout=DRAIN_TIMEOUT_S)["idle"]
        drain_s = time.monotonic() - started
        ledger = merge([ledger for _, ledger in runs.values()])
        pinpoint = boto3.client(
            "pinpoint", endpoint_url=info["base_url"], region_name=info["region"],
            aws_access_key_id=info["access_key_id"], aws_secret_access_key=info["secret_access_key"],
        )  # fmt: skip
        ddb = boto3.client(
            "dynamodb", endpoint_url=info["aws_endpoint"], region_name=info["region"],
            aws_access_key_id="local", aws_secret_access_key="local",
        )  # fmt: skip
        observed = observe(pinpoint, ddb, info["tables"], app_id, ledger)
        problems = check(ledger, observed)
        if not drained:
            problems.insert(0, f"local mode did not drain within {DRAIN_TIMEOUT_S:.0f} s")
    finally:
        server.stop()
    if problems:  # keep the ledgers, statistics and local mode's log for a look
        print(f"[load_api] {len(problems)} problems; the run's files are in {workdir}", file=sys.stderr, flush=True)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "runs": runs,
        "ledger": ledger,
        "problems": problems,
        "setup_s": setup_s,
        "drain_s": drain_s,
        "load": (load_before, load_during),
        "messages": len(sent),
    }


def _ms(row: dict[str, Any], column: str) -> str:
    return f"{row[column]:,.0f}"


def _rows(m: dict[str, Any]) -> list[list[object]]:
    rows = []
    for scenario in SCENARIOS:
        stats, ledger = m["runs"][scenario.run]
        for operation in OPERATIONS:
            row = stats["stats"].get(operation)
            if row is None:
                continue
            counts = ledger["responses"].get(operation, {})
            errors = counts.get("other", 0) + counts.get("no answer", 0)
            if operation == "PutEvents":  # a 2xx answer that refused some of its events
                errors += ledger["responses"].get("PutEvents (event)", {}).get("other", 0)
            rows.append([
                scenario.title, scenario.users, f"`{operation}`", f"{row['requests']:,}", f"{row['rps']:.1f}",
                _ms(row, "p50"), _ms(row, "p95"), _ms(row, "p99"), _ms(row, "p100"),
                f"**{errors}**" if errors else "0", counts.get("429", 0),
            ])  # fmt: skip
    return rows


def _totals(ledger: dict[str, Any]) -> dict[str, int]:
    return {
        "events": sum(len(set(ids)) for ids in ledger["events"].values()),
        "unacknowledged": sum(len(set(ids)) for ids in ledger["events_unacknowledged"].values()),
        "endpoints": len(ledger["endpoints"]),
        "writes": sum(len(a) for a in ledger["endpoints"].values()),
        "attributes": sum(len({a for a, _, _ in writes}) for writes in ledger["endpoints"].values()),
        "messages": len(ledger["callbacks"]),
        "callbacks": sum(len(p) for p in ledger["callbacks"].values()),
    }


def run(messages: int = MESSAGES) -> Section:
    command = f"{PYTHON} bench/run.py --only {NAME}" + (f" --messages {messages}" if messages != MESSAGES else "")
    section = Section(NAME, "Load on the local API (local mode)", command)
    m = measure(messages)
    totals = _totals(m["ledger"])
    (before, during) = m["load"]
    failures = m["ledger"]["failures"]
    section.body += [
        "**Local mode, one machine, not an AWS figure**: the API and webhook functions run in local mode's "
        "threaded HTTP gateway, every AWS call goes to one moto server on loopback, and all of it (moto, the "
        "gateway, every handler, the SQS pollers) is one Python process, one interpreter lock; locust (the load "
        f"generator, {version('locust')}, one process) shares the same cores. The figures bound local mode, not "
        "Lambda + API Gateway + DynamoDB, and move with whatever else the machine runs: load average "
        f"{before[0]:.1f} before the run, {during[0]:.1f} at its end.",
        "",
        f"Each scenario: a fresh locust process, a fixed number of users for {DURATION_S} s (all started at once; "
        "then each finishes the task it is in, and req/s divides by that whole time), each user sending its next "
        "request as soon as the last is answered (no think time, so latency includes "
        f"queueing at that concurrency). **PutEvents**: {EVENTS_PER_REQUEST} events per request over "
        f"{ENDPOINTS_PER_REQUEST} of {EVENT_ENDPOINTS} existing endpoints, unique event ids. **UpdateEndpoint**: "
        f"upserts (the first write creates) of {SHARED_ENDPOINTS} endpoints that all the run's users write at once, "
        "each user a new value to an attribute of its own (every user's last value must survive the others' "
        "merges). Both serialized and SigV4-signed (`mobiletargeting`) by botocore as the stock boto3 client "
        f"does. **Status webhook**: callbacks for {m['messages']} real SMS sent in setup through `SendMessages` "
        f"and the sender to the sandbox Twilio (1 in {UNDELIVERED_EVERY} undelivered, 30003), which settled them "
        "without calling back: queued → sent → final, as the sandbox settled each, plus a late `sent` for one "
        "message in five and a replayed final status for another one in five, signed with Twilio's "
        "RequestValidator; once a run's messages are all posted, replays of their final statuses. The mixed run "
        "has four users of each kind. Latencies are locust's (ms; locust rounds above 100 ms to 2 significant "
        "figures); errors are answers other than 2xx and 429 plus requests never answered.",
        "",
        *table(
            ["scenario", "users", "operation", "requests", "req/s", "p50", "p95", "p99", "max", "errors", "429"],
            _rows(m),
        ),
        "",
        f"Setup (app, {EVENT_ENDPOINTS + m['messages']} endpoints, {m['messages']} SMS to the sandbox) took "
        f"{m['setup_s']:.0f} s; after the runs local mode drained (Firehose buffer → S3 → analytics_ingest) in "
        f"{m['drain_s']:.0f} s.",
        "",
        "Nothing-lost check (bench/load_check.py), over all four runs: "
        f"{totals['events']:,} events answered 202 (and {totals['unacknowledged']:,} sent without a 202) against "
        f"the analytics ledger and the `events-grouped-by-event-type` KPI; {totals['writes']:,} UpdateEndpoint "
        f"writes to {totals['attributes']} attributes of {totals['endpoints']} endpoints against `GetEndpoint`; "
        f"{totals['callbacks']:,} status callbacks for {totals['messages']} messages against their delivery records.",
    ]
    if failures:
        section.body += ["", "Failed requests (first 20):", ""]
        section.body += [f"- `{f['operation']}` HTTP {f['status']}: {f['detail'][:160]}" for f in failures[:20]]
    if m["problems"]:
        section.body += ["", "**Lost or wrong:**", "", *(f"- {p}" for p in m["problems"][:30])]
    errors = sum(counts.get("other", 0) + counts.get("no answer", 0) for counts in m["ledger"]["responses"].values())
    by_op = {}
    for scenario in SCENARIOS[:3]:
        stats, _ = m["runs"][scenario.run]
        row = stats["stats"][scenario.title]
        by_op[scenario.title] = f"`{scenario.title}` {row['rps']:.0f} req/s, p99 {_ms(row, 'p99')} ms"
    section.verdict = (
        "; ".join(by_op.values())
        + f" with {USERS} users each, locally; {errors} failed requests; "
        + (
            "**nothing lost**: every acknowledged event counted, endpoint write readable, callback applied."
            if not m["problems"]
            else f"**{len(m['problems'])} losses or mismatches** (listed above)."
        )  # fmt: skip
    )
    return section


if __name__ == "__main__":
    print("\n".join(run().body))
