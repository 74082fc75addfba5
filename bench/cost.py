"""The cost model (issue 9): AWS cost per 1M delivered SMS with full status tracking, per 1M ingested events and per
1M journey participants, from the counts the benchmarks measured × the published prices in bench/prices.py, next
to Twilio's and Amazon Pinpoint's prices for the same work. Writes docs/cost.md and a short section of
docs/benchmarks.md.

The counts are the figures of this run's send_path, analytics_ingest and journey_transitions sections, or, for a
benchmark not rerun, the ones recorded in docs/benchmarks.json (the doc names which run each came from).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cost_model as cm
from prices import PINPOINT_FREE_EVENTS, PINPOINT_FREE_MTA, PRICES, usd
from report import PYTHON, REPO_ROOT, Section, read_figures, table

from kizuna.catalog import FUNCTIONS, QUEUES, SCHEDULES, SECRETS

NAME = "cost"
DOC = REPO_ROOT / "docs" / "cost.md"
BENCH_DOC = REPO_ROOT / "docs" / "benchmarks.md"
SOURCES = ("send_path", "analytics_ingest", "journey_transitions")
TARGET_USD_PER_1M_SMS = 5.0
TARGET_SHARE_OF_TWILIO = 0.001
TOP_ITEMS = 3
IDLE_POLLERS_PER_QUEUE = 5  # Lambda's SQS event source keeps about five pollers on an idle queue (assumed)
LONG_POLL_S = 20  # each waits up to 20 s per ReceiveMessage
# What would cut a line item, by (service, words in its item): named when the item is among the biggest.
CUTS = {
    ("API Gateway", "webhooks"): "Twilio posts every status (queued, sent, delivered) to the webhooks HTTP API at "
    "$1.00 per million requests (it was a REST API at $3.50). A Lambda function URL would cost nothing per request, "
    "but gives up the stage's rate limit (only reserved concurrency, which low-quota accounts cannot set aside), "
    "the one base URL for every webhook and the access log (infra/webhooks_api.py). Asking Twilio for fewer "
    "callbacks is not possible per status.",
    ("DynamoDB", "limits"): "the sender's rate bucket is booked with one conditional write per batch (an atomic "
    "add after a busy bucket's TAT, no read), and once more per batch that wakes late (services/send_pacing); "
    "what is left here are guesses of busy/idle that the bucket refused, re-bookings on a loaded host and, when "
    "a cap is set, the spend and WhatsApp-tier counters. One write per batch of ten is the floor of this design.",
    ("DynamoDB", "messages"): "the delivery record (a few hundred bytes: one unit a write) is written by the "
    "sender's claim and its record of Twilio's answer (again when a send is re-claimed after a wait) and by each "
    "status callback that moves it (a callback is read first and one the ladder ignores writes nothing). The "
    "`open_since` index (keys only, sorted by when the record opened) adds two units: one when the record opens, "
    "one when it closes. Twilio's intermediate `sent` callback could be read without a write (only `delivered`, "
    "`undelivered` and `failed` end a message), at the cost of the record's `sent` status.",
    ("Lambda", "duration"): "the functions wait on their AWS calls one after another; the sender also waits for its "
    "paced slots and Twilio's answer. Fewer calls per message (above) shorten every invocation.",
    ("DynamoDB", "ledger"): "the analytics ledger keeps one item per event (a conditional put) to drop replays; "
    "claiming a Firehose object's events in one BatchWriteItem of claim items would not lower the units, only "
    "a ledger keyed per object or per provider message would.",
    ("CloudWatch Logs", ""): "Lambda's own START/END/REPORT lines and the access log line per request dominate; "
    "an access log on the webhooks API is optional.",
}


def sources(measured: Mapping[str, Section]) -> dict[str, tuple[dict[str, float], str]]:
    """Each source benchmark's figures and where they came from: this run's section, else the recorded ones."""
    recorded = read_figures(BENCH_DOC)
    found = {}
    for name in SOURCES:
        section = measured.get(name)
        if section is not None and section.figures:
            found[name] = (dict(section.figures), f"this run ({section.date})")
        elif name in recorded:
            found[name] = (
                recorded[name]["figures"],
                f"recorded in docs/benchmarks.json, measured {recorded[name]['measured']}",
            )
        else:
            raise RuntimeError(f"no figures of {name}: run `{PYTHON} bench/run.py --only {name}` first")
    return found


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def _lines_table(lines: list[cm.Line], unit: str) -> list[str]:
    rows = [
        [line.service, line.item + (f" ({line.note})" if line.note else ""), f"{line.quantity:.6g}",
         PRICES[line.price].unit, _usd(line.usd_per_million)]
        for line in sorted(lines, key=lambda x: -x.usd_per_million)
    ]  # fmt: skip
    rows.append(["**all**", "", "", "", f"**{_usd(cm.total(lines))}**"])
    return table(["service", "what", f"per {unit}", "billed unit", f"$ per {cm.UNIT:,} {unit}s"], rows)


def biggest(lines: list[cm.Line]) -> list[cm.Line]:
    return sorted(lines, key=lambda x: -x.usd_per_million)[:TOP_ITEMS]


def cut_for(line: cm.Line) -> str | None:
    for (service, words), remedy in CUTS.items():
        if line.service == service and words in line.item:
            return remedy
    return None


def sms_verdict(total_usd: float, lines: list[cm.Line]) -> tuple[str, list[str]]:
    shares = {c: total_usd / cm.UNIT / usd(f"twilio.sms_{c}") for c in ("us", "jp")}
    met_usd = total_usd <= TARGET_USD_PER_1M_SMS
    met = {c: s < TARGET_SHARE_OF_TWILIO for c, s in shares.items()}
    verdict = (
        f"{_usd(total_usd)} of AWS per {cm.UNIT:,} delivered SMS with status tracking: "
        f"**{'met' if met_usd else 'missed'}** the ≤ ${TARGET_USD_PER_1M_SMS:g} target; "
        + "; ".join(
            f"{shares[c]:.3%} of Twilio's {c.upper()} price (target < {TARGET_SHARE_OF_TWILIO:.1%}: "
            f"**{'met' if met[c] else 'missed'}**)"
            for c in ("us", "jp")
        )
        + "."
    )
    notes = []
    if not (met_usd and all(met.values())):
        for line in biggest(lines):
            remedy = cut_for(line)
            notes.append(
                f"- {line.service}, {line.item}: {_usd(line.usd_per_million)}" + (f" — {remedy}" if remedy else "")
            )
    return verdict, notes


def fixed_monthly() -> list[list[str]]:
    """What the deployed stack costs a month whatever it sends (from the catalog, as infra/ builds it)."""
    alarms = len(QUEUES) + len(SCHEDULES) + 1 + len(FUNCTIONS) + 1  # DLQs (+ email events), functions, state machine
    minutes = cm.DAYS_PER_MONTH * 24 * 60
    scheduled = sum(round(minutes / s.rate_minutes) for s in SCHEDULES.values())
    idle_polls = round(len(QUEUES) * IDLE_POLLERS_PER_QUEUE * minutes * 60 / LONG_POLL_S)
    reconcilers = "reconciler invocations, every 5 minutes (requests only: their duration was not measured)"
    polls = (
        f"idle long polls of the event source mappings ({len(QUEUES)} queues, {IDLE_POLLERS_PER_QUEUE} pollers each)"
    )
    rows = [
        ("KMS", "Kizuna's customer managed key (infra/storage.py)", 1, "kms.key_month"),
        ("Secrets Manager", "secrets (" + ", ".join(SECRETS) + ")", len(SECRETS), "secretsmanager.secret_month"),
        ("CloudWatch", "alarms (each DLQ, each function, the journey state machine)", alarms, "cloudwatch.alarm_month"),
        ("Lambda", reconcilers, scheduled, "lambda.request"),
        ("SQS", polls, idle_polls, "sqs.request"),
        ("Firehose", "JQ processing hours, if billed by the wall-clock hour (an upper bound)", round(minutes / 60),
         "firehose.jq_hour"),
    ]  # fmt: skip
    return [[s, w, f"{n:,}", PRICES[k].unit, _usd(n * usd(k))] for s, w, n, k in rows]


def _delivery_note(f: Mapping[str, float]) -> str:
    delivered, accepted = f.get("delivered", 0.0), f.get("accepted", 0.0)
    note = f"The send path's run delivered {delivered:,.0f} of {accepted:,.0f} accepted messages"
    if delivered < accepted:
        return note + (
            ": **the work of the undelivered ones is divided among the delivered ones, so these per-message "
            "figures are inflated; rerun send_path on a quieter machine.**"
        )
    return note + "."


def render(found: dict[str, tuple[dict[str, float], str]]) -> tuple[str, dict[str, float], str]:
    f, a, j = (found[n][0] for n in SOURCES)
    sms, events, journey = cm.sms_lines(f, a), cm.event_lines(a), cm.journey_lines(j)
    sms_usd, events_usd, journey_usd = cm.total(sms), cm.total(events), cm.total(journey)
    verdict, notes = sms_verdict(sms_usd, sms)
    n = cm.UNIT
    twilio = {c: usd(f"twilio.sms_{c}") * n for c in ("us", "jp")}
    pinpoint_sms = {c: usd(f"pinpoint.sms_{c}") * n for c in ("us", "jp")}
    sms_per_participant = j.get("per_participant.sms", 0.0)
    mta = (n - PINPOINT_FREE_MTA) * usd("pinpoint.mta_endpoint")
    out = [
        "# Kizuna's AWS cost per unit of work",
        "",
        f"Generated by `make bench` (`{PYTHON} bench/run.py --only cost` alone) — do not edit by hand; rerun it. "
        "Every figure is a count measured by a benchmark × a published price; what is assumed instead of measured "
        "is listed under each table.",
        "",
        "Counts from: " + "; ".join(f"`{name}` {where}" for name, (_, where) in found.items()) + " (see "
        "[benchmarks.md](benchmarks.md) for how each was measured).",
        "",
        f"## Per {n:,} delivered SMS, with full status tracking",
        "",
        "One SMS sent with SendMessages (100 a request), delivered through Twilio, its status callbacks "
        f"({f.get('twilio.callbacks', 0):.2f} a message) recorded, its events streamed to S3 and counted into the "
        "KPIs. Twilio's and the carriers' fees are not AWS costs and are not in this table. " + _delivery_note(f),
        "",
        *_lines_table(sms, "message"),
        "",
        "Next to the per-message prices of the same work (carrier fees apart, on top of each):",
        "",
        *table(
            ["", "US", "Japan"],
            [
                [f"Twilio, {n:,} SMS", _usd(twilio["us"]), _usd(twilio["jp"])],
                [
                    "Kizuna's AWS cost above, as a share of Twilio's price",
                    f"{sms_usd / twilio['us']:.3%}",
                    f"{sms_usd / twilio['jp']:.3%}",
                ],
                [f"Kizuna: Twilio + AWS, {n:,} SMS", _usd(twilio["us"] + sms_usd), _usd(twilio["jp"] + sms_usd)],
                [f"Amazon Pinpoint: its SMS fee, {n:,} SMS", _usd(pinpoint_sms["us"]), _usd(pinpoint_sms["jp"])],
            ],
        ),  # fmt: skip
        "",
        "Pinpoint's fee covered its delivery tracking and event stream; Kizuna pays Twilio for delivery and AWS for "
        "the rest, so the infrastructure share is the figure to watch, not the sum (Twilio's per-message price "
        "differs from AWS's, for reasons that are Twilio's).",
        "",
        f"**Verdict:** {verdict}",
        *([""] + ["Biggest items, and what would cut them:"] + notes if notes else []),
        "",
        f"## Per {n:,} ingested events",
        "",
        f"Events sent with PutEvents ({a.get('put_events.events', 0):.0f} a request, as the benchmark sent them) "
        "through the management API, streamed by Firehose to S3 and counted by analytics_ingest into the 90-day "
        "aggregates (the ledger claim that drops replays included).",
        "",
        *_lines_table(events, "event"),
        "",
        f"**Pinpoint** charged ${usd('pinpoint.event') * n:,.2f} per {n:,} events ingested above "
        f"{PINPOINT_FREE_EVENTS:,} free a month: below that volume Pinpoint's events cost nothing and Kizuna's "
        f"{_usd(events_usd)} is all extra; at 1 billion events a month Pinpoint's bill is "
        f"{_usd((1e9 - PINPOINT_FREE_EVENTS) * usd('pinpoint.event'))} and Kizuna's {_usd(events_usd * 1000)}.",
        "",
        f"## Per {n:,} journey participants",
        "",
        f"bench/journey_transitions.py's journey (SMS → wait a day → split on delivery → SMS), projected to "
        f"{j.get('projected_participants', n):,.0f} participants. Its {sms_per_participant:.0f} messages per "
        "participant go through the send path above and are priced there.",
        "",
        *_lines_table(journey, "participant"),
        "",
        *table(
            ["", f"{n:,} participants"],
            [
                ["Kizuna: the journey (above)", _usd(journey_usd)],
                [
                    f"Kizuna: with its {sms_per_participant:.0f} SMS each at the send path's AWS cost",
                    _usd(journey_usd + sms_per_participant * sms_usd),
                ],
                [
                    f"Pinpoint: Monthly Targeted Audience (${usd('pinpoint.mta_endpoint')} an endpoint, "
                    f"{PINPOINT_FREE_MTA:,} free; SMS fees apart)",
                    _usd(mta),
                ],
            ],
        ),  # fmt: skip
        "",
        "## Fixed monthly costs (whatever is sent)",
        "",
        *table(["service", "what", "a month", "billed unit", "$ a month"], fixed_monthly()),
        "",
        "## Assumptions",
        "",
        f"- Lambda duration = the CPU measured in local mode (one core of this machine, botocore included, moto "
        f"excluded), divided by the function's vCPU share (memory / {cm.LAMBDA_FULL_VCPU_MB:,} MB, arm64 taken "
        "as fast as this core), plus its waits: AWS calls one after another at "
        + ", ".join(f"{s} {v * 1000:.0f} ms" for s, v in cm.LATENCY_S.items())
        + f" (other {cm.OTHER_LATENCY_S * 1000:.0f} ms), a function's pool tasks {cm.POOL_PARALLELISM} at a time; "
        f"the sender also waits for Twilio ({cm.TWILIO_API_LATENCY_S * 1000:.0f} ms a request) and for its batch's "
        f"paced slots ({cm.SENDER_PACE_PER_S}/s). Cold starts are left out: at steady load an environment serves "
        "thousands of messages.",
        f"- Logs: what the functions print with logs at INFO and metrics on (measured), plus "
        f"{cm.PLATFORM_LOG_BYTES} B of Lambda's START/END/REPORT lines per invocation and an access log line per "
        f"API request: {cm.WEBHOOK_ACCESS_LOG_BYTES} B on the webhooks HTTP API, {cm.ACCESS_LOG_BYTES} B on the "
        "management REST API (their formats, with sample values).",
        f"- X-Ray: active tracing on every function and on the management API's stage (HTTP API stages are not "
        f"traced; the webhook functions are); {cm.XRAY_SAMPLED:.0%} of requests and queue batches recorded (the "
        "default rule at volume).",
        "- Firehose object size: one object per 1,000 events (a busy 60 s buffer of one app and day, as "
        "analytics_ingest's benchmark cuts them).",
        "- On AWS, SQS polling by Lambda's event source mapping is billed: one ReceiveMessage and one "
        "DeleteMessageBatch per batch handled (the local runtime's own pollers, idle polls included, are not "
        "counted; the idle polls are under fixed costs).",
        "- Not counted: data transfer (webhook requests come in, which is free; the Twilio API's responses are "
        "small), KMS per request (DynamoDB, SQS and S3 cache their data keys for minutes: a few thousand requests "
        "a month), CloudWatch custom metrics (billed per metric a month, not per message).",
        "",
        "## Prices",
        "",
        *table(
            ["key", "USD", "per", "source", "read"],
            [[f"`{k}`", f"{p.usd:.10g}", p.unit, p.source, p.read] for k, p in PRICES.items()],
        ),
        "",
    ]
    totals = {"usd_per_1m_sms": sms_usd, "usd_per_1m_events": events_usd, "usd_per_1m_participants": journey_usd}
    return "\n".join(out), totals, verdict


def run(measured: Mapping[str, Any] | None = None) -> Section:
    found = sources(measured or {})
    text, totals, verdict = render(found)
    DOC.write_text(text)
    section = Section(NAME, "Cost model (docs/cost.md)", f"{PYTHON} bench/run.py --only {NAME}")
    section.body = [
        "AWS cost per unit of work, from the counts measured by "
        + ", ".join(f"`{name}` ({where})" for name, (_, where) in found.items())
        + " × the prices in bench/prices.py; the tables, assumptions and Pinpoint's prices are in "
        "[cost.md](cost.md).",
        "",
        *table(
            ["unit", "AWS cost"],
            [
                [f"{cm.UNIT:,} delivered SMS", _usd(totals["usd_per_1m_sms"])],
                [f"{cm.UNIT:,} ingested events", _usd(totals["usd_per_1m_events"])],
                [f"{cm.UNIT:,} journey participants (their SMS apart)", _usd(totals["usd_per_1m_participants"])],
            ],
        ),
    ]
    section.verdict = verdict
    section.figures = totals
    return section
