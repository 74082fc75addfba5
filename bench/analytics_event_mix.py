"""The event mix bench/analytics_ingest.py counts, and the recount its KPI answers are checked against.

A reproducible mix (seed 5) over the last 7 days for one app: transactional SMS as the sender and the Twilio webhook
emit them (BUFFERED on hand-over, BUFFERED when sent, then SUCCESS or FAILURE; some refused at submission), app
sessions and custom events as PutEvents writes them, and 2% of the lines duplicated (replays).
KIZUNA_BENCH_ANALYTICS_MESSAGES sets how many SMS it holds (5,000 by default).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from datetime import datetime, timedelta

from kizuna.services.event_stream import pinpoint_event
from kizuna.services.ingest_events import stream_event

MESSAGES = int(os.environ.get("KIZUNA_BENCH_ANALYTICS_MESSAGES", "5000"))
APP_ENDPOINTS = MESSAGES // 5
REPLAY_SHARE = 0.02


def generate(app_id: str, now: datetime) -> tuple[list[bytes], Counter]:
    rng = random.Random(5)
    lines: list[bytes] = []
    truth: Counter = Counter()
    for m in range(MESSAGES):
        at = now - timedelta(seconds=rng.uniform(0, 6.9 * 86_400))
        day = at.date().isoformat()
        to = "+1415555" + f"{m % 10_000:04d}" if m % 10 == 0 else f"+8190{m:08d}"
        base = {"message_id": f"m{m}", "message_type": "Transactional", "destination_phone_number": to,
                "number_of_message_parts": "1"}  # fmt: skip
        truth[("sent", day)] += 1
        if m % 50 == 0:  # refused at submission (Twilio 21211): a FAILURE without a provider id
            lines.append(_line("_SMS.FAILURE", app_id, at, now, {**base, "record_status": "INVALID",
                               "provider_error_code": "21211"}, f"e{m}", f"m{m}-failed"))  # fmt: skip
            truth[("failed", "21211")] += 1
            continue
        provider = {**base, "provider_message_id": f"SM{m:030d}"}
        lines.append(
            _line("_SMS.BUFFERED", app_id, at, now, {**provider, "record_status": "PENDING"}, f"e{m}", f"m{m}-q")
        )
        lines.append(
            _line("_SMS.BUFFERED", app_id, at, now, {**provider, "record_status": "SUCCESSFUL"}, f"e{m}", f"m{m}-s")
        )
        if rng.random() < 0.04:
            lines.append(_line("_SMS.FAILURE", app_id, at, now, {**provider, "record_status": "UNREACHABLE",
                               "provider_error_code": "30003"}, f"e{m}", f"m{m}-u"))  # fmt: skip
            truth[("failed", "30003")] += 1
        else:
            lines.append(
                _line("_SMS.SUCCESS", app_id, at, now, {**provider, "record_status": "DELIVERED"}, f"e{m}", f"m{m}-d")
            )
            truth[("delivered", day)] += 1
    for e in range(APP_ENDPOINTS):
        for s in range(rng.randint(1, 4)):
            start = now - timedelta(seconds=rng.uniform(60, 6.9 * 86_400))
            session = {"Id": f"{e}-{s}", "StartTimestamp": iso(start)}
            stop = start + timedelta(seconds=50)
            events = {
                f"s{s}-start": {"EventType": "_session.start", "Timestamp": iso(start), "Session": session},
                f"s{s}-view": {"EventType": "view_item", "Timestamp": iso(start + timedelta(seconds=20)),
                               "Attributes": {"item": "抹茶"}, "Metrics": {"price": 1200.0}},
                f"s{s}-stop": {"EventType": "_session.stop", "Timestamp": iso(stop),
                               "Session": {**session, "StopTimestamp": iso(stop)}},
            }  # fmt: skip
            for ident, event in events.items():
                record = stream_event(app_id, f"app-{e}", f"{e}-{ident}", event, {}, now, "bench")
                lines.append((json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode())
            truth[("sessions", start.date().isoformat())] += 1
    truth["distinct_lines"] = len(lines)
    # Objects hold what arrived together: events in time order (a Firehose object is a buffer's worth of arrivals),
    # and the replays arrive later, anywhere.
    lines.sort(key=lambda line: json.loads(line)["event_timestamp"])
    for line in rng.sample(lines, int(len(lines) * REPLAY_SHARE)):
        lines.insert(rng.randrange(len(lines)), line)
    return lines, truth


def _line(event_type, app_id, at, now, attributes, client, ident) -> bytes:  # noqa: ANN001
    event = pinpoint_event(
        event_type, app_id, at, now, attributes, metrics={"message_parts": 1.0}, client_id=client, ident=ident
    )  # noqa: E501
    return (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def exactness(answers: dict[str, dict[str, float]], truth: Counter) -> dict[str, bool]:
    pairs = {k: v for k, v in truth.items() if isinstance(k, tuple)}
    sent = sum(v for (kind, _), v in pairs.items() if kind == "sent")
    delivered = {day: float(v) for (kind, day), v in pairs.items() if kind == "delivered"}
    sessions = {day: float(v) for (kind, day), v in pairs.items() if kind == "sessions"}
    errors = {code: float(v) for (kind, code), v in pairs.items() if kind == "failed"}
    return {
        "txn-sms-sent": answers["txn-sms-sent"] == {"": float(sent)},
        "txn-sms-delivered-grouped-by-date": answers["txn-sms-delivered-grouped-by-date"] == delivered,
        "txn-sms-error-distribution": answers["txn-sms-error-distribution"] == errors,
        "sessions-grouped-by-date": answers["sessions-grouped-by-date"] == sessions,
        "events (all types)": sum(answers["events-grouped-by-event-type"].values()) == truth["distinct_lines"],
    }
