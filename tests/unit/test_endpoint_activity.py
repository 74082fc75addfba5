"""Sessions (a gap of at most 5 s resumes a session) and cohort retention, in any arrival order."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime

from kizuna.domain.analytics_events import AnalyticsEvent
from kizuna.domain.endpoint_activity import EndpointActivity

T0 = int(datetime(2026, 11, 1, 9, tzinfo=UTC).timestamp() * 1000)


def _event(event_type: str, at_ms: int) -> AnalyticsEvent:
    return AnalyticsEvent("app", f"{event_type}-{at_ms}", event_type, at_ms, "ep")


def _totals(events: list[AnalyticsEvent], state: EndpointActivity | None = None) -> Counter:
    state = state or EndpointActivity()
    totals: Counter = Counter()
    for event in events:
        for measure, day, amount in state.apply(event):
            totals[(measure, day)] += amount
    return +totals


def test_a_start_within_five_seconds_of_a_stop_resumes_the_session():
    events = [
        _event("_session.start", T0),
        _event("_session.stop", T0 + 60_000),
        _event("_session.start", T0 + 65_000),  # 5 s later: the same session
        _event("_session.stop", T0 + 120_000),
        _event("_session.start", T0 + 125_001),  # 5.001 s later: a new one
    ]
    assert _totals(events)[("sessions", date(2026, 11, 1))] == 2


def test_session_count_does_not_depend_on_arrival_order():
    events = [
        _event("_session.start", T0),
        _event("_session.stop", T0 + 10_000),
        _event("_session.start", T0 + 12_000),
        _event("_session.stop", T0 + 30_000),
        _event("_session.start", T0 + 90_000),
    ]
    for order in itertools.permutations(events):
        assert _totals(list(order))[("sessions", date(2026, 11, 1))] == 2, order


def test_cohort_and_retention_follow_the_first_active_day_even_when_it_arrives_late():
    day = 86_400_000
    later = [_event("purchase", T0 + 7 * day), _event("purchase", T0 + 14 * day)]
    first = _event("purchase", T0)
    totals = _totals([*later, first])
    cohort = date(2026, 11, 1)
    assert totals[("endpoints.new", cohort)] == 1
    assert totals[("endpoints.retained.7", cohort)] == 1
    assert totals[("endpoints.retained.14", cohort)] == 1
    assert totals[("endpoints.retained.30", cohort)] == 0
    # the provisional cohort (day 7) was taken back when the earlier day arrived
    assert all(key[1] == cohort for key in totals)


def test_state_survives_storage_and_keeps_counting_from_where_it_was():
    state = EndpointActivity()
    state.apply(_event("_session.start", T0))
    state.apply(_event("_session.stop", T0 + 1_000))
    stored = EndpointActivity.from_dict(state.to_dict())
    deltas = stored.apply(_event("_session.start", T0 + 3_000))
    assert deltas == []  # resumes: stop + 2 s
    assert stored.apply(_event("purchase", T0 + 30 * 86_400_000))[-1][0] == "endpoints.retained.30"


def test_a_repeated_active_day_changes_nothing():
    state = EndpointActivity()
    state.apply(_event("purchase", T0))
    assert state.apply(_event("purchase", T0 + 3_600_000)) == []
    assert state.active_days == [T0 // 86_400_000]
