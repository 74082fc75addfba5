"""A journey's Limits.TimeframeCap {Cap, Days}: at most Cap messages per endpoint in any rolling Days-day window —
the window's rule and its bounded state, a journey whose third message in a week is capped while the participant
moves on and a message a week later goes, the app's JourneyLimits.TimeframeCap as the default, a replayed wake-up
counting once, and the review refusing values outside Pinpoint's ranges with a 400 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kizuna.adapters.memory_campaigns import InMemoryEndpointCaps
from kizuna.domain.endpoint_caps import admit, journey_counters_for
from kizuna.errors import BadRequest
from kizuna.services import journey_runs
from kizuna.services.app_settings import update_settings
from tests.unit.journey_harness import Setup, sms
from tests.unit.test_journey_review_sending import findings

DAY0 = datetime(2026, 12, 1, tzinfo=UTC)


def wait(duration: str, next_activity: str) -> dict:
    return {"Wait": {"WaitTime": {"WaitFor": duration}, "NextActivity": next_activity}}


def send(state: dict, message_id: str, at: datetime, cap: int = 2, days: int = 7) -> tuple[bool, dict]:
    limits = journey_counters_for("j1", {"TimeframeCap": {"Cap": cap, "Days": days}}, {}, at)
    admitted, new = admit(state, message_id, limits, at)
    return admitted, new if new is not None else state


def test_the_window_rolls_over_any_days_long_stretch_not_calendar_weeks():
    state: dict = {}
    for message_id, at in (("m1", DAY0 + timedelta(hours=23)), ("m2", DAY0 + timedelta(days=1, hours=1))):
        admitted, state = send(state, message_id, at)
        assert admitted
    # Seven days after m1 less an hour: m1 and m2 are both inside the last 7 × 24 hours.
    assert send(state, "m3", DAY0 + timedelta(days=7, hours=22))[0] is False
    # Seven days after m1: m1 has left the window, m2 has not.
    admitted, state = send(state, "m3", DAY0 + timedelta(days=7, hours=23))
    assert admitted and send(state, "m4", DAY0 + timedelta(days=8))[0] is False


def test_a_message_id_counted_once_is_admitted_again_without_counting():
    admitted, state = send({}, "m1", DAY0)
    again, unchanged = admit(state, "m1", journey_counters_for("j1", {"TimeframeCap": {"Cap": 1, "Days": 7}}, {},
                                                                DAY0), DAY0)  # fmt: skip
    assert admitted and again and unchanged is None


def test_the_state_keeps_only_the_send_times_inside_each_window():
    state: dict = {}
    sent = 0
    for hour in range(0, 100 * 24, 5):  # a message tried every five hours for 100 days
        admitted, state = send(state, f"m{hour}", DAY0 + timedelta(hours=hour), cap=3, days=2)
        sent += admitted
    [(name, times)] = state["windows"].items()
    assert name == "j#j1#w#2" and len(times) <= 3
    assert min(times) > (DAY0 + timedelta(hours=hour) - timedelta(days=2)).timestamp()
    assert sent == 3 * 48  # three, then none until the first leaves the 48 hours: three every 50 hours


@pytest.mark.parametrize(("timeframe", "limited"), [({"Cap": 0, "Days": 7}, False), ({"Cap": 2, "Days": 0}, False),
                                                   ({"Cap": 2, "Days": 7}, True)])  # fmt: skip
def test_a_cap_or_days_of_zero_turns_the_limit_off(timeframe: dict, limited: bool):
    counters = journey_counters_for("j1", {"TimeframeCap": timeframe}, {}, DAY0)
    assert bool(counters) is limited


def journey_of_four() -> dict:
    """Messages on days 0, 2, 4 and 8."""
    return {
        "m1": sms("welcome", "w1"),
        "w1": wait("P2D", "m2"),
        "m2": sms("thanks", "w2"),
        "w2": wait("P2D", "m3"),
        "m3": sms("again", "w3"),
        "w3": wait("P4D", "m4"),
        "m4": sms("welcome"),
    }


@pytest.mark.parametrize("where", ["journey", "app"])
def test_the_third_message_in_a_week_is_capped_the_participant_moves_on_and_a_later_one_goes(where: str):
    s = Setup(endpoints=2)
    s.deps.caps = InMemoryEndpointCaps()
    timeframe = {"Cap": 2, "Days": 7}
    if where == "app":  # Pinpoint's default for each journey that sets none
        update_settings(s.data, s.clock, s.app_id, {"JourneyLimits": {"TimeframeCap": timeframe}})
    extra = {"Limits": {"TimeframeCap": timeframe}} if where == "journey" else {}
    journey = s.publish(journey_of_four(), "m1", **extra)
    s.loops_until_done(journey["Id"])

    assert {e: bodies for e, bodies in s.follow_ups(0).items()} == {e: ["ようこそ", "ありがとう", "ようこそ"]
                                                                     for e in ("e0", "e1")}  # fmt: skip
    tally = s.participants.tally(s.app_id, journey["Id"], s.run_id()).counts
    assert tally["m3|CAPPED"] == 2 and "m3|SUCCESS" not in tally
    assert tally["m4|SUCCESS"] == 2 and tally["ENDPOINT_LEFT"] == 2


def test_a_replayed_wake_up_counts_against_the_timeframe_cap_once():
    s = Setup(endpoints=1)
    s.deps.caps = InMemoryEndpointCaps()
    journey = s.publish({"m1": sms("welcome", "m2"), "m2": sms("thanks")}, "m1",
                        Limits={"TimeframeCap": {"Cap": 2, "Days": 7}})  # fmt: skip
    original = s.participants.record_entry  # the entrants' first moves are written with the entry's progress

    def crash(*_args, **_kwargs):
        raise RuntimeError("the function timed out")

    s.participants.record_entry = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    s.participants.record_entry = original  # type: ignore[method-assign]
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    tally = s.participants.tally(s.app_id, journey["Id"], s.run_id()).counts
    assert tally["m1|SUCCESS"] == tally["m2|SUCCESS"] == 1 and "m2|CAPPED" not in tally


@pytest.mark.parametrize(
    ("timeframe", "field"),
    [({"Cap": 101, "Days": 7}, "Limits.TimeframeCap.Cap"), ({"Cap": 2, "Days": 31}, "Limits.TimeframeCap.Days"),
     ({"Cap": -1, "Days": 7}, "Limits.TimeframeCap.Cap"), ({"Cap": 2, "Days": "7"}, "Limits.TimeframeCap.Days"),
     ({"Cap": True, "Days": 7}, "Limits.TimeframeCap.Cap")],
)  # fmt: skip
def test_a_timeframe_cap_outside_pinpoints_ranges_is_an_error_naming_its_field(timeframe: dict, field: str):
    errors = findings(Limits={"TimeframeCap": timeframe})
    assert [(code, field in message) for code, message, _ in errors] == [("BAD_LIMITS", True)]


def test_activating_a_journey_with_a_bad_timeframe_cap_is_a_400_naming_the_field_and_stores_nothing():
    s = Setup(endpoints=1)
    with pytest.raises(BadRequest, match=r"Limits\.TimeframeCap\.Days must be a whole number from 0 to 30"):
        s.publish({"m1": sms("welcome")}, "m1", Limits={"TimeframeCap": {"Cap": 2, "Days": 45}})
    assert s.journeys.list_journeys(s.app_id, 100, None)[0] == []


def test_a_timeframe_cap_missing_its_cap_or_days_is_a_recommendation():
    found = findings("RECOMMENDATION", Limits={"TimeframeCap": {"Cap": 3}})
    assert "TIMEFRAME_CAP_OFF" in [code for code, _, _ in found]
    assert findings(Limits={"TimeframeCap": {"Cap": 3, "Days": 7}}) == []
