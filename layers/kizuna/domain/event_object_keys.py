"""Where the event stream's objects are in the events bucket, and what a key says about its object.

The deployed stack's Firehose partitions by app and arrival day (catalog prefix `events/app={app}/year={year}/
month={month}/day={day}/`). A Firehose without dynamic partitioning — moto's, so local mode's — writes every app
into `<static prefix>YYYY/MM/DD/HH/` instead (kizuna.local.aws_resources; the export reads both the same way).
Both sort by day within their prefix (zero-padded year, month, day), so one arrival-day range is one contiguous
listing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from kizuna.catalog import STREAMS

_PREFIX = STREAMS["events"].prefix
_HEAD = _PREFIX.split("{", 1)[0]
STATIC_PREFIX = _HEAD[: _HEAD.rfind("/") + 1]  # "events/"
_PARTITIONED = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", lambda m: rf"(?P<{m.group(1)}>[^/]+)", re.escape(_PREFIX)))
_UNPARTITIONED = re.compile("^" + re.escape(STATIC_PREFIX) + r"(?P<year>\d{4})/(?P<month>\d{2})/(?P<day>\d{2})/")
ALL_APPS = "*"  # the index scope of an unpartitioned object (it may hold any app's events)


@dataclass(frozen=True)
class ObjectPlace:
    app_id: str | None  # None: an unpartitioned object
    day: date

    @property
    def scope(self) -> str:
        return self.app_id or ALL_APPS


def place_of(key: str) -> ObjectPlace | None:
    """The app and arrival day a key names, or None for keys outside both layouts."""
    for layout in (_PARTITIONED, _UNPARTITIONED):
        match = layout.match(key)
        if match is None:
            continue
        try:
            day = date(int(match["year"]), int(match["month"]), int(match["day"]))
        except ValueError:
            return None
        return ObjectPlace(match.groupdict().get("app"), day)
    return None


def app_prefix(app_id: str) -> str:
    """The part of the app's keys before the date: "events/app=<app>/year=" (no app id is a prefix of another's)."""
    return _PREFIX[: _PREFIX.index("{year}")].format(app=app_id)


def day_prefix(app_id: str, day: date) -> str:
    return _PREFIX.format(app=app_id, year=f"{day.year:04d}", month=f"{day.month:02d}", day=f"{day.day:02d}")


def unpartitioned_day_prefix(day: date) -> str:
    return f"{STATIC_PREFIX}{day:%Y/%m/%d}/"
