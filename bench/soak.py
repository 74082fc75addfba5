"""The soak with faults (issue 9), long: N messages through local mode's real path while every fault happens at
once, then the accounting check (kizuna.local.faults_soak). `--runs` repeats it with the next seeds, each in a
fresh local system; the must-hold is that the check passes on three consecutive runs.

.venv/bin/python bench/run.py --only soak                      # 3 runs of 20,000 messages, 2 at a time
.venv/bin/python bench/run.py --only soak --runs 1 --messages 2000 --jobs 1
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from report import PYTHON, Section, Stats, table

from kizuna.domain.messages import TERMINAL
from kizuna.local.faults_soak import SoakConfig, SoakResult, run_soak

NAME = "soak"
MESSAGES = 20_000
RUNS = 3  # the must-hold: the accounting check passes on three consecutive runs
FAULT_ROWS = [
    ("twilio_20503", "Twilio 5xx (503 / 20503) answered"),
    ("twilio_20429", "Twilio 20429 answered"),
    ("twilio_timeout", "Twilio timeouts (accepted, connection dropped)"),
    ("sqs_send_duplicated", "send queue: records delivered twice"),
    ("sqs_send_acks_dropped", "send queue: acks lost"),
    ("sqs_analytics_duplicated", "analytics queue: records delivered twice"),
    ("sqs_analytics_acks_dropped", "analytics queue: acks lost"),
    ("crash_before_provider_call", "sender crashed before the provider call"),
    ("crash_after_provider_call", "sender crashed after the provider accepted"),
    ("crash_before_ack", "handler crashed after its write, before answering"),
    ("dynamodb_throttled", "DynamoDB requests throttled"),
    ("firehose_records_failed", "Firehose records reported failed"),
    ("firehose_outages", "Firehose outages (2 s, every record fails)"),
]


def run(messages: int = MESSAGES, runs: int = RUNS, jobs: int | None = None) -> Section:
    jobs = jobs or min(runs, os.cpu_count() or 1)
    command = f"{PYTHON} bench/run.py --only {NAME}" + (f" --runs {runs}" if runs != RUNS else "")
    command += f" --messages {messages}" if messages != MESSAGES else ""
    command += f" --jobs {jobs}" if jobs != min(runs, os.cpu_count() or 1) else ""
    section = Section(NAME, "Soak with faults (local mode)", command)
    results = _soak(messages, runs, jobs)
    config = results[0].config
    rates = config.rates
    section.body += [
        f"{messages:,} messages per run, "
        + (f"{runs} consecutive runs with seeds 1–{runs}, each" if runs > 1 else "one run (seed 1)")
        + " in a fresh local system: the stock boto3 pinpoint client → `SendMessages` (batches of 100, at most "
        f"{config.backlog} messages ahead of the sandbox) → send queue → sender → sandbox Twilio → signed status "
        "callbacks → status webhook → delivery records; events → local Firehose buffer → moto Firehose → S3 → "
        "analytics_ingest → KPIs read with `GetApplicationDateRangeKpi`.",
        "",
        "Faults, all at once while messages flow (kizuna.local.faults; shares of requests, records or sends): "
        f"sandbox 5xx {config.sandbox_5xx:.0%}, 20429 {config.sandbox_20429:.0%}, timeouts "
        f"{config.sandbox_timeout:.0%} of create requests, {config.sandbox_undelivered:.0%} undelivered (30003); "
        f"send queue duplicates {config.sqs_duplicate:.0%} and lost acks {config.sqs_drop_ack:.0%}, analytics queue "
        f"{config.analytics_duplicate:.0%} and {config.analytics_drop_ack:.0%}; sender crashes before / after the "
        f"provider call {rates.crash_before_provider:.0%} / {rates.crash_after_provider:.0%} of sends; handler "
        f"crashes before the ack {rates.crash_before_ack:.0%} of status-event emits; DynamoDB throttling "
        f"{rates.dynamodb_throttle:.0%} of requests (botocore's standard retries, 4 attempts); Firehose partial "
        f"failures in {rates.firehose_call:.0%} of PutRecordBatch calls ({rates.firehose_record:.0%} of their "
        f"records) and a {rates.firehose_outage_s:.0f} s outage starting on {rates.firehose_outage:.0%} of calls. "
        f"Every `SendMessages` call in {config.refuse_every} also addresses one of Twilio's refused magic numbers.",
        "",
        "Accounting check after each run (faults off, system idle): every accepted message has one delivery "
        "record in a terminal status that agrees with the sandbox (status, sid, error code); the sandbox accepted "
        "each recipient-message at most once; txn-sms-sent = sandbox-accepted + refused, txn-sms-delivered = "
        "sandbox-delivered, txn-sms-error-distribution = the sandbox's error codes + the refusals'; the DLQ holds "
        "no message that is not settled. Records the callbacks left open would be settled as the reconciler does "
        "(counted below).",
        "",
        *table(
            ["figure", *(f"run {i + 1}" for i in range(runs))],
            _rows(results),
        ),
        "",
        "Faults injected, by kind:",
        "",
        *table(
            ["fault", *(f"run {i + 1}" for i in range(runs))],
            [[label, *(f"{r.faults[key]:,}" for r in results)] for key, label in FAULT_ROWS],
        ),
    ]
    if runs > 1:
        rate = Stats.of([r.accepted / r.seconds["settle"] for r in results])
        section.body += ["", f"Messages per second to settled, over the runs: {rate.fmt(2)}."]
    problems = [p for r in results for p in r.problems]
    if problems:
        section.body += ["", "Problems found:", "", *(f"- {p}" for p in problems[:30])]
    passed = sum(r.passed for r in results)
    section.verdict = (
        f"accounting check passed on {passed} of {runs} consecutive run(s) of {messages:,} messages"
        + (" (must hold: 3 of 3)" if runs >= 3 else "")
        + f"; {sum(r.duplicates_suppressed for r in results):,} duplicate deliveries suppressed, "
        f"{sum(sum(r.faults[k] for k, _ in FAULT_ROWS) for r in results):,} faults injected."
    )
    return section


def _soak(messages: int, runs: int, jobs: int) -> list[SoakResult]:
    """Runs with seeds 1..runs, `jobs` at a time, each in a process of its own (moto's state is per process; a run
    is mostly one core, Python's lock held). All are reported, in seed order: none is dropped or re-run."""
    configs = [SoakConfig(messages=messages, seed=i + 1) for i in range(runs)]
    if jobs <= 1:
        return [_reported(run_soak(config)) for config in configs]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [_reported(result) for result in pool.map(run_soak, configs)]


def _reported(result: SoakResult) -> SoakResult:
    print(result.summary(), file=sys.stderr, flush=True)
    return result


def _rows(results: list[SoakResult]) -> list[list[object]]:
    def row(label: str, value: object) -> list[object]:
        return [label, *(value(r) if callable(value) else value for r in results)]

    return [
        row("accepted by SendMessages (incl. refused)", lambda r: f"{r.accepted:,} ({r.refused_at_submission})"),
        row(
            "delivered / undelivered / failed",
            lambda r: "{delivered:,} / {undelivered:,} / {failed:,}".format(
                **{k: r.statuses.get(k, 0) for k in ("delivered", "undelivered", "failed")}
            ),
        ),
        row("not settled", lambda r: f"**{sum(n for s, n in r.statuses.items() if s not in TERMINAL):,}**"),
        row("sandbox: accepted / delivered", lambda r: f"{r.sandbox_accepted:,} / {r.sandbox_delivered:,}"),
        row("sandbox: recipient-messages sent twice", lambda r: f"**{_twice(r)}**"),
        row("duplicate deliveries suppressed", lambda r: f"{r.duplicates_suppressed:,}"),
        row(
            "sender outcomes",
            lambda r: ", ".join(f"{k[8:]} {v:,}" for k, v in sorted(r.faults.items()) if k.startswith("outcome_")),
        ),
        row("KPI txn-sms-sent (sandbox + refused)", lambda r: _kpi(r, "txn-sms-sent")),
        row("KPI txn-sms-delivered (sandbox)", lambda r: _kpi(r, "txn-sms-delivered")),
        row("KPI txn-sms-error-distribution", lambda r: _errors(r)),
        row("settled by the reconciler's lookup", lambda r: r.reconciled),
        row("copies in the send DLQ (all of settled messages)", lambda r: r.dead_lettered),
        row(
            "wall time: accepted / all final at the sandbox / idle / checked (s)",
            lambda r: " / ".join(f"{r.seconds.get(k, 0):.0f}" for k in ("accept", "final_100%", "settle", "total")),
        ),
        row("messages per second to settled", lambda r: f"{r.accepted / r.seconds['settle']:.2f}"),
        row("**accounting check**", lambda r: "**passed**" if r.passed else f"**FAILED ({len(r.problems)})**"),
    ]


def _twice(result: SoakResult) -> int:
    return sum(1 for p in result.problems if p.startswith("the sandbox accepted"))


def _kpi(result: SoakResult, name: str) -> str:
    got, expected = result.kpis.get(name), result.expected_kpis.get(name)
    return f"{got:,.0f} ({expected:,.0f})" if got == expected else f"**{got} ≠ {expected}**"


def _errors(result: SoakResult) -> str:
    got = result.kpis.get("txn-sms-error-distribution", {})
    text = ", ".join(f"{k}: {v:,.0f}" for k, v in got.items())
    return text if got == result.expected_kpis.get("txn-sms-error-distribution") else f"**{text} ≠ expected**"


if __name__ == "__main__":
    print("\n".join(run(int(sys.argv[1]) if len(sys.argv) > 1 else MESSAGES).body))
