"""Campaign schedules: parsing Pinpoint's Schedule, wall-clock recurrence across DST, and IsLocalTime waves."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.domain.campaign_schedule import (
    CampaignSchedule,
    earliest_wave_instant,
    local_time_waves,
    parse_schedule,
    run_instant,
    run_key_after,
)
from kizuna.errors import BadRequest

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def _schedule(start: str = "2026-01-05T09:00:00", now: datetime = NOW, **members) -> CampaignSchedule:
    return parse_schedule({"StartTime": start, **members}, now)


def _runs(schedule: CampaignSchedule, limit: int = 10_000) -> list[tuple[str, datetime]]:
    runs, after = [], None
    while len(runs) < limit and (key := run_key_after(schedule, after)) is not None:
        after = run_instant(schedule, key)
        runs.append((key, after))
    return runs


# -- DAILY across a year and DST --------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone_name", ["Asia/Tokyo", "America/New_York"])
def test_daily_keeps_nine_oclock_local_for_400_days_and_stops_at_the_end_time(zone_name):
    schedule = _schedule(Frequency="DAILY", Timezone=zone_name, EndTime="2027-02-09T09:00:00")  # start + 400 days

    runs = _runs(schedule)

    assert len(runs) == 400
    assert [key for key, _ in runs] == sorted(key for key, _ in runs)
    assert runs[0][0] == "2026-01-05T09:00:00" and runs[-1][0] == "2027-02-08T09:00:00"
    for key, moment in runs:
        local = moment.astimezone(ZoneInfo(zone_name))
        assert local.time() == time(9) and local.date().isoformat() == key[:10]
    assert runs[-1][1] < schedule.end
    assert run_key_after(schedule, runs[-1][1]) is None  # the run exactly at EndTime does not happen


def test_daily_in_new_york_moves_its_utc_hour_with_daylight_saving():
    runs = dict(_runs(_schedule(Frequency="DAILY", Timezone="America/New_York", EndTime="2027-01-06T00:00:00Z")))

    assert runs["2026-01-20T09:00:00"] == datetime(2026, 1, 20, 14, tzinfo=UTC)
    assert runs["2026-07-20T09:00:00"] == datetime(2026, 7, 20, 13, tzinfo=UTC)
    assert runs["2027-01-05T09:00:00"].hour == 14


def test_a_fixed_offset_timezone_does_not_follow_daylight_saving():
    runs = _runs(_schedule(Frequency="DAILY", Timezone="UTC-05", EndTime="2027-01-05T09:00:00"))

    assert len(runs) == 365
    assert {moment.time() for _, moment in runs} == {time(14)}


def test_the_next_run_far_in_the_future_is_found_directly():
    schedule = _schedule(Frequency="DAILY", Timezone="America/New_York")

    key = run_key_after(schedule, datetime(2036, 7, 1, 13, tzinfo=UTC))  # exactly that day's run: strictly after it

    assert key == "2036-07-02T09:00:00"
    assert run_instant(schedule, key) == datetime(2036, 7, 2, 13, tzinfo=UTC)


def test_an_offset_start_time_is_read_as_its_wall_clock_in_the_timezone():
    schedule = _schedule("2026-01-05T14:00:00Z", Frequency="DAILY", Timezone="America/New_York")

    assert schedule.start_wall == datetime(2026, 1, 5, 9)
    assert run_instant(schedule, run_key_after(schedule, datetime(2026, 7, 1, tzinfo=UTC))).hour == 13


# -- other frequencies ------------------------------------------------------------------------------------------------


def test_weekly_keeps_the_weekday_and_wall_clock():
    runs = _runs(_schedule(Frequency="WEEKLY", Timezone="America/New_York", EndTime="2026-12-31T00:00:00"))

    assert len(runs) == 52
    for _, moment in runs:
        local = moment.astimezone(NEW_YORK)
        assert local.weekday() == 0 and local.time() == time(9)


def test_monthly_clamps_the_31st_per_month_not_cumulatively():
    runs = _runs(_schedule("2026-01-31T10:00:00", Frequency="MONTHLY", EndTime="2028-04-01T00:00:00"))

    days = [key[:10] for key, _ in runs]
    assert days[:4] == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
    assert "2028-02-29" in days and days[-1] == "2028-03-31"
    assert len(days) == 27


def test_monthly_from_a_far_future_after():
    schedule = _schedule("2026-01-31T10:00:00", Frequency="MONTHLY")

    assert run_key_after(schedule, datetime(2030, 2, 15, tzinfo=UTC)) == "2030-02-28T10:00:00"
    assert run_key_after(schedule, datetime(2030, 2, 28, 10, tzinfo=UTC)) == "2030-03-31T10:00:00"


def test_hourly_is_every_sixty_minutes_of_absolute_time_across_spring_forward():
    schedule = _schedule("2026-03-08T00:30:00", Frequency="HOURLY", Timezone="America/New_York")

    runs = _runs(schedule, limit=4)

    assert [key[11:16] for key, _ in runs] == ["00:30", "01:30", "03:30", "04:30"]
    assert [moment.hour for _, moment in runs] == [5, 6, 7, 8]


def test_hourly_runs_a_repeated_fall_back_wall_clock_once():
    fall_back = {"Frequency": "HOURLY", "Timezone": "America/New_York"}
    schedule = _schedule("2026-11-01T00:30:00", now=datetime(2026, 10, 1, tzinfo=UTC), **fall_back)

    runs = _runs(schedule, limit=4)

    assert [key[11:16] for key, _ in runs] == ["00:30", "01:30", "02:30", "03:30"]
    assert [moment.hour for _, moment in runs] == [4, 5, 7, 8]  # 06:30Z is 01:30 again: skipped


def test_hourly_from_a_far_future_after():
    schedule = _schedule("2026-01-05T09:15:00", Frequency="HOURLY")

    assert run_key_after(schedule, datetime(2031, 6, 1, 12, 15, tzinfo=UTC)) == "2031-06-01T13:15:00"


def test_once_runs_at_its_start_only():
    schedule = _schedule(Frequency="ONCE")

    assert run_key_after(schedule) == "2026-01-05T09:00:00"
    assert run_key_after(schedule, datetime(2026, 1, 5, 8, 59, tzinfo=UTC)) == "2026-01-05T09:00:00"
    assert run_key_after(schedule, datetime(2026, 1, 5, 9, tzinfo=UTC)) is None


def test_frequency_defaults_to_once():
    assert _schedule().frequency == "ONCE"


def test_immediate_starts_at_now_whatever_now_is():
    now = datetime(2026, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)

    schedule = parse_schedule({"StartTime": "IMMEDIATE", "Timezone": "Asia/Tokyo"}, now)

    assert schedule.is_immediate and schedule.start == now.replace(microsecond=0)
    assert run_key_after(schedule) == "2026-06-01T21:00:00"
    assert run_key_after(schedule, now) is None


def test_event_campaigns_have_no_scheduled_runs():
    schedule = _schedule(Frequency="EVENT", EventFilter={"FilterType": "ENDPOINT", "Dimensions": {}})

    assert run_key_after(schedule) is None
    assert schedule.event_filter == {"FilterType": "ENDPOINT", "Dimensions": {}}


# -- DST gap and fold -------------------------------------------------------------------------------------------------


def test_a_wall_clock_skipped_by_spring_forward_runs_just_after_the_jump():
    runs = _runs(_schedule("2026-03-07T02:30:00", Frequency="DAILY", Timezone="America/New_York"), limit=3)

    assert [key for key, _ in runs] == ["2026-03-07T02:30:00", "2026-03-08T02:30:00", "2026-03-09T02:30:00"]
    assert runs[1][1] == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert runs[1][1].astimezone(NEW_YORK).time() == time(3, 30)
    assert runs[2][1] == datetime(2026, 3, 9, 6, 30, tzinfo=UTC)  # 02:30 EDT again


def test_a_start_time_inside_the_gap_is_shifted_the_same_way():
    schedule = _schedule("2026-03-08T02:30:00", Timezone="America/New_York")

    assert schedule.start == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert run_key_after(schedule) == "2026-03-08T02:30:00"


def test_a_repeated_fall_back_wall_clock_runs_once_at_its_first_occurrence():
    schedule = _schedule("2026-10-31T01:30:00", Frequency="DAILY", Timezone="America/New_York")

    runs = _runs(schedule, limit=3)

    assert [key[:10] for key, _ in runs] == ["2026-10-31", "2026-11-01", "2026-11-02"]
    assert runs[1][1] == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, not 01:30 EST
    assert run_key_after(schedule, runs[1][1]) == "2026-11-02T01:30:00"


def test_a_start_given_as_the_second_occurrence_is_read_as_the_first():
    schedule = _schedule("2026-11-01T01:30:00-05:00", Timezone="America/New_York")

    assert schedule.start == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


# -- IsLocalTime ------------------------------------------------------------------------------------------------------


def test_local_time_waves_group_zones_by_the_instant_the_wall_clock_occurs_there():
    schedule = _schedule(Frequency="DAILY", IsLocalTime=True)
    zones = ["America/New_York", "Asia/Tokyo", "Europe/London", "UTC+05:30", "Asia/Seoul", "UTC"]

    waves = local_time_waves(schedule, "2026-01-05T09:00:00", zones)

    assert waves == [
        (datetime(2026, 1, 5, 0, tzinfo=UTC), frozenset({"Asia/Tokyo", "Asia/Seoul"})),
        (datetime(2026, 1, 5, 3, 30, tzinfo=UTC), frozenset({"UTC+05:30"})),
        (datetime(2026, 1, 5, 9, tzinfo=UTC), frozenset({"Europe/London", "UTC"})),
        (datetime(2026, 1, 5, 14, tzinfo=UTC), frozenset({"America/New_York"})),
    ]


def test_local_time_waves_follow_each_recipient_zones_daylight_saving():
    schedule = _schedule(Frequency="DAILY", IsLocalTime=True)

    waves = dict(local_time_waves(schedule, "2026-07-06T09:00:00", ["Europe/London", "America/New_York", "UTC-05"]))

    assert waves[datetime(2026, 7, 6, 8, tzinfo=UTC)] == {"Europe/London"}
    assert waves[datetime(2026, 7, 6, 13, tzinfo=UTC)] == {"America/New_York"}
    assert waves[datetime(2026, 7, 6, 14, tzinfo=UTC)] == {"UTC-05"}


def test_recipients_without_a_readable_zone_get_the_schedules_timezone():
    schedule = _schedule(Frequency="DAILY", IsLocalTime=True, Timezone="Asia/Tokyo")

    waves = local_time_waves(schedule, "2026-01-05T09:00:00", [schedule.timezone, "Not/AZone"])

    assert waves == [(datetime(2026, 1, 5, 0, tzinfo=UTC), frozenset({"Asia/Tokyo", "Not/AZone"}))]


def test_without_is_local_time_every_recipient_gets_the_schedules_instant():
    schedule = _schedule(Frequency="DAILY", Timezone="Asia/Tokyo")

    waves = local_time_waves(schedule, "2026-01-05T09:00:00", ["America/New_York", "Europe/London"])

    assert waves == [(datetime(2026, 1, 5, 0, tzinfo=UTC), frozenset({"America/New_York", "Europe/London"}))]
    assert earliest_wave_instant(schedule, "2026-01-05T09:00:00") == datetime(2026, 1, 5, 0, tzinfo=UTC)


def test_the_earliest_wave_is_in_utc_plus_14():
    schedule = _schedule(Frequency="DAILY", IsLocalTime=True)
    zones = ["Pacific/Kiritimati", "Pacific/Auckland", "Asia/Tokyo", "Pacific/Pago_Pago"]

    earliest = earliest_wave_instant(schedule, "2026-01-05T09:00:00")

    assert earliest == datetime(2026, 1, 4, 19, tzinfo=UTC)
    assert local_time_waves(schedule, "2026-01-05T09:00:00", zones)[0] == (earliest, frozenset({"Pacific/Kiritimati"}))


# -- validation -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "field"),
    [
        ({"Frequency": "FORTNIGHTLY"}, "Schedule.Frequency"),
        ({"Frequency": "IN_APP_EVENT"}, "Schedule.Frequency IN_APP_EVENT"),
        ({"Timezone": "Mars/Olympus_Mons"}, "Schedule.Timezone"),
        ({"Timezone": "UTC+15"}, "Schedule.Timezone"),
        ({"EndTime": "2026-01-05T08:00:00"}, "Schedule.EndTime"),
        ({"EndTime": "2026-01-05T09:00:00"}, "Schedule.EndTime"),
        ({"EndTime": "next tuesday"}, "Schedule.EndTime"),
        ({"QuietTime": {"Start": "22:00", "End": "8:00"}}, "Schedule.QuietTime.End"),
        ({"QuietTime": {"Start": "24:00", "End": "08:00"}}, "Schedule.QuietTime.Start"),
        ({"QuietTime": {"Start": "22:00"}}, "Schedule.QuietTime.End"),
        ({"Frequency": "EVENT"}, "Schedule.EventFilter"),
        ({"Frequency": "EVENT", "EventFilter": "ENDPOINT"}, "Schedule.EventFilter"),
        ({"IsLocalTime": "yes"}, "Schedule.IsLocalTime"),
    ],
)
def test_invalid_members_are_refused_naming_the_field(members, field):
    with pytest.raises(BadRequest, match=field.replace(".", r"\.")):
        _schedule(**members)


def test_start_time_is_required_and_must_parse():
    with pytest.raises(BadRequest, match=r"Schedule\.StartTime is required"):
        parse_schedule({"Frequency": "DAILY"}, NOW)
    with pytest.raises(BadRequest, match=r"Schedule\.StartTime must be ISO 8601"):
        _schedule("soon")


def test_a_new_schedule_may_start_up_to_15_minutes_in_the_past_and_a_stored_one_any_time():
    now = datetime(2026, 1, 5, 9, 15, tzinfo=UTC)

    assert _schedule("2026-01-05T09:00:00Z", now=now).start == datetime(2026, 1, 5, 9, tzinfo=UTC)
    with pytest.raises(BadRequest, match=r"Schedule\.StartTime must not be more than 15 minutes in the past"):
        _schedule("2026-01-05T08:59:59Z", now=now)
    assert parse_schedule({"StartTime": "2025-01-05T09:00:00Z"}, now, allow_past=True).start.year == 2025


def test_the_field_prefix_can_be_changed_for_nested_schedules():
    with pytest.raises(BadRequest, match=r"WriteCampaignRequest\.Schedule\.Timezone"):
        parse_schedule({"StartTime": "IMMEDIATE", "Timezone": "Nowhere"}, NOW, field="WriteCampaignRequest.Schedule")


def test_recurring_schedules_do_not_need_an_end_time_and_accept_quiet_time():
    schedule = _schedule(Frequency="MONTHLY", QuietTime={"Start": "22:00", "End": "08:00"})

    assert schedule.end is None and (schedule.quiet_start, schedule.quiet_end) == ("22:00", "08:00")


# -- property ---------------------------------------------------------------------------------------------------------

DST_ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago", "Asia/Tokyo", "UTC+09"]


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    return wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


@settings(max_examples=60, deadline=None)
@given(
    zone_name=st.sampled_from(DST_ZONES),
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    frequency=st.sampled_from(["DAILY", "WEEKLY", "MONTHLY"]),
)
def test_wall_clock_runs_increase_and_keep_the_start_time_unless_it_is_skipped(zone_name, start, frequency):
    start = start.replace(microsecond=0)
    schedule = parse_schedule(
        {"StartTime": start.isoformat(), "Frequency": frequency, "Timezone": zone_name}, NOW, allow_past=True
    )

    runs = _runs(schedule, limit=60)

    assert len(runs) == 60
    assert all(a[1] < b[1] and a[0] < b[0] for a, b in zip(runs, runs[1:], strict=False))
    tz = schedule.zone
    for key, moment in runs:
        nominal = datetime.fromisoformat(key)
        assert nominal.time() == start.time()
        local = moment.astimezone(tz).replace(tzinfo=None)
        assert local == nominal or not _exists(nominal, tz)
        assert run_key_after(schedule, moment - timedelta(seconds=1)) == key
