"""`kizuna analytics export`: KPIs (through the KPI API, in windows of at most 31 days) or raw events (from the event
stream's S3 objects) as CSV. Pure functions; the command line (cli_analytics.py) does the I/O."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kizuna.catalog import STREAMS
from kizuna.domain.analytics_events import StreamEvent, oldest_day
from kizuna.errors import BadRequest
from kizuna.services.kpis import MAX_RANGE_DAYS

KPI_COLUMNS = ("kpi", "window_start", "window_end", "group_key", "group_value", "value_key", "value")
EVENT_COLUMNS = (
    "event_id", "event_type", "event_time", "arrival_time", "endpoint_id", "session_id", "attributes", "metrics",
)  # fmt: skip
# Events land in S3 by arrival; an SDK may deliver a little late, so the days after the range are read too.
ARRIVAL_SLACK_DAYS = 1


def windows(first: date, last: date, now: datetime) -> list[tuple[date, date]]:
    """Consecutive windows of at most 31 days covering first..last, inside the 90-day window."""
    if last < first:
        raise BadRequest("--to must not be before --from")
    if first < oldest_day(now):
        raise BadRequest(f"--from must be within the last 90 days (on or after {oldest_day(now).isoformat()})")
    result = []
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=MAX_RANGE_DAYS - 1))
        result.append((start, end))
        start = end + timedelta(days=1)
    return result


def kpi_rows(kpi: str, window: tuple[date, date], response_rows: list[dict[str, Any]]) -> Iterator[tuple[str, ...]]:
    for row in response_rows:
        group = row.get("GroupedBys") or [{"Key": "", "Value": ""}]
        for value in row["Values"]:
            yield (kpi, window[0].isoformat(), window[1].isoformat(), group[0]["Key"], group[0]["Value"],
                   value["Key"], value["Value"])  # fmt: skip


def event_prefixes(app_id: str, day: date) -> list[str]:
    """Where one arrival day's objects are: the deployed stack's partitioned layout, then local mode's (moto's
    Firehose ignores dynamic partitioning and writes <static prefix>YYYY/MM/DD/HH/)."""
    spec = STREAMS["events"]
    partitioned = spec.prefix.format(app=app_id, year=f"{day:%Y}", month=f"{day:%m}", day=f"{day:%d}")
    static = spec.prefix.split("{", 1)[0]
    static = static[: static.rfind("/") + 1]
    return [partitioned, f"{static}{day:%Y/%m/%d}/"]


def arrival_days(first: date, last: date, today: date) -> list[date]:
    end = min(today, last + timedelta(days=ARRIVAL_SLACK_DAYS))
    return [first + timedelta(days=i) for i in range((end - first).days + 1)]


def event_rows(
    lines: Iterable[bytes], app_id: str, first: date, last: date, seen: set[tuple[str, str]]
) -> Iterator[tuple[str, ...]]:  # noqa: E501
    """The app's events whose event time falls in first..last, each once (`seen` carries ids across objects)."""
    for line in lines:
        try:
            event = StreamEvent.model_validate(json.loads(line))
        except ValueError:
            continue
        if event.application.app_id != app_id:
            continue
        moment = datetime.fromtimestamp(event.event_timestamp / 1000, UTC)
        if not first <= moment.date() <= last:
            continue
        ident = event.event_id or ""
        key = (event.client.client_id, ident)
        if ident and key in seen:
            continue
        seen.add(key)
        yield (
            ident,
            event.event_type,
            moment.isoformat().replace("+00:00", "Z"),
            datetime.fromtimestamp(event.arrival_timestamp / 1000, UTC).isoformat().replace("+00:00", "Z"),
            event.client.client_id,
            event.session.session_id or "",
            json.dumps(event.attributes, ensure_ascii=False, sort_keys=True),
            json.dumps(event.metrics, sort_keys=True),
        )


def csv_line(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
