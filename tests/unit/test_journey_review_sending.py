"""Review before publish, for how a journey sends: its Limits, QuietTime, OpenHours, ClosedDays and Schedule.Timezone
(each malformed value an error naming its field), OpenHours without SendingSchedule (a recommendation), and CUSTOM
activities (a webhook, not a Lambda function; known endpoint types; a Data string; no templates)."""

from __future__ import annotations

import copy

import pytest

from kizuna.domain.journey_review import review_journey
from tests.unit.test_journey_review import CATALOG, NOW, SOUND

HOOK = "https://hooks.example.jp/kizuna"
OPEN = {"MONDAY": [{"StartTime": "09:00", "EndTime": "18:00"}], "FRIDAY": [{"StartTime": "22:00", "EndTime": "02:00"}]}


def findings(severity: str = "ERROR", **changes) -> list[tuple[str, str, str | None]]:
    journey = copy.deepcopy(SOUND) | changes
    review = review_journey(journey, CATALOG, NOW)
    found = review.errors if severity == "ERROR" else review.recommendations
    return [(f.code, f.message, f.activity) for f in found]


def with_custom(body: dict) -> dict:
    activities = copy.deepcopy(SOUND["Activities"])
    activities["thanks"] = {"CUSTOM": body}
    return activities


def test_limits_open_hours_closed_days_and_a_custom_activity_that_are_sound_raise_nothing():
    custom = {"DeliveryUri": HOOK, "EndpointTypes": ["SMS", "CUSTOM"], "MessageConfig": {"Data": '{"a": 1}'}}
    new_year = {"Name": "元日", "StartDateTime": "2027-01-01T00:00:00", "EndDateTime": "2027-01-02T00:00:00"}
    assert findings(
        Limits={"DailyCap": 3, "TotalCap": 10, "MessagesPerSecond": 50, "EndpointReentryCap": 2},
        SendingSchedule=True, WaitForQuietTime=True, OpenHours={"SMS": OPEN, "WHATSAPP": OPEN},
        ClosedDays={"SMS": [new_year]}, Activities=with_custom(custom),
    ) == []  # fmt: skip
    assert findings("RECOMMENDATION", SendingSchedule=True, OpenHours={"SMS": OPEN}) == []


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"Limits": {"DailyCap": 101}}, "BAD_LIMITS", "Limits.DailyCap"),
        ({"Limits": {"TotalCap": -1}}, "BAD_LIMITS", "Limits.TotalCap"),
        ({"Limits": {"MessagesPerSecond": 0}}, "BAD_LIMITS", "Limits.MessagesPerSecond"),
        ({"Limits": {"DailyCap": "3"}}, "BAD_LIMITS", "Limits.DailyCap"),
        ({"QuietTime": {"Start": "21:00", "End": "8:00"}}, "BAD_QUIET_TIME", "QuietTime.End"),
        ({"OpenHours": {"SMS": {"MONDAY": [{"StartTime": "9am", "EndTime": "18:00"}]}}}, "BAD_OPEN_HOURS",
         "OpenHours.SMS.MONDAY[0].StartTime"),
        ({"OpenHours": {"EMAIL": {"SUNDAY": [{"StartTime": "10:00", "EndTime": "25:00"}]}}}, "BAD_OPEN_HOURS",
         "OpenHours.EMAIL.SUNDAY[0].EndTime"),
        ({"ClosedDays": {"VOICE": [{"Name": "x", "StartDateTime": "tomorrow", "EndDateTime": "2027-01-02T00:00:00"}]}},
         "BAD_CLOSED_DAYS", "ClosedDays.VOICE[0].StartDateTime"),
        ({"Schedule": {**SOUND["Schedule"], "Timezone": "Mars/Olympus"}}, "BAD_SCHEDULE", "Schedule.Timezone"),
    ],
)  # fmt: skip
def test_a_malformed_sending_setting_is_an_error_naming_its_field(changes: dict, code: str, field: str):
    errors = findings(**changes)
    assert any(c == code and field in message for c, message, _ in errors), errors


def test_open_hours_without_sending_schedule_are_recommended_on_since_they_are_otherwise_ignored():
    [(code, message, _)] = findings("RECOMMENDATION", OpenHours={"SMS": OPEN})
    assert code == "SENDING_SCHEDULE_OFF" and "SendingSchedule" in message
    assert findings("RECOMMENDATION", ClosedDays={"SMS": []}, SendingSchedule=False) == []  # nothing to switch on


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"MessageConfig": {"Data": "x"}}, "NO_DELIVERY_URI", "CUSTOM.DeliveryUri"),
        ({"DeliveryUri": "arn:aws:lambda:ap-northeast-1:123456789012:function:send"}, "BAD_CUSTOM", "Lambda"),
        ({"DeliveryUri": "http://hooks.example.jp/kizuna"}, "BAD_CUSTOM", "CUSTOM.DeliveryUri must be an https"),
        ({"DeliveryUri": HOOK, "EndpointTypes": ["FAX"]}, "BAD_CUSTOM", "CUSTOM.EndpointTypes"),
        ({"DeliveryUri": HOOK, "MessageConfig": {"Data": {"a": 1}}}, "BAD_CUSTOM", "CUSTOM.MessageConfig.Data"),
        ({"DeliveryUri": HOOK, "TemplateName": "welcome"}, "BAD_CUSTOM", "CUSTOM.TemplateName"),
    ],
)
def test_a_malformed_custom_activity_is_an_error_naming_its_field(body: dict, code: str, field: str):
    errors = findings(Activities=with_custom(body))
    assert any(c == code and field in message and activity == "thanks" for c, message, activity in errors), errors
