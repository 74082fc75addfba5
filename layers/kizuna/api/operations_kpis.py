"""The date-range KPI operations of applications, campaigns and journeys (Pinpoint's Analytics APIs)."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.domain.analytics_rules import APP, CAMPAIGN, JOURNEY
from kizuna.errors import BadRequest
from kizuna.services.kpis import get_date_range_kpi


def _kpi(call: Call, kind: str, resource_id: str | None = None) -> dict:
    d, p = call.deps, call.params
    if d.analytics is None:
        raise BadRequest("Analytics are not configured")
    return get_date_range_kpi(
        d.apps, d.analytics, d.clock, call.app_id, kind, p["KpiName"], p.get("StartTime"), p.get("EndTime"), resource_id
    )


@operation("GetApplicationDateRangeKpi")
def get_application_date_range_kpi(call: Call) -> dict:
    return _kpi(call, APP)


@operation("GetCampaignDateRangeKpi")
def get_campaign_date_range_kpi(call: Call) -> dict:
    return _kpi(call, CAMPAIGN, call.params["CampaignId"])


@operation("GetJourneyDateRangeKpi")
def get_journey_date_range_kpi(call: Call) -> dict:
    return _kpi(call, JOURNEY, call.params["JourneyId"])
