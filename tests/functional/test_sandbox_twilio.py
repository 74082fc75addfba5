"""The sandbox Twilio, driven by the real twilio SDK over HTTP on loopback (no mocks)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from kizuna.clock import VirtualClock
from kizuna.local.sandbox_twilio import VALID_FROM, SandboxTwilio

JP = "+819012345678"
MG = "MG" + "1" * 32


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


class Receiver:
    """A tiny webhook receiver: records every POST; `fail_first` answers 500 to the first N requests."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.fail_first = 0
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/twilio/status"

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            self.calls.append((request.url, dict(request.form), dict(request.headers)))
            failing = self.fail_first > 0
            self.fail_first -= 1 if failing else 0
        return Response("boom" if failing else "", status=500 if failing else 204)(environ, start_response)

    def statuses(self, sid: str | None = None) -> list[str]:
        return [form["MessageStatus"] for _, form, _ in self.calls if sid is None or form["MessageSid"] == sid]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def sandbox() -> Iterator[SandboxTwilio]:
    with SandboxTwilio(messaging_service_sids=[MG], step_delays=(0.02, 0.02), timeout_hang_s=1.0) as sb:
        yield sb


@pytest.fixture
def client(sandbox: SandboxTwilio) -> Client:
    c = Client(sandbox.account_sid, sandbox.auth_token, http_client=TwilioHttpClient(timeout=2))
    c.api.base_url = sandbox.base_url
    return c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _error(fn: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as info:
        fn()
    return info.value


def test_start_stop_picks_a_free_port_and_shuts_down() -> None:
    sb = SandboxTwilio()
    url = sb.start()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and sb.port != 0
    assert requests.get(url + "/", timeout=2).status_code == 401
    sb.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/", timeout=1)
    sb.stop()  # idempotent


def test_create_returns_twilio_message_json(sandbox: SandboxTwilio, client: Client) -> None:
    raw = requests.post(
        f"{sandbox.base_url}/2010-04-01/Accounts/{sandbox.account_sid}/Messages.json",
        data={"To": JP, "From": VALID_FROM, "Body": "あ" * 200},
        auth=(sandbox.account_sid, sandbox.auth_token),
        timeout=2,
    )
    assert raw.status_code == 201
    body = raw.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", body["sid"])
    assert body["account_sid"] == sandbox.account_sid
    assert (body["to"], body["from"], body["status"], body["direction"]) == (JP, VALID_FROM, "queued", "outbound-api")
    assert body["num_segments"] == "3" and body["error_code"] is None and body["date_sent"] is None
    assert parsedate_to_datetime(body["date_created"]).tzinfo is not None
    assert body["uri"] == f"/2010-04-01/Accounts/{sandbox.account_sid}/Messages/{body['sid']}.json"

    msg = client.messages.create(to=JP, from_="KIZUNA", body="hello")  # alphanumeric sender ID
    assert msg.status == "queued" and msg.num_segments == "1" and msg.from_ == "KIZUNA"
    via_service = client.messages.create(to=JP, messaging_service_sid=MG, body="hi")
    assert via_service.status == "accepted" and via_service.num_segments == "0"
    assert sandbox.wait_for_idle(5)
    fetched = client.messages(via_service.sid).fetch()
    assert fetched.status == "delivered" and fetched.from_ == VALID_FROM and fetched.num_segments == "1"
    assert fetched.date_sent is not None and fetched.price is not None


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+15005550001", 21211),
        ("+15005550002", 21612),
        ("+15005550003", 21408),
        ("+15005550004", 21610),
        ("+15005550009", 21614),
        ("not-a-number", 21211),
    ],
)
def test_magic_to_numbers(client: Client, sandbox: SandboxTwilio, to: str, code: int) -> None:
    err = _error(lambda: client.messages.create(to=to, from_=VALID_FROM, body="x"))
    assert (err.status, err.code) == (400, code)
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("from_", "code"),
    [
        ("+15005550001", 21212),
        ("+15005550007", 21606),
        ("+15005550008", 21611),
        ("+14155550123", 21606),
        ("12345", 21606),
        ("TWELVECHARSX", 21606),
    ],
)
def test_magic_and_unknown_from_numbers(client: Client, from_: str, code: int) -> None:
    err = _error(lambda: client.messages.create(to=JP, from_=from_, body="x"))
    assert (err.status, err.code) == (400, code)


def test_wrong_credentials_get_20003(sandbox: SandboxTwilio) -> None:
    bad = Client(sandbox.account_sid, "wrong-token")
    bad.api.base_url = sandbox.base_url
    err = _error(lambda: bad.messages.create(to=JP, from_=VALID_FROM, body="x"))
    assert (err.status, err.code) == (401, 20003)


