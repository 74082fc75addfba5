"""Channel operations (Get/Update/Delete per channel, GetChannels) and the messaging policy's validation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kizuna.adapters.memory_sending import InMemoryChannelStore
from kizuna.errors import BadRequest, NotFound
from kizuna.services.apps import create_app
from kizuna.services.channels import (
    delete_channel,
    get_channel,
    get_channels,
    get_policy,
    update_channel,
    update_policy,
)


@pytest.fixture
def channels() -> InMemoryChannelStore:
    return InMemoryChannelStore()


@pytest.fixture
def app_id(data, clock) -> str:
    return create_app(data, clock, "arn:aws:mobiletargeting:us-east-1:123456789012", {"Name": "demo"}).id


# -- channels -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("channel", "enabled"), [("SMS", True), ("VOICE", True), ("WHATSAPP", True), ("EMAIL", False)])
def test_a_channel_never_configured_has_its_default(data, channels, app_id, channel, enabled):
    doc = get_channel(data, channels, app_id, channel)

    assert doc["Enabled"] is enabled
    assert (doc["ApplicationId"], doc["Platform"]) == (app_id, channel)


def test_an_update_is_stored_and_starts_at_version_one(data, channels, clock, app_id):
    written = update_channel(data, channels, clock, app_id, "SMS", {"SenderId": "KIZUNA"})

    assert written["Version"] == 1
    assert written["SenderId"] == "KIZUNA"
    assert get_channel(data, channels, app_id, "SMS") == written


def test_an_update_bumps_the_version_and_keeps_the_fields_it_does_not_name(data, channels, clock, app_id):
    update_channel(data, channels, clock, app_id, "SMS", {"SenderId": "KIZUNA", "ShortCode": "12345"})
    clock.advance(timedelta(minutes=1))

    written = update_channel(data, channels, clock, app_id, "SMS", {"Enabled": False})

    assert written["Version"] == 2
    assert (written["SenderId"], written["ShortCode"], written["Enabled"]) == ("KIZUNA", "12345", False)
    assert written["LastModifiedDate"] == "2026-11-01T00:01:00.000Z"


def test_fields_the_channel_does_not_have_are_not_stored(data, channels, clock, app_id):
    written = update_channel(data, channels, clock, app_id, "VOICE", {"Enabled": True, "SenderId": "KIZUNA"})

    assert "SenderId" not in written


@pytest.mark.parametrize("sender_id", ["KIZUNAKIZUNA", "12345", "KIZUNA!"])
def test_an_sms_sender_id_twilio_would_refuse_is_a_bad_request(data, channels, clock, app_id, sender_id):
    with pytest.raises(BadRequest, match=r"SMSChannelRequest\.SenderId"):
        update_channel(data, channels, clock, app_id, "SMS", {"SenderId": sender_id})
    assert get_channel(data, channels, app_id, "SMS").get("SenderId") is None


def test_enabling_email_without_a_from_address_is_a_bad_request(data, channels, clock, app_id):
    with pytest.raises(BadRequest, match=r"EmailChannelRequest\.FromAddress"):
        update_channel(data, channels, clock, app_id, "EMAIL", {"Enabled": True})
    assert get_channel(data, channels, app_id, "EMAIL")["Enabled"] is False


def test_email_is_enabled_with_a_from_address(data, channels, clock, app_id):
    update_channel(data, channels, clock, app_id, "EMAIL", {"Enabled": True, "FromAddress": "noreply@kizuna.example"})

    assert get_channel(data, channels, app_id, "EMAIL")["Enabled"] is True


def test_a_whatsapp_messaging_service_sid_must_look_like_one(data, channels, clock, app_id):
    with pytest.raises(BadRequest, match=r"WhatsAppChannelRequest\.MessagingServiceSid"):
        update_channel(data, channels, clock, app_id, "WHATSAPP", {"MessagingServiceSid": "MG123"})


def test_delete_returns_the_channel_and_puts_it_back_to_its_default(data, channels, clock, app_id):
    written = update_channel(data, channels, clock, app_id, "SMS", {"Enabled": False, "SenderId": "KIZUNA"})

    deleted = delete_channel(data, channels, app_id, "SMS")

    assert deleted == written
    after = get_channel(data, channels, app_id, "SMS")
    assert after["Enabled"] is True and "SenderId" not in after and "Version" not in after


def test_get_channels_lists_the_four_channels_with_their_state(data, channels, clock, app_id):
    update_channel(data, channels, clock, app_id, "VOICE", {"Enabled": False})

    listed = get_channels(data, channels, app_id)["Channels"]

    assert set(listed) == {"SMS", "VOICE", "EMAIL", "WHATSAPP"}
    assert {c: d["Enabled"] for c, d in listed.items()} == {
        "SMS": True,
        "VOICE": False,
        "EMAIL": False,
        "WHATSAPP": True,
    }
    assert listed["VOICE"]["Version"] == 1


def test_channels_of_an_unknown_app_are_not_found(data, channels):
    with pytest.raises(NotFound):
        get_channel(data, channels, "nope", "SMS")


# -- the messaging policy -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"AllowedCountries": ["jp"]}, "MessagingPolicy.AllowedCountries"),
        ({"SenderIds": {"Japan": "KIZUNA"}}, "MessagingPolicy.SenderIds"),
        ({"SenderIds": {"JP": "KIZUNAKIZUNA"}}, "MessagingPolicy.SenderIds.JP"),
        ({"OriginationNumbers": {"JP": "0501234"}}, "MessagingPolicy.OriginationNumbers.JP"),
        ({"InboundRelays": [{"Url": "http://survey.example/hook"}]}, r"MessagingPolicy.InboundRelays\[0\].Url"),
        ({"InboundRelays": [{"Url": "https://s.example", "Channels": ["VOICE"]}]}, r"InboundRelays\[0\].Channels"),
        ({"DailySpendLimits": {"EMAIL": 10}}, "MessagingPolicy.DailySpendLimits"),
        ({"SenderRates": {"KIZUNA": -1}}, "MessagingPolicy.SenderRates.KIZUNA"),
        ({"SenderRates": {"KIZUNA": 0}}, "MessagingPolicy.SenderRates.KIZUNA"),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_field(data, channels, clock, app_id, policy, field):
    with pytest.raises(BadRequest, match=field):
        update_policy(data, channels, clock, app_id, policy)
    assert get_policy(data, channels, app_id) == {"ApplicationId": app_id}


def test_a_plain_http_relay_to_this_machine_is_allowed(data, channels, clock, app_id):
    written = update_policy(data, channels, clock, app_id, {"InboundRelays": [{"Url": "http://127.0.0.1:8080/hook"}]})

    assert written["InboundRelays"] == [{"Url": "http://127.0.0.1:8080/hook"}]


@pytest.mark.parametrize("url", ["http://localhost:80@survey.example/hook", "http://127.0.0.1:1@survey.example/"])
def test_a_plain_http_relay_that_only_looks_local_is_refused(data, channels, clock, app_id, url):
    with pytest.raises(BadRequest, match=r"InboundRelays\[0\].Url"):
        update_policy(data, channels, clock, app_id, {"InboundRelays": [{"Url": url}]})


def test_a_valid_policy_round_trips(data, channels, clock, app_id):
    policy = {
        "AllowedCountries": ["JP", "US"],
        "SenderIds": {"JP": "KIZUNA"},
        "OriginationNumbers": {"US": "+12125551234"},
        "SenderRates": {"KIZUNA": 5, "default": 1},
        "DailySpendLimits": {"SMS": 50.0, "WHATSAPP": 20.0},
        "PricePerMessage": {"JP": 0.09},
        "HelpMessage": "Kizuna: お問い合わせは 0120-000-000 まで",
        "InboundRelays": [{"Url": "https://survey.example/hook", "Channels": ["SMS"]}],
    }

    written = update_policy(data, channels, clock, app_id, policy)

    assert get_policy(data, channels, app_id) == written
    assert {k: v for k, v in written.items() if k not in ("ApplicationId", "LastModifiedDate")} == policy


def test_fields_outside_the_policy_are_dropped(data, channels, clock, app_id):
    written = update_policy(data, channels, clock, app_id, {"HelpMessage": "help", "Colour": "blue"})

    assert "Colour" not in written
