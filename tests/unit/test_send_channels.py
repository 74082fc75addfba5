"""SendMessages on every channel: what the app's channels, messaging policy, consent, the WhatsApp window and quiet
time decide for each recipient before anything reaches the queue, and what the queued message carries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kizuna.domain.messages import OutboundMessage
from kizuna.services.app_settings import update_settings
from kizuna.services.apps import create_app
from kizuna.services.endpoints import update_endpoint
from kizuna.services.send_messages import SendDeps, send_messages, send_users_messages

JP = "+819012345678"
US = "+15005550010"
SMS = {"SMSMessage": {"Body": "ご予約ありがとうございます", "MessageType": "TRANSACTIONAL"}}
PROMO = {"SMSMessage": {"Body": "セール開催中", "MessageType": "PROMOTIONAL"}}


@pytest.fixture
def deps(data, queue, clock, channels, consent) -> SendDeps:
    return SendDeps(data, data, queue, clock, templates=None, channels=channels, consent=consent)


@pytest.fixture
def app_id(data, clock) -> str:
    return create_app(data, clock, "arn:aws:mobiletargeting:us-east-1:123456789012", {"Name": "demo"}).id


def to(addresses: dict[str, str], config: dict) -> dict:
    """A MessageRequest to raw addresses ({address: channel})."""
    return {"Addresses": {a: {"ChannelType": c} for a, c in addresses.items()}, "MessageConfiguration": config}


def queued(queue) -> dict[str, OutboundMessage]:
    return {m.endpoint_id or m.to: m for m, _ in queue.messages}


# -- channels -------------------------------------------------------------------------------------------------------


def test_a_disabled_channel_refuses_its_sends_naming_the_channel(deps, queue, channels, app_id):
    channels.put_channel(app_id, "SMS", {"Enabled": False})

    result = send_messages(deps, app_id, to({JP: "SMS"}, SMS))["Result"][JP]

    assert result["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert "SMS channel is not enabled" in result["StatusMessage"]
    assert queue.messages == []


EMAIL = {
    "EmailMessage": {
        "SimpleEmail": {"Subject": {"Data": "ご予約"}, "TextPart": {"Data": "ありがとうございます"}},
    }
}


def test_email_is_refused_until_the_apps_email_channel_is_enabled(deps, queue, app_id):
    result = send_messages(deps, app_id, to({"hanako@example.com": "EMAIL"}, EMAIL))["Result"]["hanako@example.com"]

    assert result["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert "EMAIL channel is not enabled" in result["StatusMessage"]
    assert queue.messages == []


def test_email_is_sent_from_the_channels_address_once_enabled(deps, queue, channels, app_id):
    channels.put_channel(app_id, "EMAIL", {"Enabled": True, "FromAddress": "noreply@kizuna.example"})

    result = send_messages(deps, app_id, to({"hanako@example.com": "EMAIL"}, EMAIL))["Result"]["hanako@example.com"]

    assert result["DeliveryStatus"] == "SUCCESSFUL"
    assert queued(queue)["hanako@example.com"].email.from_address == "noreply@kizuna.example"


# -- the messaging policy -------------------------------------------------------------------------------------------


def test_allowed_countries_refuse_other_destinations_and_queue_the_allowed(deps, queue, channels, app_id):
    channels.put_policy(app_id, {"AllowedCountries": ["JP"]})

    result = send_messages(deps, app_id, to({US: "SMS", JP: "SMS"}, SMS))["Result"]

    assert result[US]["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert "MessagingPolicy.AllowedCountries" in result[US]["StatusMessage"]
    assert result[JP]["DeliveryStatus"] == "SUCCESSFUL"
    assert set(queued(queue)) == {JP}


def test_allowed_countries_apply_to_voice_too(deps, queue, channels, app_id):
    channels.put_policy(app_id, {"AllowedCountries": ["JP"]})
    voice = {"VoiceMessage": {"Body": "Your code is 1234"}}

    result = send_messages(deps, app_id, to({US: "VOICE"}, voice))["Result"][US]

    assert result["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert queue.messages == []


def test_sender_ids_by_country_go_to_that_country_only(deps, queue, channels, app_id):
    channels.put_policy(app_id, {"SenderIds": {"JP": "KIZUNA"}})

    send_messages(deps, app_id, to({JP: "SMS", US: "SMS"}, SMS))

    assert queued(queue)[JP].sender.alphanumeric_id == "KIZUNA"
    assert queued(queue)[US].sender.alphanumeric_id is None


def test_origination_numbers_by_country(deps, queue, channels, app_id):
    channels.put_policy(app_id, {"OriginationNumbers": {"JP": "+815012345678", "US": "+12125551234"}})

    send_messages(deps, app_id, to({JP: "SMS", US: "SMS"}, SMS))

    assert queued(queue)[JP].sender.from_number == "+815012345678"
    assert queued(queue)[US].sender.from_number == "+12125551234"


def test_the_sms_channels_sender_id_is_the_default_where_alphanumeric_senders_are_delivered(
    deps, queue, channels, app_id
):
    channels.put_channel(app_id, "SMS", {"Enabled": True, "SenderId": "KIZUNA"})

    send_messages(deps, app_id, to({JP: "SMS", US: "SMS"}, SMS))

    assert queued(queue)[JP].sender.alphanumeric_id == "KIZUNA"
    assert queued(queue)[US].sender.alphanumeric_id is None  # the US takes no alphanumeric sender IDs


def test_the_policys_sender_id_for_a_country_wins_over_the_channels(deps, queue, channels, app_id):
    channels.put_channel(app_id, "SMS", {"Enabled": True, "SenderId": "CHANNEL"})
    channels.put_policy(app_id, {"SenderIds": {"JP": "KIZUNA"}})

    send_messages(deps, app_id, to({JP: "SMS"}, SMS))

    assert queued(queue)[JP].sender.alphanumeric_id == "KIZUNA"


def test_the_requests_own_origination_number_wins_over_the_policy(deps, queue, channels, app_id):
    channels.put_policy(app_id, {"SenderIds": {"JP": "KIZUNA"}})
    config = {"SMSMessage": {**SMS["SMSMessage"], "OriginationNumber": "+815099998888"}}

    send_messages(deps, app_id, to({JP: "SMS"}, config))

    assert queued(queue)[JP].sender.from_number == "+815099998888"
    assert queued(queue)[JP].sender.alphanumeric_id is None


def test_a_sender_rate_cap_travels_with_the_message(deps, queue, channels, app_id):
    channels.put_policy(app_id, {"SenderIds": {"JP": "KIZUNA"}, "SenderRates": {"KIZUNA": 2, "default": 0.5}})

    send_messages(deps, app_id, to({JP: "SMS", US: "SMS"}, SMS))

    assert queued(queue)[JP].rate_per_s == 2
    assert queued(queue)[US].rate_per_s == 0.5  # the account's default sender


def test_the_daily_spend_cap_and_the_estimated_cost_travel_with_the_message(deps, queue, channels, app_id):
    channels.put_policy(app_id, {"DailySpendLimits": {"SMS": 5.0}})

    send_messages(deps, app_id, to({JP: "SMS"}, SMS))

    message = queued(queue)[JP]
    assert message.spend_cap_usd == 5.0
    assert message.cost_usd == pytest.approx(0.08)  # Japan's price per segment


def test_a_200_character_japanese_sms_is_three_segments_and_costs_three(deps, queue, app_id):
    body = "あ" * 200  # UCS-2: 67 characters per part

    send_messages(deps, app_id, to({JP: "SMS"}, {"SMSMessage": {"Body": body}}))

    message = queued(queue)[JP]
    assert message.segments == 3
    assert message.cost_usd == pytest.approx(3 * 0.08)


# -- consent --------------------------------------------------------------------------------------------------------


def test_an_address_on_the_keyword_opt_out_list_is_answered_opt_out(deps, queue, consent, clock, app_id):
    consent.set_opt_out(app_id, ["SMS"], JP, True, clock.now())

    result = send_messages(deps, app_id, to({JP: "SMS"}, SMS))["Result"][JP]

    assert result["DeliveryStatus"] == "OPT_OUT"
    assert queue.messages == []


def test_a_keyword_opt_out_holds_however_the_request_writes_the_number(deps, queue, consent, clock, app_id):
    consent.set_opt_out(app_id, ["SMS"], JP, True, clock.now())

    result = send_messages(deps, app_id, to({"+81 90-1234-5678": "SMS"}, SMS))["Result"]["+81 90-1234-5678"]

    assert result["DeliveryStatus"] == "OPT_OUT"


def test_an_sms_opt_out_does_not_stop_a_voice_call(deps, queue, consent, clock, app_id):
    consent.set_opt_out(app_id, ["SMS"], JP, True, clock.now())

    result = send_messages(deps, app_id, to({JP: "VOICE"}, {"VoiceMessage": {"Body": "確認コードは1234です"}}))

    assert result["Result"][JP]["DeliveryStatus"] == "SUCCESSFUL"


# -- WhatsApp -------------------------------------------------------------------------------------------------------


WA_TEXT = {"WhatsAppMessage": {"Body": "ご質問ありがとうございます"}}
WA_TEMPLATE = {
    "WhatsAppMessage": {
        "ContentSid": "HX0123456789abcdef0123456789abcdef",
        "ContentVariables": {"1": "{{User.UserAttributes.FirstName}}", "2": "12月1日"},
    }
}


@pytest.fixture
def wa_endpoints(data, clock, app_id):
    hanako = {"User": {"UserAttributes": {"FirstName": ["花子"]}}}
    opted_in = {"WhatsAppOptIn": ["true"]}
    update_endpoint(
        data, data, clock, app_id, "in", {"ChannelType": "WHATSAPP", "Address": JP, **hanako, "Attributes": opted_in}
    )
    update_endpoint(data, data, clock, app_id, "silent", {"ChannelType": "WHATSAPP", "Address": JP, **hanako})


def test_whatsapp_free_form_inside_the_window_is_queued_to_expire_when_it_closes(deps, queue, consent, clock, app_id):
    consent.record_inbound(app_id, "WHATSAPP", JP, clock.now() - timedelta(hours=1))

    result = send_messages(deps, app_id, to({JP: "WHATSAPP"}, WA_TEXT))["Result"][JP]

    assert result["DeliveryStatus"] == "SUCCESSFUL"
    message = queued(queue)[JP]
    assert message.body == "ご質問ありがとうございます"
    assert message.not_after == "2026-11-01T23:00:00.000Z"  # 24 hours after the recipient's last message


def test_whatsapp_free_form_outside_the_window_is_refused(deps, queue, consent, clock, app_id):
    consent.record_inbound(app_id, "WHATSAPP", JP, clock.now() - timedelta(hours=25))

    result = send_messages(deps, app_id, to({JP: "WHATSAPP"}, WA_TEXT))["Result"][JP]

    assert result["DeliveryStatus"] == "PERMANENT_FAILURE"
    assert "24 hours" in result["StatusMessage"]
    assert queue.messages == []


def test_a_whatsapp_template_to_an_endpoint_that_never_opted_in_is_opt_out(deps, queue, wa_endpoints, app_id):
    response = send_messages(deps, app_id, {"Endpoints": {"silent": {}}, "MessageConfiguration": WA_TEMPLATE})

    result = response["EndpointResult"]["silent"]
    assert result["DeliveryStatus"] == "OPT_OUT"
    assert "WhatsAppOptIn" in result["StatusMessage"]
    assert queue.messages == []


def test_a_whatsapp_template_to_an_opted_in_endpoint_is_queued_with_rendered_variables(
    deps, queue, wa_endpoints, app_id
):
    response = send_messages(deps, app_id, {"Endpoints": {"in": {}}, "MessageConfiguration": WA_TEMPLATE})

    assert response["EndpointResult"]["in"]["DeliveryStatus"] == "SUCCESSFUL"
    template = queued(queue)["in"].whatsapp_template
    assert template.content_sid == "HX0123456789abcdef0123456789abcdef"
    assert template.variables == {"1": "花子", "2": "12月1日"}


def test_a_whatsapp_template_outside_the_window_carries_no_free_form_expiry(deps, queue, wa_endpoints, app_id):
    send_messages(deps, app_id, {"Endpoints": {"in": {}}, "MessageConfiguration": WA_TEMPLATE})

    assert queued(queue)["in"].not_after is None


# -- quiet time -----------------------------------------------------------------------------------------------------


@pytest.fixture
def quiet_night(data, clock, app_id):
    update_settings(data, clock, app_id, {"QuietTime": {"Start": "21:00", "End": "08:00"}})
    clock.advance(timedelta(hours=14))  # 2026-11-01 14:00 UTC = 23:00 in Tokyo


def test_a_promotional_sms_in_quiet_time_waits_until_it_ends_in_the_recipients_zone(deps, queue, quiet_night, app_id):
    send_messages(deps, app_id, to({JP: "SMS"}, PROMO))

    assert queued(queue)[JP].not_before == "2026-11-01T23:00:00.000Z"  # 08:00 on 2 November, Asia/Tokyo


def test_a_transactional_sms_in_quiet_time_is_not_held(deps, queue, quiet_night, app_id):
    send_messages(deps, app_id, to({JP: "SMS"}, SMS))

    assert queued(queue)[JP].not_before is None


def test_the_endpoints_own_time_zone_wins_over_the_numbers(deps, data, queue, clock, app_id):
    update_settings(data, clock, app_id, {"QuietTime": {"Start": "21:00", "End": "08:00"}})
    london = {"Timezone": "Europe/London"}
    update_endpoint(data, data, clock, app_id, "abroad", {"ChannelType": "SMS", "Address": JP, "Demographic": london})
    update_endpoint(data, data, clock, app_id, "home", {"ChannelType": "SMS", "Address": "+819012345679"})
    clock.advance(timedelta(hours=3))  # 03:00 in London (GMT), 12:00 in Tokyo

    send_messages(deps, app_id, {"Endpoints": {"abroad": {}, "home": {}}, "MessageConfiguration": PROMO})

    assert queued(queue)["abroad"].not_before == "2026-11-01T08:00:00.000Z"  # 08:00 London
    assert queued(queue)["home"].not_before is None  # midday in Tokyo


# -- content per channel --------------------------------------------------------------------------------------------


def test_a_voice_message_is_spoken_in_its_language(deps, queue, app_id):
    voice = {"VoiceMessage": {"Body": "確認コードは1234です", "LanguageCode": "ja-JP"}}

    send_messages(deps, app_id, to({JP: "VOICE"}, voice))

    assert queued(queue)[JP].voice.language_code == "ja-JP"


def test_a_voice_message_defaults_to_us_english(deps, queue, app_id):
    send_messages(deps, app_id, to({US: "VOICE"}, {"VoiceMessage": {"Body": "Your code is 1234"}}))

    assert queued(queue)[US].voice.language_code == "en-US"


def test_endpoint_values_are_html_escaped_in_the_html_part_only(deps, data, queue, clock, channels, app_id):
    channels.put_channel(app_id, "EMAIL", {"Enabled": True, "FromAddress": "noreply@kizuna.example"})
    name = {"Name": ["<b>x</b>"]}
    update_endpoint(
        data, data, clock, app_id, "mail", {"ChannelType": "EMAIL", "Address": "hanako@example.com", "Attributes": name}
    )
    simple = {
        "Subject": {"Data": "Hello {{Attributes.Name}}"},
        "HtmlPart": {"Data": "<p>{{Attributes.Name}}</p>"},
        "TextPart": {"Data": "Hello {{Attributes.Name}}"},
    }

    send_messages(
        deps, app_id, {"Endpoints": {"mail": {}}, "MessageConfiguration": {"EmailMessage": {"SimpleEmail": simple}}}
    )

    message = queued(queue)["mail"]
    assert message.email.html == "<p>&lt;b&gt;x&lt;/b&gt;</p>"
    assert message.email.subject == "Hello <b>x</b>"
    assert message.body == "Hello <b>x</b>"


# -- SendUsersMessages ----------------------------------------------------------------------------------------------


def test_send_users_messages_answers_every_endpoint_of_every_user(deps, data, queue, clock, app_id):
    update_endpoint(data, data, clock, app_id, "phone", {"ChannelType": "SMS", "Address": JP, "User": {"UserId": "u1"}})
    old = {"ChannelType": "SMS", "Address": "+819012345679", "User": {"UserId": "u1"}, "OptOut": "ALL"}
    update_endpoint(data, data, clock, app_id, "old", old)
    update_endpoint(data, data, clock, app_id, "other", {"ChannelType": "SMS", "Address": US, "User": {"UserId": "u2"}})

    response = send_users_messages(deps, app_id, {"Users": {"u1": {}, "u2": {}}, "MessageConfiguration": SMS})

    result = response["Result"]
    assert set(result) == {"u1", "u2"}
    assert {e: r["DeliveryStatus"] for e, r in result["u1"].items()} == {"phone": "SUCCESSFUL", "old": "OPT_OUT"}
    assert result["u2"]["other"]["DeliveryStatus"] == "SUCCESSFUL"
    assert set(queued(queue)) == {"phone", "other"}


def test_send_users_messages_answers_a_user_without_endpoints_with_no_results(deps, queue, app_id):
    response = send_users_messages(deps, app_id, {"Users": {"nobody": {}}, "MessageConfiguration": SMS})

    assert response["Result"] == {"nobody": {}}
    assert queue.messages == []


def test_a_whatsapp_opt_in_attribute_saying_false_is_no_opt_in(deps, data, queue, clock, app_id):
    declined = {"WhatsAppOptIn": ["false"]}
    update_endpoint(
        data, data, clock, app_id, "declined", {"ChannelType": "WHATSAPP", "Address": JP, "Attributes": declined}
    )

    response = send_messages(deps, app_id, {"Endpoints": {"declined": {}}, "MessageConfiguration": WA_TEMPLATE})

    assert response["EndpointResult"]["declined"]["DeliveryStatus"] == "OPT_OUT"


def test_a_whatsapp_stop_outranks_the_endpoints_opt_in(deps, queue, consent, clock, wa_endpoints, app_id):
    consent.set_opt_out(app_id, ["WHATSAPP"], JP, True, clock.now())

    response = send_messages(deps, app_id, {"Endpoints": {"in": {}}, "MessageConfiguration": WA_TEMPLATE})

    assert response["EndpointResult"]["in"]["DeliveryStatus"] == "OPT_OUT"
    assert queue.messages == []


def test_a_requests_own_sender_id_is_not_used_where_alphanumeric_senders_are_not_delivered(deps, queue, app_id):
    config = {"SMSMessage": {**SMS["SMSMessage"], "SenderId": "KIZUNA"}}

    send_messages(deps, app_id, to({JP: "SMS", US: "SMS"}, config))

    assert queued(queue)[JP].sender.alphanumeric_id == "KIZUNA"
    assert queued(queue)[US].sender.alphanumeric_id is None