def test_unknown_message_is_404(client: Client) -> None:
    err = _error(lambda: client.messages("SM" + "0" * 32).fetch())
    assert (err.status, err.code) == (404, 20404)


def test_status_callbacks_arrive_in_order_and_are_signed(
    sandbox: SandboxTwilio, client: Client, receiver: Receiver
) -> None:
    sids = [
        client.messages.create(to=JP, from_=VALID_FROM, body=f"m{i}", status_callback=receiver.url).sid
        for i in range(5)
    ]
    assert sandbox.wait_for_idle(5)
    validator = RequestValidator(sandbox.auth_token)
    for sid in sids:
        assert receiver.statuses(sid) == ["queued", "sent", "delivered"]
    for url, form, headers in receiver.calls:
        assert url == receiver.url
        assert form["SmsStatus"] == form["MessageStatus"] and form["SmsSid"] == form["MessageSid"]
        assert form["AccountSid"] == sandbox.account_sid and form["ApiVersion"] == "2010-04-01"
        assert (form["From"], form["To"]) == (VALID_FROM, JP)
        assert validator.validate(url, form, headers["X-Twilio-Signature"])
        assert not validator.validate(url, {**form, "MessageStatus": "failed"}, headers["X-Twilio-Signature"])
        assert not RequestValidator("other-token").validate(url, form, headers["X-Twilio-Signature"])
    delivered = [f for _, f, _ in receiver.calls if f["MessageStatus"] == "delivered"]
    assert all(re.fullmatch(r"\d{10}", f["RawDlrDoneDate"]) for f in delivered)


def test_undelivered_and_failed_outcomes_carry_error_codes(
    sandbox: SandboxTwilio, client: Client, receiver: Receiver
) -> None:
    sandbox.destination_outcomes["+819000000001"] = ("undelivered", 30003)
    sandbox.destination_outcomes["+819000000002"] = ("failed", 30006)
    a = client.messages.create(to="+819000000001", from_=VALID_FROM, body="a", status_callback=receiver.url)
    b = client.messages.create(to="+819000000002", from_=VALID_FROM, body="b", status_callback=receiver.url)
    assert sandbox.wait_for_idle(5)
    assert receiver.statuses(a.sid) == ["queued", "sent", "undelivered"]
    assert receiver.statuses(b.sid) == ["queued", "failed"]
    last = [f for _, f, _ in receiver.calls if f["MessageSid"] == b.sid][-1]
    assert last["ErrorCode"] == "30006"
    fetched = client.messages(a.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)


def test_validity_period_expiry_fails_with_30036(sandbox: SandboxTwilio, client: Client) -> None:
    sandbox.step_delays = (1.05, 0.01)
    msg = client.messages.create(to=JP, from_=VALID_FROM, body="late", validity_period=1)
    assert sandbox.wait_for_idle(5)
    assert client.messages(msg.sid).fetch().error_code == 30036
    err = _error(lambda: client.messages.create(to=JP, from_=VALID_FROM, body="x", validity_period=36001))
    assert err.code == 90007


def test_callbacks_are_retried_on_5xx(sandbox: SandboxTwilio, client: Client, receiver: Receiver) -> None:
    receiver.fail_first = 2
    msg = client.messages.create(to=JP, from_=VALID_FROM, body="retry", status_callback=receiver.url)
    assert sandbox.wait_for_idle(5)
    assert receiver.statuses(msg.sid) == ["queued", "queued", "queued", "sent", "delivered"]
    attempts = [(a.params["MessageStatus"], a.status_code, a.attempt) for a in sandbox.callback_log]
    assert attempts[:3] == [("queued", 500, 1), ("queued", 500, 2), ("queued", 204, 3)]


def test_callbacks_can_be_disabled(sandbox: SandboxTwilio, client: Client, receiver: Receiver) -> None:
    sandbox.callbacks_enabled = False
    client.messages.create(to=JP, from_=VALID_FROM, body="quiet", status_callback=receiver.url)
    assert sandbox.wait_for_idle(5)
    assert receiver.calls == []


def test_rate_limit_per_sender_answers_20429(sandbox: SandboxTwilio, client: Client) -> None:
    sandbox.rate_limit_per_sender = 2
    client.messages.create(to=JP, from_=VALID_FROM, body="1")
    client.messages.create(to=JP, from_=VALID_FROM, body="2")
    err = _error(lambda: client.messages.create(to=JP, from_=VALID_FROM, body="3"))
    assert (err.status, err.code) == (429, 20429)
    client.messages.create(to=JP, from_="KIZUNA", body="other sender has its own budget")
    assert [r.body for r in sandbox.requests if r.from_ == VALID_FROM] == ["1", "2"]


