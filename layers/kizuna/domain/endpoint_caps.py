"""Per-endpoint frequency caps: Pinpoint's campaign Limits (Daily, Total), journey Limits (DailyCap, TotalCap), the
app's JourneyLimits and the app's Limits.Daily across every campaign and journey, counted when an endpoint is
targeted (as Pinpoint did), not when a message is delivered.

One small state per endpoint holds its counters and the ids of the messages last counted. Counter names carry what
they count: "app#d#<day>" (the app's daily cap, shared by campaigns and journeys), "c#<campaign>#d#<day>" and
"c#<campaign>#t" (a campaign's daily and total caps), "j#<journey>#d#<day>" and "j#<journey>#t" (a journey's), and
"journeys#d#<day>" (the app's JourneyLimits.DailyCap across every journey). Days are UTC dates. A message id
already in the state is admitted again without counting, so a resumed or retried run keeps the caps exact; daily
counters older than yesterday are dropped when the state is written, which keeps it small.

Rolling windows (a journey's TimeframeCap {Cap, Days}: at most Cap messages in any Days × 24 hours) are not
counters but the send times within the window: "j#<journey>#w#<days>" → [epoch seconds]. A message is admitted
when fewer than Cap of them are newer than Days ago; times older than their window (the name carries its length)
are dropped when the state is written, so a window holds at most Cap (≤ 100) times of at most 30 days.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

RECENT_IDS = 64
WINDOW = "#w#"  # a rolling window's name: "<what>#w#<days>"
DAY_S = 86400


def counters_for(
    campaign_id: str, campaign_limits: Mapping[str, Any], app_limits: Mapping[str, Any], now: datetime
) -> dict[str, int]:
    """Counter name → limit for one targeting of an endpoint by a campaign (empty: nothing to count).

    The campaign's own Daily and Total apply to it; where it sets none, the app's Limits give the default, and the
    app's Daily also caps every campaign together."""
    day = now.date().isoformat()
    counters: dict[str, int] = {}
    daily = campaign_limits.get("Daily") or app_limits.get("Daily")
    total = campaign_limits.get("Total") or app_limits.get("Total")
    if daily:
        counters[f"c#{campaign_id}#d#{day}"] = int(daily)
    if total:
        counters[f"c#{campaign_id}#t"] = int(total)
    if app_limits.get("Daily"):
        counters[f"app#d#{day}"] = int(app_limits["Daily"])
    return counters


def journey_counters_for(
    journey_id: str, journey_limits: Mapping[str, Any], app_settings: Mapping[str, Any], now: datetime
) -> dict[str, int]:
    """Counter name → limit for one message of a journey to an endpoint (empty: nothing to count).

    The journey's DailyCap; its TotalCap, else the app's JourneyLimits.TotalCap (Pinpoint's default for each
    journey); its TimeframeCap, else the app's JourneyLimits.TimeframeCap (likewise the default), as a rolling
    window; the app's JourneyLimits.DailyCap across every journey; and the app's Limits.Daily across every campaign
    and journey (one counter with the campaigns'). 0 means no limit, as in Pinpoint (Cap or Days)."""
    day = now.date().isoformat()
    app_journeys = app_settings.get("JourneyLimits") or {}
    counters: dict[str, int] = {}
    if journey_limits.get("DailyCap"):
        counters[f"j#{journey_id}#d#{day}"] = int(journey_limits["DailyCap"])
    total = journey_limits.get("TotalCap") or app_journeys.get("TotalCap")
    if total:
        counters[f"j#{journey_id}#t"] = int(total)
    timeframe = journey_limits.get("TimeframeCap") or app_journeys.get("TimeframeCap") or {}
    if timeframe.get("Cap") and timeframe.get("Days"):
        counters[f"j#{journey_id}{WINDOW}{int(timeframe['Days'])}"] = int(timeframe["Cap"])
    if app_journeys.get("DailyCap"):
        counters[f"journeys#d#{day}"] = int(app_journeys["DailyCap"])
    daily = (app_settings.get("Limits") or {}).get("Daily")
    if daily:
        counters[f"app#d#{day}"] = int(daily)
    return counters


def admit(
    state: Mapping[str, Any], message_id: str, limits: Mapping[str, int], now: datetime
) -> tuple[bool, dict[str, Any] | None]:
    """(admitted, new state to write or None when nothing changes)."""
    recent = list(state.get("ids") or [])
    if message_id in recent:
        return True, None
    counts: dict[str, int] = dict(state.get("counts") or {})
    at = int(now.timestamp())
    windows = {name: _within(name, times, at) for name, times in (state.get("windows") or {}).items()}
    if any(
        len(windows.get(name, [])) >= limit if WINDOW in name else counts.get(name, 0) >= limit
        for name, limit in limits.items()
    ):
        return False, None
    yesterday = (now.date() - timedelta(days=1)).isoformat()
    counts = {name: n for name, n in counts.items() if "#d#" not in name or _day(name) >= yesterday}
    for name in limits:
        if WINDOW in name:
            windows[name] = [*windows.get(name, []), at]
        else:
            counts[name] = counts.get(name, 0) + 1
    new: dict[str, Any] = {"counts": counts, "ids": (recent + [message_id])[-RECENT_IDS:]}
    windows = {name: times for name, times in windows.items() if times}
    if windows:
        new["windows"] = windows
    return True, new


def _within(name: str, times: list[int], at: int) -> list[int]:
    """The send times still inside the rolling window `name` at `at` (epoch seconds)."""
    days = int(name.rsplit(WINDOW, 1)[1])
    return [t for t in times if t > at - days * DAY_S]


def _day(name: str) -> str:
    return name.rsplit("#d#", 1)[1]
