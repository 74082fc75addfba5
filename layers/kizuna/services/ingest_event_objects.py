"""An S3 object of event-stream lines (what Firehose wrote) → the event ledger, the aggregates, and the app's own
event stream destination (PutEventStream).

The ledger decides what is new: each event is claimed for this object unless another object claimed it first (a
replayed PutEvents, a Firehose duplicate), and only the events this object holds are counted
(services/count_events.py). Ingesting the object again, after a crash or a redelivery, claims the same events and
finds their chunks counted. Lines that are not Pinpoint event-stream JSON are counted and skipped (the object stays
in S3 as written), and events older than the 90-day window are neither counted nor forwarded.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from kizuna.clock import Clock
from kizuna.domain.analytics_events import AnalyticsEvent, StreamEvent, from_stream, within_window
from kizuna.domain.stream_erasure import fingerprints_of
from kizuna.ports_analytics import (
    AggregateStore,
    DestinationRefused,
    EventDestinations,
    EventLedger,
    EventStreamStore,
    EventTriggers,
)
from kizuna.services.count_events import CountReport, count_events

logger = Logger(child=True)


@dataclass
class IngestReport:
    lines: int = 0
    events: int = 0
    duplicates: int = 0  # claimed by another object first: replays and Firehose duplicates
    malformed: int = 0
    outside_window: int = 0
    forwarded: int = 0
    refused: int = 0  # lines an app's destination refused (its role or stream is misconfigured)
    counting: CountReport | None = None
    # Fingerprints of every identifier the object's lines name, by app (kizuna.services.erase_at_ingest indexes them).
    fingerprints: dict[str, set[str]] = field(default_factory=dict)
    scrubbed_late: int = 0  # events of erased endpoints that arrived after the erasure, scrubbed at ingest


def parse_line(line: bytes) -> tuple[StreamEvent, dict[str, Any]] | None:
    try:
        raw = json.loads(line)
        return StreamEvent.model_validate(raw), raw
    except (ValueError, ValidationError, TypeError):
        return None


def ingest_object(
    source: str,
    lines: Iterable[bytes],
    ledger: EventLedger,
    aggregates: AggregateStore,
    streams: EventStreamStore,
    destinations: EventDestinations,
    clock: Clock,
    triggers: Iterable[EventTriggers] = (),
) -> IngestReport:
    """`source` names the object (s3://bucket/key): the ledger's claims and the chunk markers are keyed by it."""
    now = clock.now()
    report = IngestReport()
    events: list[AnalyticsEvent] = []
    by_app: dict[str, list[bytes]] = defaultdict(list)
    for line in lines:
        if not line.strip():
            continue
        report.lines += 1
        parsed = parse_line(line)
        if parsed is None:
            report.malformed += 1
            continue
        report.fingerprints.setdefault(parsed[0].application.app_id, set()).update(fingerprints_of(parsed[1]))
        event = from_stream(*parsed)
        if not within_window(event.timestamp_ms, now):
            report.outside_window += 1
            continue
        events.append(event)
        by_app[event.app_id].append(line.rstrip(b"\n") + b"\n")
    held = ledger.claim(events, source)
    report.events = len(held)
    report.duplicates = len(events) - len(held)
    report.counting = count_events(source, held, aggregates, clock, triggers)
    for app_id, app_lines in by_app.items():
        stream = streams.get_event_stream(app_id)
        if stream is None:
            continue
        try:
            destinations.forward(stream, app_lines)
            report.forwarded += len(app_lines)
        except DestinationRefused as exc:
            # The app owner's role or stream refuses: retrying cannot help and must not hold back the app's KPIs.
            report.refused += len(app_lines)
            logger.error("event stream destination refused", app_id=app_id, reason=str(exc))
    if report.malformed:
        logger.warning("event lines that are not Pinpoint event-stream JSON were skipped", count=report.malformed)
    return report
