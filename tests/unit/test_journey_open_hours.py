"""A journey's sending schedule on the engine (in-memory ports, virtual clock): open hours and closed days hold a
message until the next open instant in each participant's own zone, quiet time does too, `WaitForQuietTime: false`
skips the message instead, and the participant moves on either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from kizuna.services import journey_runs
from kizuna.services.endpoints import update_endpoint
from kizuna.services.journey_sends import recipient_zone
from tests.unit.journey_harness import Setup, sms

OFFICE_HOURS = {
    day: [{"StartTime": "09:00", "EndTime": "18:00"}]
    for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")
}
FRIDAY_EVENING_TOKYO = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)  # 19:00 JST, 05:00 EST


def in_tokyo(s: Setup, count: int) -> None:
    """Real Japanese mobile numbers (the harness's are not dialable, so imply no zone): Asia/Tokyo by number."""
    for i in range(count):
        update_endpoint(
            s.data, s.data, s.clock, s.app_id, f"e{i}", {"ChannelType": "SMS", "Address": f"+81901234567{i}"}
        )


def held_until(s: Setup) -> dict[str, datetime | None]:
    return {m.endpoint_id: datetime.fromisoformat(m.not_before) if m.not_before else None for m in s.sent()}


def test_outside_open_hours_a_message_waits_for_the_next_open_hour_in_each_participants_zone():
    s = Setup(endpoints=2, start=FRIDAY_EVENING_TOKYO)
    in_tokyo(s, 1)
    new_york = {"ChannelType": "SMS", "Address": "+819012345671", "Demographic": {"Timezone": "America/New_York"}}
    update_endpoint(s.data, s.data, s.clock, s.app_id, "e1", new_york)
    journey = s.publish({"m1": sms("welcome")}, "m1", SendingSchedule=True, OpenHours={"SMS": OFFICE_HOURS})
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())

    assert held_until(s) == {
        "e0": datetime(2026, 12, 7, 0, 0, tzinfo=UTC),  # its phone number's zone: Monday 09:00 in Tokyo
        "e1": datetime(2026, 12, 4, 14, 0, tzinfo=UTC),  # its Demographic.Timezone: Friday 09:00 in New York
    }
    for e in ("e0", "e1"):  # each participant waits with its message, and leaves when it goes
        held = s.participant(journey["Id"], e)
        assert (held.status, held.activity, held.wake_at) == ("WAITING", "m1", held_until(s)[e])
    assert s.participants.tally(s.app_id, journey["Id"], s.run_id()).counts["m1|SUCCESS"] == 2


def test_a_closed_period_over_new_year_defers_the_message_past_it_and_past_quiet_time():
    s = Setup(endpoints=1, start=datetime(2026, 12, 31, 3, 0, tzinfo=UTC))  # 12:00 JST on New Year's Eve
    in_tokyo(s, 1)
    closed = [{"Name": "年末年始", "StartDateTime": "2026-12-31T00:00:00", "EndDateTime": "2027-01-04T00:00:00"}]
    journey = s.publish(
        {"m1": sms("welcome")}, "m1", SendingSchedule=True, ClosedDays={"SMS": closed},
        QuietTime={"Start": "22:00", "End": "08:00"},
    )  # fmt: skip
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    assert held_until(s) == {"e0": datetime(2027, 1, 3, 23, 0, tzinfo=UTC)}  # 4 January, 08:00 JST


def test_without_sending_schedule_open_hours_and_closed_days_are_ignored():
    s = Setup(endpoints=1, start=FRIDAY_EVENING_TOKYO)
    in_tokyo(s, 1)
    journey = s.publish({"m1": sms("welcome")}, "m1", OpenHours={"SMS": OFFICE_HOURS})
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())
    assert held_until(s) == {"e0": None}


def test_quiet_time_holds_a_message_and_wait_for_quiet_time_false_skips_it_instead():
    late = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # 23:00 JST
    activities = {
        "m1": sms("welcome", "w1"),
        "w1": {"Wait": {"WaitTime": {"WaitFor": "PT12H"}, "NextActivity": "m2"}},
        "m2": sms("thanks"),
    }
    quiet = {"Start": "22:00", "End": "08:00"}
    for wait_for_quiet_time, first in ((True, "held"), (None, "held"), (False, "skipped")):
        s = Setup(endpoints=2, start=late)
        in_tokyo(s, 2)
        extra = {} if wait_for_quiet_time is None else {"WaitForQuietTime": wait_for_quiet_time}
        journey = s.publish(activities, "m1", QuietTime=quiet, **extra)
        s.loops_until_done(journey["Id"])
        bodies = s.follow_ups(0)
        tally = s.participants.tally(s.app_id, journey["Id"], s.run_id()).counts
        if first == "held":
            assert {e: len(b) for e, b in bodies.items()} == {"e0": 2, "e1": 2}
            first_two = {m.endpoint_id: m.not_before for m in s.sent()[:2]}
            assert first_two == {"e0": "2026-12-01T23:00:00.000Z", "e1": "2026-12-01T23:00:00.000Z"}  # 08:00 JST
            assert tally["m1|SUCCESS"] == 2
        else:
            assert all(b == ["ありがとう"] for b in bodies.values()) and len(bodies) == 2  # m2 at 11:00 JST
            assert tally["m1|QUIET_TIME"] == 2 and "m1|SUCCESS" not in tally
        assert s.clock.now() - late >= timedelta(hours=12)


def test_a_participants_zone_falls_back_to_its_phone_number_then_the_journeys_schedule_zone():
    fallback = ZoneInfo("Europe/Paris")
    assert str(recipient_zone({"Demographic": {"Timezone": "America/New_York"}}, fallback)) == "America/New_York"
    assert str(recipient_zone({"Demographic": {"Timezone": "Mars/Olympus"}, "ChannelType": "SMS",
                               "Address": "+819012345678"}, fallback)) == "Asia/Tokyo"  # fmt: skip
    assert recipient_zone({"ChannelType": "EMAIL", "Address": "a@example.jp"}, fallback) is fallback
    assert recipient_zone({"ChannelType": "SMS", "Address": "not a number"}, fallback) is fallback
