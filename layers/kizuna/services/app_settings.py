"""Application settings (Pinpoint's ApplicationSettingsResource): the defaults campaigns and journeys start from.

Ranges come from the field documentation in botocore's Pinpoint model (CampaignLimits, QuietTime,
ApplicationSettingsJourneyLimits, JourneyTimeframeCap). An update replaces each section it names (Limits,
QuietTime, CampaignHook, JourneyLimits) and keeps the sections it leaves out.
"""

from __future__ import annotations

import re
from typing import Any

from kizuna.clock import Clock, iso
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore

SECTIONS = ("CampaignHook", "Limits", "QuietTime", "JourneyLimits")
# Write-only switches: accepted and kept, not part of ApplicationSettingsResource.
FLAGS = ("CloudWatchMetricsEnabled", "EventTaggingEnabled")
_HH_MM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")

# (minimum, maximum or None) for each integer; None = no documented bound on that side beyond >= 0.
LIMIT_RANGES: dict[str, tuple[int, int | None]] = {
    "Daily": (0, 100),
    "MaximumDuration": (60, None),
    "MessagesPerSecond": (1, 20_000),
    "Total": (0, 100),
    "Session": (0, None),
}
JOURNEY_RANGES: dict[str, tuple[int, int | None]] = {"DailyCap": (0, 100), "TotalCap": (0, 100)}
TIMEFRAME_RANGES: dict[str, tuple[int, int | None]] = {"Cap": (0, 100), "Days": (0, 30)}


def get_settings(apps: AppStore, app_id: str) -> dict[str, Any]:
    app = apps.get_app(app_id)
    if app is None:
        raise NotFound(f"Application {app_id} not found")
    stored = apps.get_settings(app_id)
    if stored is None:  # never set: what Pinpoint shows for a new project
        return {
            "ApplicationId": app_id,
            "CampaignHook": {},
            "LastModifiedDate": app.creation_date,
            "Limits": {},
            "QuietTime": {},
        }
    return {k: v for k, v in stored.items() if k not in FLAGS}


def update_settings(apps: AppStore, clock: Clock, app_id: str, request: dict[str, Any]) -> dict[str, Any]:
    current = get_settings(apps, app_id)
    field = "WriteApplicationSettingsRequest"
    if "Limits" in request:
        _check_ranges(request["Limits"], LIMIT_RANGES, f"{field}.Limits")
    if "QuietTime" in request:
        _check_quiet_time(request["QuietTime"], f"{field}.QuietTime")
    if "JourneyLimits" in request:
        journey = request["JourneyLimits"]
        _check_ranges(journey, JOURNEY_RANGES, f"{field}.JourneyLimits")
        _check_ranges(journey.get("TimeframeCap") or {}, TIMEFRAME_RANGES, f"{field}.JourneyLimits.TimeframeCap")
    if "CampaignHook" in request:
        _check_hook(request["CampaignHook"], f"{field}.CampaignHook")
    stored = apps.get_settings(app_id) or {}
    settings = {**current, **{k: v for k, v in stored.items() if k in FLAGS}}
    settings.update({k: request[k] for k in (*SECTIONS, *FLAGS) if k in request})
    settings["ApplicationId"] = app_id
    settings["LastModifiedDate"] = iso(clock.now())
    apps.put_settings(app_id, settings)
    return {k: v for k, v in settings.items() if k not in FLAGS}


def _check_ranges(values: dict[str, Any], ranges: dict[str, tuple[int, int | None]], field: str) -> None:
    for name, (low, high) in ranges.items():
        value = values.get(name)
        if value is None:
            continue
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise BadRequest(f"{field}.{name} must be {bound}; got {value}")


def _check_quiet_time(quiet: dict[str, Any], field: str) -> None:
    start, end = quiet.get("Start"), quiet.get("End")
    for name, value in (("Start", start), ("End", end)):
        if value is not None and not _HH_MM.match(value):
            raise BadRequest(f"{field}.{name} must be 24-hour HH:MM (for example 02:30 or 22:00); got {value!r}")
    if (start is None) != (end is None):
        raise BadRequest(f"{field} needs both Start and End (or neither, to turn quiet time off)")


def _check_hook(hook: dict[str, Any], field: str) -> None:
    url = hook.get("WebUrl")
    if url and not url.startswith("https://"):
        raise BadRequest(f"{field}.WebUrl must be an https:// URL")
