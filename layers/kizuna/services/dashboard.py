"""What the dashboard shows, read through the same KPI service as the API (so the page and GetApplicationDateRangeKpi
can never disagree): the delivery funnel and daily series for an app, a campaign or a journey; an app's journeys; and
a journey's execution metrics per activity, as GetJourneyExecution(Activity)Metrics answer them (one tally read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kizuna.clock import Clock
from kizuna.domain.analytics_rules import APP, CAMPAIGN, JOURNEY
from kizuna.ports import AppStore, JourneyStore
from kizuna.ports_analytics import AggregateStore
from kizuna.ports_journeys import ParticipantStore
from kizuna.services.journey_metrics import ActivityRow, journey_activity_table
from kizuna.services.kpis import MAX_RANGE_DAYS, get_date_range_kpi, grouped_counts

DEFAULT_DAYS = 30
JOURNEYS_LISTED = 100  # the app page lists its journeys' first page


@dataclass
class DashboardView:
    app_id: str
    app_name: str
    kind: str
    resource_id: str | None
    start: str
    end: str
    dates: list[str]
    totals: dict[str, float] = field(default_factory=dict)
    daily: dict[str, list[float | None]] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)
    # A campaign's A/B results: treatment id → (sent, delivered).
    treatments: dict[str, tuple[float, float]] = field(default_factory=dict)
    # The app's journeys: (id, name, state).
    journeys: list[tuple[str, str, str]] = field(default_factory=list)
    # A journey's: its name and state, its run's execution metrics and each activity's.
    journey: dict[str, str] = field(default_factory=dict)
    run_metrics: dict[str, str] = field(default_factory=dict)
    activities: list[ActivityRow] = field(default_factory=list)
    queries: int = 0


def dashboard_view(
    apps: AppStore,
    store: AggregateStore,
    clock: Clock,
    app_id: str,
    kind: str = APP,
    resource_id: str | None = None,
    days: int = DEFAULT_DAYS,
    journeys: JourneyStore | None = None,
    participants: ParticipantStore | None = None,
) -> DashboardView:
    days = max(1, min(days, MAX_RANGE_DAYS))
    now = clock.now()
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    dates = [(start + timedelta(days=i)).date().isoformat() for i in range(days)]
    app = apps.get_app(app_id)
    view = DashboardView(
        app_id, app.name if app else app_id, kind, resource_id, start.isoformat(), now.isoformat(), dates
    )

    def kpi(name: str) -> list[dict[str, Any]]:
        view.queries += 1
        return get_date_range_kpi(apps, store, clock, app_id, kind, name, start, now, resource_id)["KpiResult"]["Rows"]

    def daily(name: str) -> list[float | None]:
        values = grouped_counts(kpi(name))
        return [values.get(d) for d in dates]

    for word in ("sent", "delivered", "failed"):
        view.daily[word] = daily(f"messages-{word}-grouped-by-date")
        view.totals[word] = sum(v or 0.0 for v in view.daily[word])
    view.daily["delivery_rate"] = daily("messages-delivery-rate-grouped-by-date")
    view.errors = grouped_counts(kpi("message-error-distribution"))
    if kind == APP and journeys is not None:
        items, _ = journeys.list_journeys(app_id, JOURNEYS_LISTED, None)
        view.journeys = [(j["Id"], j.get("Name", ""), j.get("State", "")) for j in items]
    if kind == JOURNEY and journeys is not None and participants is not None and resource_id:
        journey = journeys.get_journey(app_id, resource_id)
        if journey is not None:
            view.journey = {"Name": journey.get("Name", ""), "State": journey.get("State", "")}
            view.run_metrics, view.activities = journey_activity_table(journey, participants)
    if kind == APP:
        view.daily["clicks"] = daily("link-clicks-grouped-by-date")
        view.daily["active"] = daily("daily-active-endpoints-grouped-by-date")
        view.daily["sessions"] = daily("sessions-grouped-by-date")
    elif kind == CAMPAIGN:
        view.daily["clicks"] = daily("clicks-grouped-by-date")
        sent = grouped_counts(kpi("attempted-deliveries-grouped-by-treatment"))
        delivered = grouped_counts(kpi("successful-deliveries-grouped-by-treatment"))
        view.treatments = {t: (sent.get(t, 0.0), delivered.get(t, 0.0)) for t in sorted(set(sent) | set(delivered))}
    elif kind == JOURNEY:
        view.daily["clicks"] = [None] * len(dates)
        view.totals["clicks"] = float(sum(grouped_counts(kpi("journey-sms-clicked")).values()))
    if "clicks" not in view.totals:
        view.totals["clicks"] = sum(v or 0.0 for v in view.daily["clicks"])
    return view
