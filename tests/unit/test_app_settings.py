"""Application settings: defaults, partial updates, and Pinpoint's documented ranges."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kizuna.errors import BadRequest, NotFound
from kizuna.services.app_settings import get_settings, update_settings
from kizuna.services.apps import create_app


@pytest.fixture
def app_id(data, clock) -> str:
    return create_app(data, clock, "arn:aws:mobiletargeting:us-east-1:123456789012", {"Name": "demo"}).id


def test_settings_never_set_are_the_empty_defaults(data, app_id):
    settings = get_settings(data, app_id)

    assert settings["ApplicationId"] == app_id
    assert settings["Limits"] == {} and settings["QuietTime"] == {} and settings["CampaignHook"] == {}
    assert settings["LastModifiedDate"] == data.get_app(app_id).creation_date


def test_an_update_is_returned_and_read_back(data, clock, app_id):
    clock.advance(timedelta(minutes=5))

    written = update_settings(
        data,
        clock,
        app_id,
        {"Limits": {"Daily": 5, "MessagesPerSecond": 50}, "QuietTime": {"Start": "22:00", "End": "07:30"}},
    )

    assert get_settings(data, app_id) == written
    assert written["Limits"] == {"Daily": 5, "MessagesPerSecond": 50}
    assert written["LastModifiedDate"] == "2026-11-01T00:05:00.000Z"


def test_an_update_keeps_the_sections_it_does_not_name(data, clock, app_id):
    update_settings(data, clock, app_id, {"QuietTime": {"Start": "22:00", "End": "07:00"}})

    update_settings(data, clock, app_id, {"Limits": {"Total": 10}})

    assert get_settings(data, app_id)["QuietTime"] == {"Start": "22:00", "End": "07:00"}


def test_write_only_flags_are_not_part_of_the_resource(data, clock, app_id):
    written = update_settings(data, clock, app_id, {"CloudWatchMetricsEnabled": True})

    assert "CloudWatchMetricsEnabled" not in written


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"MessagesPerSecond": 0}, "Limits.MessagesPerSecond"),
        ({"MessagesPerSecond": 20_001}, "Limits.MessagesPerSecond"),
        ({"Daily": 101}, "Limits.Daily"),
        ({"Total": 101}, "Limits.Total"),
        ({"MaximumDuration": 59}, "Limits.MaximumDuration"),
        ({"Session": -1}, "Limits.Session"),
    ],
)
def test_limits_out_of_range_are_refused_naming_the_field(data, clock, app_id, limits, field):
    with pytest.raises(BadRequest, match=field.replace(".", r"\.")):
        update_settings(data, clock, app_id, {"Limits": limits})
    assert data.get_settings(app_id) is None


@pytest.mark.parametrize(
    ("journey", "field"),
    [
        ({"DailyCap": 101}, "JourneyLimits.DailyCap"),
        ({"TotalCap": 101}, "JourneyLimits.TotalCap"),
        ({"TimeframeCap": {"Cap": 5, "Days": 31}}, "JourneyLimits.TimeframeCap.Days"),
    ],
)
def test_journey_limits_out_of_range_are_refused(data, clock, app_id, journey, field):
    with pytest.raises(BadRequest, match=field.replace(".", r"\.")):
        update_settings(data, clock, app_id, {"JourneyLimits": journey})


@pytest.mark.parametrize("value", ["7:00", "24:00", "12:60", "noon", "12:00:00", ""])
def test_quiet_time_must_be_hh_mm(data, clock, app_id, value):
    with pytest.raises(BadRequest, match=r"QuietTime\.Start.*HH:MM"):
        update_settings(data, clock, app_id, {"QuietTime": {"Start": value, "End": "07:00"}})


def test_quiet_time_needs_both_ends(data, clock, app_id):
    with pytest.raises(BadRequest, match="both Start and End"):
        update_settings(data, clock, app_id, {"QuietTime": {"Start": "22:00"}})


def test_a_campaign_hook_web_url_must_be_https(data, clock, app_id):
    with pytest.raises(BadRequest, match=r"CampaignHook\.WebUrl"):
        update_settings(data, clock, app_id, {"CampaignHook": {"WebUrl": "http://example.com/hook"}})


def test_settings_of_an_unknown_app_are_not_found(data):
    with pytest.raises(NotFound):
        get_settings(data, "nope")
