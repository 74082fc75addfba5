"""A journey's sending schedule in the participant's own zone (kizuna.domain.journey_hours): quiet time, open hours
per weekday (across daylight saving changes in America/New_York, in Asia/Tokyo, rules running past midnight), closed
days spanning several days, and the review's reading of each value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kizuna.domain.journey_hours import SendingWindow, next_send_time, schedule_problems, window_for

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def local(tz: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=tz)


def schedule(**journey) -> dict:
    return {"SendingSchedule": True, **journey}


def office_hours(start: str = "09:00", end: str = "18:00", days=WEEKDAYS) -> dict:
    return {day: [{"StartTime": start, "EndTime": end}] for day in days}


def test_without_restrictions_a_message_goes_at_once():
    now = utc(2026, 12, 4, 10, 30)
    assert next_send_time(now, window_for({}, "SMS"), TOKYO) == now


def test_quiet_time_across_midnight_holds_until_it_ends_in_the_recipients_zone():
    window = window_for({"QuietTime": {"Start": "22:00", "End": "08:00"}}, "SMS")
    at_23_tokyo = local(TOKYO, 2026, 12, 4, 23, 0)
    assert next_send_time(at_23_tokyo, window, TOKYO) == local(TOKYO, 2026, 12, 5, 8, 0)
    assert next_send_time(local(TOKYO, 2026, 12, 5, 12, 0), window, TOKYO) == local(TOKYO, 2026, 12, 5, 12, 0)


def test_quiet_time_ending_in_the_repeated_autumn_hour_ends_at_the_occurrence_after_now():
    window = window_for({"QuietTime": {"Start": "22:00", "End": "01:30"}}, "SMS")
    second_0115 = utc(2026, 11, 1, 6, 15)  # 01:15 EST, the second 01:15 of the night in New York
    assert next_send_time(second_0115, window, NEW_YORK) == utc(2026, 11, 1, 6, 30)  # 01:30 EST, not EDT (past)
    assert next_send_time(utc(2026, 11, 1, 5, 0), window, NEW_YORK) == utc(2026, 11, 1, 5, 30)  # 01:00 → 01:30 EDT


def test_the_apps_quiet_time_applies_when_the_journey_sets_none():
    window = window_for({}, "SMS", {"Start": "21:00", "End": "09:00"})
    assert next_send_time(local(TOKYO, 2026, 12, 4, 21, 30), window, TOKYO) == local(TOKYO, 2026, 12, 5, 9, 0)


def test_outside_open_hours_a_friday_evening_message_waits_for_monday_morning_in_tokyo():
    window = window_for(schedule(OpenHours={"SMS": office_hours()}), "SMS")
    friday_evening = local(TOKYO, 2026, 12, 4, 19, 0)  # 10:00Z
    assert next_send_time(friday_evening, window, TOKYO) == utc(2026, 12, 7, 0, 0)  # Monday 09:00 JST
    assert next_send_time(local(TOKYO, 2026, 12, 7, 10, 0), window, TOKYO) == local(TOKYO, 2026, 12, 7, 10, 0)
    assert next_send_time(local(TOKYO, 2026, 12, 7, 18, 0), window, TOKYO) == local(TOKYO, 2026, 12, 8, 9, 0)


def test_the_same_instant_opens_at_different_utc_times_in_new_york_and_tokyo():
    window = window_for(schedule(OpenHours={"SMS": office_hours()}), "SMS")
    now = utc(2026, 12, 4, 10, 0)  # Friday 19:00 in Tokyo, Friday 05:00 in New York
    assert next_send_time(now, window, TOKYO) == utc(2026, 12, 7, 0, 0)
    assert next_send_time(now, window, NEW_YORK) == utc(2026, 12, 4, 14, 0)  # 09:00 EST


def test_open_hours_keep_the_wall_clock_across_the_spring_and_autumn_changes_in_new_york():
    every_day = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
    window = window_for(schedule(OpenHours={"SMS": office_hours("09:00", "17:00", every_day)}), "SMS")
    # Saturday evening before the change (2026-03-08 02:00 EST → 03:00 EDT): Sunday opens at 09:00 EDT, 13:00Z.
    assert next_send_time(local(NEW_YORK, 2026, 3, 7, 20, 0), window, NEW_YORK) == utc(2026, 3, 8, 13, 0)
    assert next_send_time(local(NEW_YORK, 2026, 3, 6, 8, 0), window, NEW_YORK) == utc(2026, 3, 6, 14, 0)  # EST
    # Autumn (2026-11-01 02:00 EDT → 01:00 EST): Saturday opens at 13:00Z, Sunday at 14:00Z.
    assert next_send_time(local(NEW_YORK, 2026, 10, 31, 7, 0), window, NEW_YORK) == utc(2026, 10, 31, 13, 0)
    assert next_send_time(local(NEW_YORK, 2026, 10, 31, 18, 0), window, NEW_YORK) == utc(2026, 11, 1, 14, 0)
    # Closing follows the wall clock too: 16:30 EDT on the Saturday is open, 17:00 is not.
    assert next_send_time(utc(2026, 10, 31, 20, 30), window, NEW_YORK) == utc(2026, 10, 31, 20, 30)
    assert next_send_time(utc(2026, 10, 31, 21, 0), window, NEW_YORK) == utc(2026, 11, 1, 14, 0)


def test_an_opening_time_skipped_by_the_spring_change_lands_just_after_it():
    window = window_for(schedule(OpenHours={"SMS": {"SUNDAY": [{"StartTime": "02:30", "EndTime": "05:00"}]}}), "SMS")
    opens = next_send_time(local(NEW_YORK, 2026, 3, 8, 0, 30), window, NEW_YORK)
    jump = utc(2026, 3, 8, 7, 0)  # 02:00 EST = 03:00 EDT
    assert opens is not None and jump <= opens <= jump + timedelta(hours=1)


def test_a_rule_ending_after_midnight_runs_into_the_next_day():
    window = window_for(schedule(OpenHours={"SMS": {"FRIDAY": [{"StartTime": "22:00", "EndTime": "02:00"}]}}), "SMS")
    saturday_1am = local(TOKYO, 2026, 12, 5, 1, 0)
    assert next_send_time(saturday_1am, window, TOKYO) == saturday_1am  # still Friday's rule
    assert next_send_time(local(TOKYO, 2026, 12, 5, 2, 0), window, TOKYO) == local(TOKYO, 2026, 12, 11, 22, 0)
    assert next_send_time(local(TOKYO, 2026, 12, 4, 21, 0), window, TOKYO) == local(TOKYO, 2026, 12, 4, 22, 0)


def test_end_time_24_00_is_the_end_of_the_day_and_several_rules_a_day_are_honoured():
    rules = [{"StartTime": "07:00", "EndTime": "09:00"}, {"StartTime": "18:00", "EndTime": "24:00"}]
    window = window_for(schedule(OpenHours={"SMS": {"MONDAY": rules}}), "SMS")
    assert next_send_time(local(TOKYO, 2026, 12, 7, 12, 0), window, TOKYO) == local(TOKYO, 2026, 12, 7, 18, 0)
    assert next_send_time(local(TOKYO, 2026, 12, 7, 23, 59), window, TOKYO) == local(TOKYO, 2026, 12, 7, 23, 59)
    assert next_send_time(local(TOKYO, 2026, 12, 8, 0, 0), window, TOKYO) == local(TOKYO, 2026, 12, 14, 7, 0)


def test_a_closed_period_spanning_several_days_defers_past_it_then_to_open_and_quiet_hours():
    closed = [{"Name": "年末年始", "StartDateTime": "2026-12-31T00:00:00", "EndDateTime": "2027-01-04T00:00:00"}]
    only_closed = window_for(schedule(ClosedDays={"SMS": closed}), "SMS")
    new_years_eve = local(TOKYO, 2026, 12, 31, 12, 0)
    assert next_send_time(new_years_eve, only_closed, TOKYO) == local(TOKYO, 2027, 1, 4, 0, 0)
    with_quiet = window_for(schedule(ClosedDays={"SMS": closed}, QuietTime={"Start": "22:00", "End": "08:00"}), "SMS")
    assert next_send_time(new_years_eve, with_quiet, TOKYO) == local(TOKYO, 2027, 1, 4, 8, 0)
    late = [{"Name": "休業", "StartDateTime": "2027-01-01T00:00:00", "EndDateTime": "2027-01-05T00:00:00"}]
    with_hours = window_for(schedule(ClosedDays={"SMS": late}, OpenHours={"SMS": office_hours()}), "SMS")
    # Closed through Monday the 4th (wall clock), so the next open hour is Tuesday 09:00.
    assert next_send_time(new_years_eve, with_hours, TOKYO) == local(TOKYO, 2026, 12, 31, 12, 0)
    assert next_send_time(local(TOKYO, 2026, 12, 31, 19, 0), with_hours, TOKYO) == local(TOKYO, 2027, 1, 5, 9, 0)
    # A wall-clock closed period is read in each recipient's zone: in New York it starts 14 hours later.
    assert next_send_time(local(NEW_YORK, 2026, 12, 31, 12, 0), only_closed, NEW_YORK) == local(NEW_YORK, 2027, 1, 4)


def test_a_closed_period_with_an_offset_is_the_same_instant_everywhere():
    closed = [{"Name": "maintenance", "StartDateTime": "2026-12-20T00:00:00Z", "EndDateTime": "2026-12-20T06:00:00Z"}]
    window = window_for(schedule(ClosedDays={"SMS": closed}), "SMS")
    for tz in (TOKYO, NEW_YORK):
        assert next_send_time(utc(2026, 12, 20, 3, 0), window, tz) == utc(2026, 12, 20, 6, 0)


def test_open_hours_and_closed_days_apply_only_with_sending_schedule_and_per_channel():
    doc = {"OpenHours": {"EMAIL": office_hours()}, "ClosedDays": {"EMAIL": [
        {"Name": "x", "StartDateTime": "2026-12-01T00:00:00", "EndDateTime": "2026-12-31T00:00:00"}]}}  # fmt: skip
    friday_evening = local(TOKYO, 2026, 12, 4, 19, 0)
    assert next_send_time(friday_evening, window_for(doc, "EMAIL"), TOKYO) == friday_evening  # switched off
    assert next_send_time(friday_evening, window_for(schedule(**doc), "SMS"), TOKYO) == friday_evening
    assert next_send_time(friday_evening, window_for(schedule(**doc), "EMAIL"), TOKYO) == local(TOKYO, 2026, 12, 31, 9)


def test_whatsapp_follows_the_sms_rules_unless_it_has_its_own():
    sms_only = schedule(OpenHours={"SMS": office_hours()})
    both = schedule(OpenHours={"SMS": office_hours(), "WHATSAPP": office_hours("12:00", "13:00")})
    monday_10 = local(TOKYO, 2026, 12, 7, 10, 0)
    assert next_send_time(monday_10, window_for(sms_only, "WHATSAPP"), TOKYO) == monday_10
    assert next_send_time(monday_10, window_for(both, "WHATSAPP"), TOKYO) == local(TOKYO, 2026, 12, 7, 12, 0)


def test_a_channel_whose_open_hours_never_open_has_no_sendable_instant():
    window = SendingWindow(open_hours={})
    assert next_send_time(utc(2026, 12, 4), window, TOKYO) is None


@pytest.mark.parametrize(
    ("journey", "code", "field"),
    [
        ({"QuietTime": {"Start": "9pm", "End": "08:00"}}, "BAD_QUIET_TIME", "QuietTime.Start"),
        ({"QuietTime": {"Start": "22:00"}}, "BAD_QUIET_TIME", "QuietTime needs both"),
        ({"OpenHours": {"SMS": {"MONDAY": [{"StartTime": "25:00", "EndTime": "18:00"}]}}}, "BAD_OPEN_HOURS",
         "OpenHours.SMS.MONDAY[0].StartTime"),
        ({"OpenHours": {"SMS": {"MONDAY": [{"StartTime": "09:00", "EndTime": "9:30"}]}}}, "BAD_OPEN_HOURS",
         "OpenHours.SMS.MONDAY[0].EndTime"),
        ({"OpenHours": {"SMS": {"MONDAY": [{"StartTime": "09:00", "EndTime": "09:00"}]}}}, "BAD_OPEN_HOURS",
         "OpenHours.SMS.MONDAY[0]: StartTime and EndTime are the same"),
        ({"OpenHours": {"SMS": {"FUNDAY": []}}}, "BAD_OPEN_HOURS", "OpenHours.SMS.FUNDAY"),
        ({"OpenHours": {"SMS": {}}}, "BAD_OPEN_HOURS", "OpenHours.SMS has no rules"),
        ({"OpenHours": {"FAX": {}}}, "BAD_OPEN_HOURS", "OpenHours.FAX"),
        ({"ClosedDays": {"SMS": [{"Name": "x", "StartDateTime": "2026-12-31", "EndDateTime": "2027-01-01T00:00:00"}]}},
         "BAD_CLOSED_DAYS", "ClosedDays.SMS[0].StartDateTime"),
        ({"ClosedDays": {"SMS": [{"Name": "x", "StartDateTime": "2026-12-31T00:00:00",
                                  "EndDateTime": "2026-12-30T00:00:00"}]}}, "BAD_CLOSED_DAYS",
         "ClosedDays.SMS[0].EndDateTime must be after"),
    ],
)  # fmt: skip
def test_malformed_values_are_reported_naming_the_field(journey, code, field):
    problems = schedule_problems(journey)
    assert any(c == code and field in message for c, message in problems), problems


def test_well_formed_values_raise_no_problem():
    whole_monday = {"MONDAY": [{"StartTime": "00:00", "EndTime": "24:00"}]}
    new_year = {"Name": "元日", "StartDateTime": "2027-01-01T00:00:00", "EndDateTime": "2027-01-02T00:00:00+09:00"}
    journey = schedule(
        QuietTime={"Start": "22:00", "End": "08:00"},
        OpenHours={"SMS": office_hours("22:00", "02:00"), "EMAIL": whole_monday},
        ClosedDays={"SMS": [new_year]},
    )
    assert schedule_problems(journey) == []
