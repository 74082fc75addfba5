"""Inbound SMS and WhatsApp: consent keywords, HELP, the WhatsApp window, once-only handling, events and relays."""

from __future__ import annotations

from datetime import datetime

import pytest

from kizuna.adapters.memory import InMemoryEventSink
from kizuna.adapters.memory_sending import InMemoryConsentStore
from kizuna.domain.messages import RelayRequest
from kizuna.services.apps import create_app
from kizuna.services.endpoints import update_endpoint
from kizuna.services.event_stream import event_id
from kizuna.services.inbound import DEFAULT_HELP, InboundDeps, handle_inbound

PHONE = "+819012345678"
KIZUNA = "+815012345678"


class SeenSids:
    """The inbound ledger: a MessageSid is claimed once."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def claim_inbound(self, provider_id: str, now: datetime) -> bool:
        if provider_id in self.seen:
            return False
        self.seen.add(provider_id)
        return True

    def release_inbound(self, provider_id: str) -> None:
        self.seen.discard(provider_id)


class RelayInbox:
    """The relay queue: collects what would be forwarded, or refuses when told to (the queue is down)."""

    def __init__(self) -> None:
        self.relays: list[RelayRequest] = []
        self.down = False

    def enqueue_relays(self, relays, delay_s: int = 0) -> None:
        if self.down:
            raise ConnectionError("relay queue unavailable")
        self.relays.extend(relays)

    def dead_letter(self, relay: RelayRequest, reason: str) -> None:
        raise AssertionError("inbound handling never dead-letters")


@pytest.fixture
def app_id(data, clock) -> str:
    return create_app(data, clock, "arn:aws:mobiletargeting:us-east-1:123456789012", {"Name": "demo"}).id


@pytest.fixture
def relays() -> RelayInbox:
    return RelayInbox()


@pytest.fixture
def deps(data, channels, consent, relays, sink, clock) -> InboundDeps:
    return InboundDeps(
        endpoints=data, channels=channels, consent=consent, ledger=SeenSids(), relays=relays, events=sink, clock=clock
    )


def sms(body: str, sid: str = "SM00000000000000000000000000000001", sender: str = PHONE) -> dict[str, str]:
    return {"MessageSid": sid, "From": sender, "To": KIZUNA, "Body": body, "NumSegments": "1", "NumMedia": "0"}


def whatsapp(body: str, sid: str = "SM000000000000000000000000000000w1") -> dict[str, str]:
    return {"MessageSid": sid, "From": f"whatsapp:{PHONE}", "To": f"whatsapp:{KIZUNA}", "Body": body}


def opted_out(consent, app_id, channel: str = "SMS") -> bool:
    return consent.opted_out(app_id, channel, [PHONE]) == {PHONE}


# -- keywords -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["stop", "STOP", " Stop ", "ＳＴＯＰ", "unsubscribe", "Cancel", "quit\n"])
def test_a_stop_keyword_opts_the_address_out(deps, consent, app_id, body):
    result = handle_inbound(deps, app_id, "SMS", sms(body))

    assert opted_out(consent, app_id)
    assert result.keyword is not None


def test_a_stop_keyword_opts_out_of_the_channel_it_arrived_on_only(deps, consent, app_id):
    handle_inbound(deps, app_id, "SMS", sms("STOP"))

    assert opted_out(consent, app_id, "SMS")
    assert not opted_out(consent, app_id, "VOICE")
    assert not opted_out(consent, app_id, "WHATSAPP")


def test_stop_inside_a_sentence_is_a_message_not_a_keyword(deps, consent, sink, app_id):
    result = handle_inbound(deps, app_id, "SMS", sms("Stop please"))

    assert not opted_out(consent, app_id)
    assert result.keyword is None
    (event,) = sink.events
    assert event["event_type"] == "_SMS.RECEIVED"
    assert event["attributes"]["message_body"] == "Stop please"
    assert "keyword" not in event["attributes"]


def test_stopall_opts_out_of_every_phone_channel(deps, consent, app_id):
    handle_inbound(deps, app_id, "SMS", sms("STOPALL"))

    assert all(opted_out(consent, app_id, c) for c in ("SMS", "VOICE", "WHATSAPP"))


def test_start_opts_the_address_back_in(deps, consent, app_id):
    handle_inbound(deps, app_id, "SMS", sms("STOP", sid="SM1"))

    handle_inbound(deps, app_id, "SMS", sms("start", sid="SM2"))

    assert not opted_out(consent, app_id)


def test_an_opt_out_is_set_on_the_endpoints_with_that_address_and_channel(deps, data, clock, app_id):
    update_endpoint(data, data, clock, app_id, "mine", {"ChannelType": "SMS", "Address": PHONE})
    update_endpoint(data, data, clock, app_id, "other", {"ChannelType": "SMS", "Address": "+819012345679"})
    update_endpoint(data, data, clock, app_id, "call", {"ChannelType": "VOICE", "Address": PHONE})

    handle_inbound(deps, app_id, "SMS", sms("STOP"))

    assert data.get_endpoint(app_id, "mine")["OptOut"] == "ALL"
    assert data.get_endpoint(app_id, "other").get("OptOut", "NONE") == "NONE"
    assert data.get_endpoint(app_id, "call").get("OptOut", "NONE") == "NONE"  # STOP was for SMS only


def test_start_clears_the_endpoints_opt_out(deps, data, clock, app_id):
    update_endpoint(data, data, clock, app_id, "mine", {"ChannelType": "SMS", "Address": PHONE, "OptOut": "ALL"})

    handle_inbound(deps, app_id, "SMS", sms("START"))

    assert data.get_endpoint(app_id, "mine")["OptOut"] == "NONE"


def test_the_opt_out_event_names_the_endpoints_it_changed(deps, data, clock, sink, app_id):
    update_endpoint(data, data, clock, app_id, "mine", {"ChannelType": "SMS", "Address": PHONE})

    handle_inbound(deps, app_id, "SMS", sms("STOP"))

    assert [e["event_type"] for e in sink.events] == ["_SMS.RECEIVED", "_SMS.OPTOUT"]
    assert sink.events[1]["attributes"]["endpoint_ids"] == "mine"
    assert sink.events[1]["attributes"]["keyword"] == "STOP"


# -- HELP -----------------------------------------------------------------------------------------------------------


def test_help_is_answered_with_the_apps_help_message(deps, channels, app_id):
    channels.put_policy(app_id, {"HelpMessage": "Kizuna: お問い合わせは 0120-000-000 まで"})

    result = handle_inbound(deps, app_id, "SMS", sms("help"))

    assert result.reply == "Kizuna: お問い合わせは 0120-000-000 まで"


def test_help_without_a_help_message_gets_the_default(deps, app_id):
    assert handle_inbound(deps, app_id, "SMS", sms("HELP")).reply == DEFAULT_HELP


def test_an_ordinary_message_gets_no_reply(deps, app_id):
    assert handle_inbound(deps, app_id, "SMS", sms("ありがとう")).reply is None


# -- once only ------------------------------------------------------------------------------------------------------


def test_the_same_message_sid_twice_is_handled_once(deps, sink, relays, channels, app_id):
    channels.put_policy(app_id, {"InboundRelays": [{"Url": "https://survey.example/hook"}]})
    handle_inbound(deps, app_id, "SMS", sms("STOP"))

    replay = handle_inbound(deps, app_id, "SMS", sms("STOP"))

    assert replay.duplicate
    assert [e["event_type"] for e in sink.events] == ["_SMS.RECEIVED", "_SMS.OPTOUT"]
    assert len(relays.relays) == 1


def test_a_late_replay_of_stop_does_not_undo_a_later_start(deps, consent, app_id):
    handle_inbound(deps, app_id, "SMS", sms("STOP", sid="SM1"))
    handle_inbound(deps, app_id, "SMS", sms("START", sid="SM2"))

    handle_inbound(deps, app_id, "SMS", sms("STOP", sid="SM1"))  # Twilio retrying the first webhook

    assert not opted_out(consent, app_id)


def test_a_message_without_a_sid_is_not_acted_on(deps, consent, sink, app_id):
    params = sms("STOP")
    del params["MessageSid"]

    assert handle_inbound(deps, app_id, "SMS", params).duplicate
    assert not opted_out(consent, app_id)
    assert sink.events == []


def test_a_webhook_that_failed_is_handled_when_twilio_retries_it(deps, relays, channels, sink, app_id):
    channels.put_policy(app_id, {"InboundRelays": [{"Url": "https://survey.example/hook"}]})
    relays.down = True
    with pytest.raises(ConnectionError):
        handle_inbound(deps, app_id, "SMS", sms("回答: 5"))
    relays.down = False

    retry = handle_inbound(deps, app_id, "SMS", sms("回答: 5"))

    assert not retry.duplicate
    assert [r.url for r in relays.relays] == ["https://survey.example/hook"]
    assert [e["event_type"] for e in sink.events] == ["_SMS.RECEIVED"]


# -- WhatsApp -------------------------------------------------------------------------------------------------------


def test_a_whatsapp_message_opens_the_24_hour_window(deps, consent, clock, app_id):
    handle_inbound(deps, app_id, "WHATSAPP", whatsapp("質問があります"))

    assert consent.last_inbound(app_id, "WHATSAPP", [PHONE]) == {PHONE: clock.now()}


def test_an_sms_opens_no_whatsapp_window(deps, consent, app_id):
    handle_inbound(deps, app_id, "SMS", sms("質問があります"))

    assert consent.last_inbound(app_id, "WHATSAPP", [PHONE]) == {}


def test_a_whatsapp_stop_opts_out_of_whatsapp_for_the_bare_number(deps, consent, app_id):
    handle_inbound(deps, app_id, "WHATSAPP", whatsapp("STOP"))

    assert opted_out(consent, app_id, "WHATSAPP")
    assert not opted_out(consent, app_id, "SMS")


# -- relays ---------------------------------------------------------------------------------------------------------


def test_relays_are_enqueued_for_the_relays_configured_for_that_channel(deps, relays, channels, clock, app_id):
    channels.put_policy(
        app_id,
        {
            "InboundRelays": [
                {"Url": "https://sms.example/hook", "Channels": ["SMS"]},
                {"Url": "https://wa.example/hook", "Channels": ["WHATSAPP"]},
                {"Url": "https://all.example/hook"},
            ]
        },
    )
    params = sms("回答: 5")

    handle_inbound(deps, app_id, "SMS", params)

    assert [r.url for r in relays.relays] == ["https://sms.example/hook", "https://all.example/hook"]
    first = relays.relays[0]
    assert (first.params, first.app_id, first.channel, first.attempt) == (params, app_id, "SMS", 1)


def test_no_relay_is_enqueued_without_inbound_relays(deps, relays, app_id):
    handle_inbound(deps, app_id, "SMS", sms("回答: 5"))

    assert relays.relays == []


# -- events ---------------------------------------------------------------------------------------------------------


def test_events_carry_ids_derived_from_the_message_sid(deps, sink, app_id):
    handle_inbound(deps, app_id, "SMS", sms("STOP", sid="SMabc"))

    assert [e["event_id"] for e in sink.events] == [event_id("SMabc", "received"), event_id("SMabc", "OPTOUT")]


def test_a_whatsapp_message_is_recorded_as_whatsapp_received(deps, sink, app_id):
    handle_inbound(deps, app_id, "WHATSAPP", whatsapp("こんにちは", sid="SMwa"))

    (event,) = sink.events
    assert event["event_type"] == "_WHATSAPP.RECEIVED"
    assert event["event_id"] == event_id("SMwa", "received")
    assert event["attributes"]["origination_number"] == PHONE  # without the whatsapp: prefix
    assert event["attributes"]["destination_phone_number"] == KIZUNA


def test_handling_the_same_message_elsewhere_yields_the_same_event_ids(data, channels, clock, app_id):
    def run() -> list[str]:
        events = InMemoryEventSink()
        deps = InboundDeps(data, channels, InMemoryConsentStore(), SeenSids(), RelayInbox(), events, clock)
        handle_inbound(deps, app_id, "SMS", sms("STOP", sid="SMsame"))
        return [e["event_id"] for e in events.events]

    assert run() == run()
