"""GetApplicationDateRangeKpi, GetCampaignDateRangeKpi, GetJourneyDateRangeKpi: Pinpoint's answer shape, computed
from the day aggregates with one query per (dimension or sketch) a formula reads, never from events.

Pinpoint's rules: a range is at most 31 days and starts within the last 90 days; without a range, the preceding 31
days. Aggregates are per UTC day, so a range covers every UTC day it touches.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kizuna.clock import Clock
from kizuna.domain.analytics_events import oldest_day
from kizuna.domain.analytics_rules import APP, CAMPAIGN, JOURNEY, campaign_scope, journey_scope
from kizuna.domain.kpis import GROUP_KEYS, ActiveOver, Count, Distinct, Formula, Kpi, Ratio, Scaled, kpi, names
from kizuna.domain.sketch import DistinctSketch, union
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore
from kizuna.ports_analytics import AggregateStore

MAX_RANGE_DAYS = 31


@dataclass(frozen=True)
class DateRange:
    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return self.end.date()

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range((self.last_day - self.first_day).days + 1)]


def date_range(start: Any, end: Any, now: datetime) -> DateRange:
    """Pinpoint's rules, with errors naming the parameter."""
    end_time = _timestamp(end, "EndTime") if end is not None else now
    start_time = _timestamp(start, "StartTime") if start is not None else end_time - timedelta(days=MAX_RANGE_DAYS - 1)
    if start_time > end_time:
        raise BadRequest("StartTime must not be after EndTime")
    if (end_time.date() - start_time.date()).days + 1 > MAX_RANGE_DAYS:
        raise BadRequest(f"The date range (StartTime to EndTime) must be {MAX_RANGE_DAYS} days or fewer")
    if start_time.date() < oldest_day(now):
        raise BadRequest("StartTime must be within the last 90 days; older data is not kept")
    return DateRange(start_time, end_time)


def get_date_range_kpi(
    apps: AppStore,
    store: AggregateStore,
    clock: Clock,
    app_id: str,
    kind: str,
    kpi_name: str,
    start: Any = None,
    end: Any = None,
    resource_id: str | None = None,
) -> dict[str, Any]:
    if apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")
    definition = kpi(kind, kpi_name)
    if definition is None:
        raise BadRequest(
            f"KpiName {kpi_name!r} is not a {kind} metric Kizuna answers; supported: {', '.join(names(kind))}"
        )
    now = clock.now()
    window = date_range(start, end, now)
    scope = {APP: "app", CAMPAIGN: campaign_scope(resource_id or ""), JOURNEY: journey_scope(resource_id or "")}[kind]
    rows = evaluate(definition, _Data(store, app_id, scope, window), window, now.date())
    response: dict[str, Any] = {
        "ApplicationId": app_id,
        "KpiName": kpi_name,
        "StartTime": _iso(window.start),
        "EndTime": _iso(window.end),
        "KpiResult": {"Rows": rows},
    }
    if kind == CAMPAIGN:
        response["CampaignId"] = resource_id
    if kind == JOURNEY:
        response["JourneyId"] = resource_id
    return response


# -- evaluation -------------------------------------------------------------------------------------------------


@dataclass
class _Data:
    """Reads what formulas ask for, once per (dimension) or (sketch, dimension), over the range's days."""

    store: AggregateStore
    app_id: str
    scope: str
    window: DateRange
    _counters: dict[str | None, dict[date, dict[str, float]]] = field(default_factory=dict)
    _sketches: dict[tuple[str, str | None, date], dict[tuple[date, str], DistinctSketch]] = field(default_factory=dict)

    def counters(self, dim: str | None) -> dict[date, dict[str, float]]:
        if dim not in self._counters:
            self._counters[dim] = self.store.counters_between(
                self.app_id, self.scope, dim, self.window.first_day, self.window.last_day
            )
        return self._counters[dim]

    def sketches(self, sketch: str, dim: str | None, first: date) -> dict[tuple[date, str], DistinctSketch]:
        key = (sketch, dim, first)
        wider = next((k for k in self._sketches if k[:2] == (sketch, dim) and k[2] <= first), None)
        if wider is not None:  # a longer range of the same sketches was read already (MAU before DAU)
            return {(d, v): s for (d, v), s in self._sketches[wider].items() if d >= first}
        if key not in self._sketches:
            self._sketches[key] = self.store.sketches_between(
                self.app_id, self.scope, sketch, dim, first, self.window.last_day
            )
        return self._sketches[key]


