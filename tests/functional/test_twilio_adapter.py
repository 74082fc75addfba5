"""TwilioMessaging against the sandbox Twilio over loopback HTTP, through the real twilio SDK."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from kizuna.adapters.twilio_messaging import (
    TWILIO_ERROR_CLASSES,
    ErrorClass,
    Sender,
    TwilioMessaging,
    classify,
    make_twilio_client,
)
from kizuna.adapters.twilio_provider import TwilioMessagesProvider
from kizuna.domain.messages import OutboundMessage, SenderId
from kizuna.errors import PermanentProviderError, ProviderConfigurationError, RetryableProviderError
from kizuna.local.sandbox_twilio import VALID_FROM, SandboxTwilio

JP = "+819012345678"
MG = "MG" + "2" * 32
FROM = Sender.number(VALID_FROM)


@pytest.fixture
def sandbox() -> Iterator[SandboxTwilio]:
    with SandboxTwilio(messaging_service_sids=[MG], step_delays=(0.02, 0.02), timeout_hang_s=1.0) as sb:
        yield sb


@pytest.fixture
def twilio(sandbox: SandboxTwilio) -> TwilioMessaging:
    return TwilioMessaging(make_twilio_client(sandbox.account_sid, sandbox.auth_token, sandbox.base_url, 2.0))


def test_make_twilio_client_points_the_sdk_at_the_base_url(sandbox: SandboxTwilio) -> None:
    client = make_twilio_client(sandbox.account_sid, sandbox.auth_token, sandbox.base_url + "/", 3.0)
    assert client.api.base_url == sandbox.base_url
    assert client.http_client.timeout == 3.0
    default = make_twilio_client("AC" + "0" * 32, "token", None, 3.0)
    assert default.api.base_url == "https://api.twilio.com"


def test_send_fetch_and_segments(sandbox: SandboxTwilio, twilio: TwilioMessaging) -> None:
    receipt = twilio.send_sms(JP, "あ" * 200, FROM, status_callback=None)
    assert receipt.sid.startswith("SM") and receipt.status == "queued" and receipt.num_segments == 3
    assert twilio.send_sms(JP, "a" * 161, Sender.alphanumeric("KIZUNA"), None).num_segments == 2
    via_service = twilio.send_sms(JP, "€" * 80, Sender.service(MG), None, validity_period_s=600)
    assert via_service.status == "accepted" and via_service.num_segments == 1  # 160 septets, counted locally
    assert sandbox.requests[-1].validity_period == 600
    assert sandbox.wait_for_idle(5)
    state = twilio.fetch(receipt.sid)
    assert (state.status, state.error_code, state.terminal) == ("delivered", None, True)


def test_delivery_failure_is_visible_on_fetch(sandbox: SandboxTwilio, twilio: TwilioMessaging) -> None:
    sandbox.destination_outcomes["+819000000006"] = ("undelivered", 30006)
    receipt = twilio.send_sms("+819000000006", "hi", FROM, None)
    assert sandbox.wait_for_idle(5)
    state = twilio.fetch(receipt.sid)
    assert (state.status, state.error_code) == ("undelivered", 30006)
    assert state.error_message


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", "21211"),
        ("+15005550002", "21612"),
        ("+15005550003", "21408"),
        ("+15005550004", "21610"),
        ("+15005550009", "21614"),
    ],
)
def test_magic_recipients_are_permanent(twilio: TwilioMessaging, to: str, code: str) -> None:
    with pytest.raises(PermanentProviderError) as info:
        twilio.send_sms(to, "x", FROM, None)
    assert info.value.code == code


@pytest.mark.parametrize(
    ("sender", "error", "code"),
    [
        (Sender.number("+15005550001"), ProviderConfigurationError, "21212"),
        (Sender.number("+15005550007"), ProviderConfigurationError, "21606"),
        (Sender.number("+14155550123"), ProviderConfigurationError, "21606"),
        (Sender.number("+15005550008"), RetryableProviderError, "21611"),
    ],
)
def test_sender_errors(twilio: TwilioMessaging, sender: Sender, error: type, code: str) -> None:
    with pytest.raises(error) as info:
        twilio.send_sms(JP, "x", sender, None)
    assert info.value.code == code
    if isinstance(info.value, RetryableProviderError):
        assert info.value.retry_after > 0


def test_wrong_credentials_are_a_configuration_error(sandbox: SandboxTwilio) -> None:
    twilio = TwilioMessaging(make_twilio_client(sandbox.account_sid, "nope", sandbox.base_url, 2.0))
    with pytest.raises(ProviderConfigurationError) as info:
        twilio.send_sms(JP, "x", FROM, None)
    assert info.value.code == "20003"


def test_rate_limit_is_retryable(sandbox: SandboxTwilio, twilio: TwilioMessaging) -> None:
    sandbox.rate_limit_per_sender = 1
    twilio.send_sms(JP, "first", FROM, None)
    with pytest.raises(RetryableProviderError) as info:
        twilio.send_sms(JP, "second", FROM, None)
    assert (info.value.code, info.value.retry_after) == ("20429", 1.0)


def test_server_errors_are_retryable(sandbox: SandboxTwilio, twilio: TwilioMessaging) -> None:
    sandbox.fail_ratio_5xx = 1.0
    with pytest.raises(RetryableProviderError) as info:
        twilio.send_sms(JP, "x", FROM, None)
    assert info.value.code == "20503" and info.value.retry_after > 0


def test_timeout_is_ambiguous_and_find_sent_resolves_it(sandbox: SandboxTwilio) -> None:
    twilio = TwilioMessaging(make_twilio_client(sandbox.account_sid, sandbox.auth_token, sandbox.base_url, 0.3))
    started = datetime.now(UTC)
    sandbox.timeout_ratio = 1.0
    with pytest.raises(RetryableProviderError) as info:
        twilio.send_sms(JP, "did it go?", FROM, None)
    assert info.value.code == "timeout"
    sandbox.timeout_ratio = 0.0
    found = twilio.find_sent(JP, "did it go?", sent_after=started)
    assert found is not None and found.sid == sandbox.requests[0].sid
    assert twilio.find_sent(JP, "did it go?", sent_after=started, sender=Sender.alphanumeric("OTHER")) is None
    assert twilio.find_sent(JP, "something else", sent_after=started) is None
    assert twilio.find_sent("+819011112222", "did it go?", sent_after=started) is None
    later = started + timedelta(hours=1)
    assert twilio.find_sent(JP, "did it go?", sent_after=later) is None
    assert sandbox.count(JP, "did it go?") == 1  # resolved without a duplicate send


def test_find_sent_sees_a_message_that_is_still_queued(sandbox: SandboxTwilio, twilio: TwilioMessaging) -> None:
    sandbox.step_delays = (5.0, 0.0)  # stays queued: no date_sent yet
    started = datetime.now(UTC)
    receipt = twilio.send_sms(JP, "queued one", FROM, None)
    found = twilio.find_sent(JP, "queued one", started)
    assert found is not None and (found.sid, found.status) == (receipt.sid, "queued")


def test_connection_refused_is_retryable_and_not_ambiguous() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    twilio = TwilioMessaging(make_twilio_client("AC" + "0" * 32, "t", f"http://127.0.0.1:{port}", 0.5))
    with pytest.raises(RetryableProviderError) as info:
        twilio.send_sms(JP, "x", FROM, None)
    assert info.value.code == "unavailable"


def test_sender_must_choose_exactly_one() -> None:
    with pytest.raises(ValueError):
        Sender()
    with pytest.raises(ValueError):
        Sender(phone_number=VALID_FROM, messaging_service_sid=MG)


def test_validity_period_range_is_checked_locally(twilio: TwilioMessaging) -> None:
    with pytest.raises(ValueError):
        twilio.send_sms(JP, "x", FROM, None, validity_period_s=36001)


def test_classification_table_and_fallbacks() -> None:
    assert all(reason for _, _, reason in TWILIO_ERROR_CLASSES.values())
    assert classify(20429, 429) == (ErrorClass.RETRYABLE, 1.0)
    assert classify(None, 503)[0] is ErrorClass.RETRYABLE
    assert classify(99999, 400)[0] is ErrorClass.PERMANENT
    assert classify(None, 403)[0] is ErrorClass.CONFIGURATION
    assert classify(21606, 400)[0] is ErrorClass.CONFIGURATION


def _outbound(body: str, **fields) -> OutboundMessage:
    return OutboundMessage(
        message_id=fields.pop("message_id", "m1"),
        app_id="app",
        to=JP,
        body=body,
        request_id="r",
        accepted_at="2026-11-01T00:00:00Z",
        **fields,
    )


def test_port_wrapper_speaks_domain_types(sandbox: SandboxTwilio, twilio: TwilioMessaging) -> None:
    provider = TwilioMessagesProvider(twilio, default_sender=FROM)
    started = datetime.now(UTC)
    message = _outbound("あ" * 71)
    receipt = provider.send(message, None)
    assert (receipt.status, receipt.segments) == ("queued", 2)
    assert provider.send(_outbound("x", sender=SenderId(alphanumeric_id="KIZUNA")), None).status == "queued"
    assert sandbox.requests[-1].from_ == "KIZUNA"
    assert sandbox.wait_for_idle(5)
    assert provider.fetch_status(receipt.provider_id).status == "delivered"
    found = provider.find_sent(message, started)
    assert found is not None and found.provider_id == receipt.provider_id


def test_each_sender_is_its_own_bucket_at_the_operators_rate_or_twilios_default(twilio: TwilioMessaging) -> None:
    provider = TwilioMessagesProvider(twilio, default_sender=FROM, sender_rates={FROM.phone_number: 40.0})

    default = provider.throttle(_outbound("あ" * 71, segments=2))
    assert (default.key, default.rate_per_s, default.cost) == (f"twilio:{FROM.phone_number}", 40.0, 2.0)
    alpha = provider.throttle(_outbound("x", sender=SenderId(alphanumeric_id="KIZUNA")))
    assert (alpha.key, alpha.rate_per_s) == ("twilio:KIZUNA", 10.0)
    capped = provider.throttle(_outbound("x", rate_per_s=5.0))
    assert capped.rate_per_s == 5.0  # the app's own cap below the account's