def test_injected_5xx_and_20429(sandbox: SandboxTwilio, client: Client) -> None:
    sandbox.fail_ratio_5xx = 1.0
    assert _error(lambda: client.messages.create(to=JP, from_=VALID_FROM, body="x")).status == 503
    sandbox.fail_ratio_5xx, sandbox.fail_ratio_20429 = 0.0, 1.0
    assert _error(lambda: client.messages.create(to=JP, from_=VALID_FROM, body="x")).code == 20429
    assert sandbox.count(JP, "x") == 0


def test_timeout_accepts_then_never_answers(sandbox: SandboxTwilio) -> None:
    impatient = Client(sandbox.account_sid, sandbox.auth_token, http_client=TwilioHttpClient(timeout=0.3))
    impatient.api.base_url = sandbox.base_url
    sandbox.timeout_ratio = 1.0
    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.messages.create(to=JP, from_=VALID_FROM, body="ambiguous")
    sandbox.timeout_mode = "close"
    with pytest.raises(requests.exceptions.ConnectionError):
        impatient.messages.create(to=JP, from_=VALID_FROM, body="ambiguous")
    assert sandbox.count(JP, "ambiguous") == 2  # Twilio accepted both although the client saw errors


def test_list_filters_and_paging(sandbox: SandboxTwilio, client: Client) -> None:
    for i in range(5):
        client.messages.create(to=JP, from_=VALID_FROM, body=f"p{i}")
    client.messages.create(to="+819099999999", from_=VALID_FROM, body="other")
    assert sandbox.wait_for_idle(5)
    listed = client.messages.list(to=JP, page_size=2)
    assert sorted(m.body for m in listed) == [f"p{i}" for i in range(5)]
    page = client.messages.page(to=JP, page_size=2)
    assert len(list(page)) == 2 and page.next_page_url
    today = datetime.now(UTC)
    assert len(client.messages.list(date_sent_after=today.replace(hour=0, minute=0, second=0))) == 6
    assert client.messages.list(date_sent=datetime(2001, 1, 1)) == []
    assert [m.body for m in client.messages.list(from_=VALID_FROM, to="+819099999999")] == ["other"]


def test_request_log_and_counter(sandbox: SandboxTwilio, client: Client, receiver: Receiver) -> None:
    client.messages.create(to=JP, from_=VALID_FROM, body="same", status_callback=receiver.url)
    client.messages.create(to=JP, from_=VALID_FROM, body="same")
    assert sandbox.count(JP, "same") == 2 and sandbox.count(JP, "different") == 0
    first = sandbox.requests[0]
    assert (first.to, first.from_, first.body, first.status_callback) == (JP, VALID_FROM, "same", receiver.url)
    assert first.sid.startswith("SM")


def test_seeded_failure_ratio_is_deterministic() -> None:
    def outcomes(seed: int) -> list[str]:
        with SandboxTwilio(seed=seed, step_delays=(0, 0)) as sb:
            sb.failure_ratio = 0.5
            c = Client(sb.account_sid, sb.auth_token)
            c.api.base_url = sb.base_url
            sids = [c.messages.create(to=JP, from_=VALID_FROM, body=str(i)).sid for i in range(12)]
            assert sb.wait_for_idle(5)
            return [sb.messages[s].status for s in sids]

    first = outcomes(7)
    assert first == outcomes(7)
    assert {"delivered", "undelivered"} == set(first)


def test_clock_is_injectable(client: Client) -> None:
    clock = VirtualClock(datetime(2026, 11, 1, 9, 0, tzinfo=UTC))
    with SandboxTwilio(clock=clock) as sb:
        c = Client(sb.account_sid, sb.auth_token)
        c.api.base_url = sb.base_url
        msg = c.messages.create(to=JP, from_=VALID_FROM, body="t")
        assert msg.date_created == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def test_simulate_inbound_posts_a_signed_webhook(sandbox: SandboxTwilio, receiver: Receiver, client: Client) -> None:
    response = sandbox.simulate_inbound(to=VALID_FROM, from_=JP, body="STOP", url=receiver.url)
    assert response.status_code == 204
    url, form, headers = receiver.calls[0]
    assert (form["Body"], form["From"], form["To"], form["NumMedia"]) == ("STOP", JP, VALID_FROM, "0")
    assert form["AccountSid"] == sandbox.account_sid and form["MessageSid"].startswith("SM")
    assert RequestValidator(sandbox.auth_token).validate(url, form, headers["X-Twilio-Signature"])
    inbound = client.messages(form["MessageSid"]).fetch()
    assert (inbound.direction, inbound.status) == ("inbound", "received")