def evaluate(definition: Kpi, data: _Data, window: DateRange, today: date) -> list[dict[str, Any]]:
    settled_until = today - timedelta(days=definition.settled_after_days)
    rows: list[dict[str, Any]] = []
    if definition.group is None:
        value = _value(definition.formula, data, window.days(), None)
        if value is not None:
            rows.append(_row(definition, None, value))
    elif definition.group == "date":
        for day in window.days():
            if day > settled_until:
                continue
            value = _value(definition.formula, data, [day], None)
            if value is not None:
                rows.append(_row(definition, day.isoformat(), value))
    else:
        for group in sorted(_group_values(definition.formula, data, definition.group)):
            value = _value(definition.formula, data, window.days(), (definition.group, group))
            if value is not None:
                rows.append(_row(definition, group, value))
    return rows


def _value(formula: Formula, data: _Data, days: list[date], group: tuple[str, str] | None) -> float | None:
    if isinstance(formula, Count):
        where = group or formula.filter
        counters = data.counters(where[0] if where else None)
        attribute = f"{formula.measure}|{where[1]}" if where else formula.measure
        found = [counters[d][attribute] for d in days if d in counters and attribute in counters[d]]
        return float(sum(found)) if found else None
    if isinstance(formula, Distinct):
        where = group or formula.filter
        sketches = data.sketches(formula.sketch, where[0] if where else None, data.window.first_day)
        value = where[1] if where else ""
        chosen = [s for (d, v), s in sketches.items() if v == value and d in days]
        return union(chosen).estimate() if chosen else None
    if isinstance(formula, ActiveOver):
        first = data.window.first_day - timedelta(days=formula.days - 1)
        sketches = data.sketches("active", None, first)
        day = days[-1]
        chosen = [s for (d, _), s in sketches.items() if day - timedelta(days=formula.days - 1) <= d <= day]
        return union(chosen).estimate() if chosen else None
    if isinstance(formula, Ratio):
        denominator = _value(formula.denominator, data, days, group)
        if not denominator:
            return None
        return (_value(formula.numerator, data, days, group) or 0.0) / denominator
    if isinstance(formula, Scaled):
        inner = _value(formula.inner, data, days, group)
        return None if inner is None else inner * formula.factor
    raise TypeError(f"unknown formula {formula!r}")


def _group_values(formula: Formula, data: _Data, dim: str) -> set[str]:
    values: set[str] = set()
    for term in _terms(formula):
        if isinstance(term, Count):
            for counters in data.counters(dim).values():
                values |= {a.split("|", 1)[1] for a in counters if a.startswith(f"{term.measure}|")}
        elif isinstance(term, Distinct):
            values |= {v for (_, v) in data.sketches(term.sketch, dim, data.window.first_day)}
    return values


def _terms(formula: Formula) -> list[Formula]:
    if isinstance(formula, Ratio):
        return _terms(formula.numerator) + _terms(formula.denominator)
    if isinstance(formula, Scaled):
        return _terms(formula.inner)
    return [formula]


def _row(definition: Kpi, group: str | None, value: float) -> dict[str, Any]:
    grouped = [] if group is None else [{"Key": GROUP_KEYS[definition.group], "Type": "String", "Value": group}]
    return {"GroupedBys": grouped, "Values": [{"Key": definition.value_key, "Type": "Double", "Value": repr(value)}]}


def _timestamp(value: Any, field_name: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"{field_name} must be an ISO 8601 date and time; got {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def grouped_counts(rows: list[dict[str, Any]]) -> dict[str, float]:
    """{group value or "": value} of a KPI answer (used by the CLI export and the dashboard)."""
    result: dict[str, float] = defaultdict(float)
    for row in rows:
        key = row["GroupedBys"][0]["Value"] if row.get("GroupedBys") else ""
        result[key] = float(row["Values"][0]["Value"])
    return dict(result)
