"""The export's pure parts: 31-day windows inside the 90-day window, and events filtered and deduplicated."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from kizuna.errors import BadRequest
from kizuna.services import analytics_export as export
from kizuna.services.event_stream import pinpoint_event

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def test_a_long_range_is_cut_into_windows_of_at_most_31_days():
    windows = export.windows(date(2026, 9, 10), date(2026, 11, 30), NOW)
    assert windows[0] == (date(2026, 9, 10), date(2026, 10, 10))
    assert windows[-1][1] == date(2026, 11, 30)
    assert all((b - a).days < 31 for a, b in windows)
    assert all(nxt[0] == prev[1] + timedelta(days=1) for prev, nxt in zip(windows, windows[1:], strict=False))
    assert [w for w in windows if w[0] <= date(2026, 10, 11) <= w[1]] == [(date(2026, 10, 11), date(2026, 11, 10))]


@pytest.mark.parametrize(
    ("first", "last"), [(date(2026, 8, 1), date(2026, 9, 1)), (date(2026, 11, 2), date(2026, 11, 1))]
)
def test_ranges_outside_the_window_or_backwards_are_refused(first, last):
    with pytest.raises(BadRequest):
        export.windows(first, last, NOW)


def test_event_rows_keep_the_apps_events_of_the_range_once():
    def line(app, ident, day):
        at = datetime(2026, 11, day, 9, tzinfo=UTC)
        return json.dumps(pinpoint_event("purchase", app, at, at, {"品": "茶"}, client_id="ep", ident=ident)).encode()

    lines = [
        line("a", "1", 20),
        line("a", "1", 20),
        line("b", "2", 20),
        line("a", "3", 10),
        b"garbage",
        line("a", "4", 21),
    ]
    rows = list(export.event_rows(lines, "a", date(2026, 11, 15), date(2026, 11, 21), set()))
    assert [r[0] for r in rows] == ["1", "4"]
    assert rows[0][6] == '{"品": "茶"}' and rows[0][2] == "2026-11-20T09:00:00Z"
    assert export.event_prefixes("a", date(2026, 11, 5)) == [
        "events/app=a/year=2026/month=11/day=05/",
        "events/2026/11/05/",
    ]
