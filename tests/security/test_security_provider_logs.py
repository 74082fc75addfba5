"""Provider SDKs log too: the twilio SDK logs every request's URL and query string at INFO. Kizuna looks sent
messages and calls up by their `To` number (a crashed send asking whether Twilio already has it, the reconciler),
so with the stock HTTP client a function whose log level is INFO (Lambda's ApplicationLogLevel, or a root logger
set to INFO) would log `GET .../Messages.json?To=%2B8190...` and `Query Params: {'To': '+8190...'}`.

make_twilio_client (every Twilio client Kizuna builds) gives the SDK a request logger that keeps warnings only.
Here each lookup runs against the sandbox Twilio with the root logger at INFO; the number must not appear. The
first test shows the stock client does log it, so the check can fail. (At DEBUG, libraries log more than URLs —
botocore logs request bodies, urllib3 every URL — so a DEBUG log level is not for production; docs/security.md.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from kizuna.adapters.twilio_messaging import Sender, TwilioMessaging, make_twilio_client
from kizuna.adapters.twilio_voice import TwilioVoiceProvider
from kizuna.domain.messages import OutboundMessage
from kizuna.local.sandbox_twilio import VALID_FROM, SandboxTwilio

NUMBER = "+819055550123"
FORMS = (NUMBER, NUMBER[1:], "9055550123")


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.records.append(record)

    def leaks(self) -> list[str]:
        texts = [f"{r.name}: {r.getMessage()}" for r in self.records if not r.name.startswith("kizuna.local")]
        return [t for t in texts if any(form in t for form in FORMS)]


@pytest.fixture
def sandbox() -> Iterator[SandboxTwilio]:
    with SandboxTwilio(step_delays=(0.01, 0.01)) as sb:
        yield sb


@pytest.fixture
def logs() -> Iterator[Everything]:
    handler = Everything()
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


def test_the_stock_twilio_http_client_logs_the_number_at_info(sandbox, logs):
    stock = Client(sandbox.account_sid, sandbox.auth_token, http_client=TwilioHttpClient(timeout=2.0))
    stock.api.base_url = sandbox.base_url
    list(stock.messages.stream(to=NUMBER, limit=5))
    assert logs.leaks(), "the twilio SDK no longer logs query strings: this module's premise has changed"


def test_message_lookups_by_number_are_not_logged(sandbox, logs):
    twilio = TwilioMessaging(make_twilio_client(sandbox.account_sid, sandbox.auth_token, sandbox.base_url, 2.0))
    before = datetime.now(UTC) - timedelta(seconds=1)
    receipt = twilio.send_sms(NUMBER, "ご予約ありがとうございます", Sender.number(VALID_FROM), status_callback=None)
    found = twilio.find_sent(NUMBER, "ご予約ありがとうございます", before)
    assert found is not None and found.sid == receipt.sid  # the lookup ran and found the message
    assert logs.leaks() == []


def test_call_lookups_by_number_are_not_logged(sandbox, logs):
    client = make_twilio_client(sandbox.account_sid, sandbox.auth_token, sandbox.base_url, 2.0)
    voice = TwilioVoiceProvider(client, VALID_FROM)
    message = OutboundMessage.model_validate(
        {
            "message_id": "m-voice-1",
            "app_id": "app",
            "channel": "VOICE",
            "to": NUMBER,
            "body": "明日の10時にご予約があります。",
            "request_id": "r-1",
            "accepted_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
        }
    )
    voice.find_sent(message, None)
    assert logs.leaks() == []
