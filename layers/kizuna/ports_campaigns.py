"""Ports of campaigns (kizuna.services.campaigns and campaign_runs). A campaign's runs are jobs in the JobStore
(job type "RUN#<campaign id>", one piece per endpoint shard), so they are counted exactly once like imports."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol


class CampaignStore(Protocol):
    """Campaigns (Pinpoint CampaignResponse documents with Kizuna's write version), every version kept, and the
    app's index of EVENT campaigns that PutEvents consults. Everything lives in the app's partition."""

    def get_campaign(self, app_id: str, campaign_id: str, version: int | None = None) -> dict[str, Any] | None: ...
    def put_campaign(self, app_id: str, campaign: dict[str, Any], expected_version: int | None) -> bool:
        """Store `campaign` as the latest and as its version, if the stored version is `expected_version` (None:
        only if absent). False: another write won."""
        ...

    def list_campaigns(self, app_id: str, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]: ...
    def list_versions(self, app_id: str, campaign_id: str) -> list[dict[str, Any]]: ...
    def delete_campaign(self, app_id: str, campaign_id: str) -> None: ...

    def event_campaigns(self, app_id: str) -> list[dict[str, Any]]:
        """The app's active EVENT campaigns: {"Id", "Version", "EventFilter", "EndTime"} each, in one query."""
        ...

    def index_event_campaign(self, app_id: str, campaign_id: str, entry: dict[str, Any] | None) -> None:
        """Add or replace the campaign's entry (None: remove it)."""
        ...


class RunScheduler(Protocol):
    """One-time schedules of campaign runs (EventBridge Scheduler `at()` in AWS, the local scheduler locally).
    A campaign has at most one pending schedule; scheduling again replaces it."""

    def schedule_run(self, app_id: str, campaign_id: str, at: datetime, message: dict[str, Any]) -> None:
        """At `at`, put `message` (a JobEnvelope body) on the jobs queue."""
        ...

    def cancel_run(self, app_id: str, campaign_id: str) -> None: ...


class EndpointCaps(Protocol):
    """Per-endpoint message counters for campaign and app limits (Daily, Total), counted on targeting."""

    def admit(self, app_id: str, endpoint_id: str, message_id: str, limits: Mapping[str, int], now: datetime) -> bool:
        """Count `message_id` against every counter in `limits` (counter name → limit) unless one is full.
        A message id counted before is admitted again without counting (a resumed run), so limits hold across
        crashes and retries."""
        ...
