"""Billed consultations end to end in local mode: the extended pinpoint client books through the API, the sandbox
Twilio rings the app's number and follows Kizuna's TwiML, localstripe holds and captures, and every capture is
counted at localstripe."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe

from kizuna.adapters.stripe_payments import make_stripe_client
from kizuna.clock import VirtualClock
from kizuna.local.lambda_context import LocalLambdaContext
from kizuna.local.sandbox_twilio import VALID_FROM, SandboxTwilio
from kizuna.local.system import LocalKizuna
from kizuna.services.consultations_reconcile import reconcile_consultations
from kizuna.settings import ConsultationsReconcilerSettings
from kizuna.wiring_consultations import consultation_deps, payments
from tests.e2e.support import until

# localstripe registers plain functions as aiohttp handlers, which aiohttp warns about on every request.
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Bare functions are deprecated")]
EVENTS = Path(__file__).resolve().parents[2] / "events"
EXPERT = "+819033334444"
CAPTURE = ("POST", "/v1/payment_intents/{id}/capture")
MAX_MINUTES = 10


@pytest.fixture(scope="module")
def kizuna() -> Iterator[LocalKizuna]:
    # One simulated second of call time is 2 ms of real time: a 10-minute call takes 1.2 s.
    with LocalKizuna(sandbox=SandboxTwilio(call_time_scale=0.002)) as k:
        yield k


@pytest.fixture(scope="module")
def client(kizuna: LocalKizuna) -> Any:
    return kizuna.kizuna_client()


@pytest.fixture
def app_id(client: Any) -> str:
    return client.create_app(CreateApplicationRequest={"Name": f"e2e-{secrets.token_hex(4)}"})["ApplicationResponse"][
        "Id"
    ]


@pytest.fixture(scope="module")
def card(kizuna: LocalKizuna) -> tuple[str, str]:
    """A Stripe customer with a saved card, as the marketplace would have set up."""
    s = make_stripe_client(kizuna.stripe.api_key, kizuna.stripe.base_url)
    customer = s.v1.customers.create(params={"email": "client@example.jp"})
    method = s.v1.payment_methods.create(
        params={"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    s.v1.payment_methods.attach(method.id, params={"customer": customer.id})
    return customer.id, method.id


def phone() -> str:
    return f"+8190{10**7 + secrets.randbelow(9 * 10**7)}"  # 090-1000-0000 .. 090-9999-9999


def book(client: Any, app_id: str, card: tuple[str, str], caller: str, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    request = {
        "ClientPhoneNumber": caller,
        "ExpertPhoneNumber": EXPERT,
        "StartTime": (now - timedelta(minutes=1)).isoformat(),
        "EndTime": (now + timedelta(hours=1)).isoformat(),
        "RatePerMinute": 100,
        "Currency": "JPY",
        "MaxMinutes": MAX_MINUTES,
        "CancellationFee": 300,
        "CancellationWindowMinutes": 60,
        "StripeCustomerId": card[0],
        "StripePaymentMethodId": card[1],
    } | overrides
    return client.create_consultation(ApplicationId=app_id, ConsultationRequest=request)["ConsultationResponse"]


def consultation(client: Any, app_id: str, consultation_id: str) -> dict[str, Any]:
    return client.get_consultation(ApplicationId=app_id, ConsultationId=consultation_id)["ConsultationResponse"]


def settled(client: Any, app_id: str, consultation_id: str) -> dict[str, Any]:
    final = ("CAPTURED", "RELEASED", "FAILED", "HOLD_EXPIRED")
    found = until(lambda: (c := consultation(client, app_id, consultation_id))["PaymentStatus"] in final and c)
    assert found, consultation(client, app_id, consultation_id)
    return found


def call(kizuna: LocalKizuna, caller: str, **options: Any) -> str:
    sid = kizuna.sandbox.simulate_inbound_call(caller, VALID_FROM, **options)
    assert kizuna.sandbox.calls.wait_for_call(sid, 20)
    return sid


@pytest.mark.parametrize(
    ("talk_s", "billed_s", "captured"),
    [(1, 1, 100), (59, 59, 100), (60, 60, 100), (61, 61, 200), (MAX_MINUTES * 60, 600, 1000)],
)
def test_a_call_is_billed_per_started_minute_and_captured_once(
    kizuna, client, app_id, card, talk_s, billed_s, captured
):
    # Given a booking (a hold for 10 minutes at ¥100) and an expert who talks `talk_s` seconds
    caller = phone()
    booking = book(client, app_id, card, caller)
    assert (booking["Status"], booking["PaymentStatus"], booking["HoldAmount"]) == ("BOOKED", "HELD", 1000)
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", talk_s)
    captures = kizuna.stripe.count(*CAPTURE)
    # When the client calls the app's number from the booked phone
    sid = call(kizuna, caller)
    # Then the expert was dialed with the Twilio number as caller ID, and exactly the minutes used were captured
    parent, child = kizuna.sandbox.calls.legs(sid)
    assert (child.from_, child.to, child.duration) == (VALID_FROM, EXPERT, talk_s)
    done = settled(client, app_id, booking["Id"])
    assert (done["Status"], done["PaymentStatus"]) == ("COMPLETED", "CAPTURED")
    assert (done["BilledSeconds"], done["AmountCaptured"]) == (billed_s, captured)
    assert kizuna.stripe.count(*CAPTURE) == captures + 1
    assert parent.said[0] == ("お電話ありがとうございます。ただいま専門家におつなぎします。", "ja-JP")


def test_a_call_that_would_run_past_the_hold_is_cut_by_time_limit(kizuna, client, app_id, card):
    caller = phone()
    booking = book(client, app_id, card, caller)
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", None)  # the expert would talk for ever
    sid = call(kizuna, caller)
    child = kizuna.sandbox.calls.legs(sid)[1]
    assert child.duration == MAX_MINUTES * 60
    done = settled(client, app_id, booking["Id"])
    assert done["AmountCaptured"] == done["HoldAmount"] == 1000


def test_zero_seconds_of_talk_release_the_hold(kizuna, client, app_id, card):
    caller = phone()
    booking = book(client, app_id, card, caller)
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", 0)
    captures = kizuna.stripe.count(*CAPTURE)
    call(kizuna, caller)
    done = settled(client, app_id, booking["Id"])
    assert (done["Status"], done["PaymentStatus"], done["BilledSeconds"]) == ("COMPLETED", "RELEASED", 0)
    assert kizuna.stripe.count(*CAPTURE) == captures


@pytest.mark.parametrize("outcome", ["busy", "no-answer"])
def test_an_expert_who_does_not_answer_releases_the_hold(kizuna, client, app_id, card, outcome):
    caller = phone()
    booking = book(client, app_id, card, caller)
    kizuna.sandbox.call_outcomes[EXPERT] = (outcome, None)
    sid = call(kizuna, caller)
    done = settled(client, app_id, booking["Id"])
    assert (done["Status"], done["PaymentStatus"]) == ("NO_ANSWER", "RELEASED")
    assert kizuna.sandbox.calls.call(sid).said[-1][0] == "専門家が応答できませんでした。料金は発生しません。"


def test_an_unknown_caller_enters_the_pin(kizuna, client, app_id, card):
    booking = book(client, app_id, card, phone())
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", 61)
    call(kizuna, phone(), digits=[booking["Pin"]])
    assert settled(client, app_id, booking["Id"])["AmountCaptured"] == 200


def test_the_call_log_keeps_every_callback_once_and_duplicates_capture_nothing(kizuna, client, app_id, card):
    # Given a completed, settled call
    caller = phone()
    booking = book(client, app_id, card, caller)
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", 61)
    sid = call(kizuna, caller)
    settled(client, app_id, booking["Id"])
    captures = kizuna.stripe.count(*CAPTURE)
    child = kizuna.sandbox.calls.legs(sid)[1]
    completed = child.callbacks[-1]
    # When Twilio delivers the completed callback three more times (signed, as retries are)
    engine = kizuna.sandbox.calls.engine
    for _ in range(3):
        assert engine.post_signed(child.status_callback, completed, "retry").status_code == 200
    # Then the log has each leg status once, and nothing more was captured
    log = consultation(client, app_id, booking["Id"])["CallLog"]
    child_statuses = [e["CallStatus"] for e in log if e["CallSid"] == child.sid]
    assert sorted(child_statuses) == sorted(["initiated", "ringing", "in-progress", "completed"])
    assert {e["CallSid"] for e in log} == {sid, child.sid}
    assert next(e for e in log if e["CallStatus"] == "completed" and e["CallSid"] == child.sid)["CallDuration"] == "61"
    assert kizuna.stripe.count(*CAPTURE) == captures


def test_stripe_is_called_twice_per_consultation_even_with_its_webhooks(kizuna, client, app_id, card):
    caller = phone()
    before = sum(n for (_, path, _), n in kizuna.stripe.requests().items() if path.startswith("/v1/payment_intents"))
    booking = book(client, app_id, card, caller)
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", 61)
    call(kizuna, caller)
    settled(client, app_id, booking["Id"])
    time.sleep(1.5)  # localstripe sends payment_intent.succeeded a second after the capture
    after = sum(n for (_, path, _), n in kizuna.stripe.requests().items() if path.startswith("/v1/payment_intents"))
    assert after - before == 2


def _deps_at(kizuna: LocalKizuna, moment: datetime, wrap_payments: Callable[[Any], Any] | None = None) -> Any:
    """The reconciler's real adapters (moto, sandbox, localstripe) with time moved to `moment`."""
    settings = ConsultationsReconcilerSettings()
    deps = consultation_deps(settings, clock=VirtualClock(moment))
    if wrap_payments is not None:
        deps.payments_factory = lambda: wrap_payments(payments(settings.stripe_secret_id))
    return deps


def test_the_reconciler_racing_the_callback_captures_once(kizuna, client, app_id, card):
    # Given a call whose status callbacks Twilio never delivered
    caller = phone()
    booking = book(client, app_id, card, caller)
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", 125)
    kizuna.sandbox.calls.callbacks_enabled = False
    try:
        sid = call(kizuna, caller)
    finally:
        kizuna.sandbox.calls.callbacks_enabled = True
    child = kizuna.sandbox.calls.legs(sid)[1]
    assert consultation(client, app_id, booking["Id"])["Status"] == "CALLING"
    captures = kizuna.stripe.count(*CAPTURE)
    # When the reconciler (asking Twilio) and the late completed callback settle it at the same moment
    later = datetime.now(UTC) + timedelta(minutes=MAX_MINUTES + 6)
    deps = _deps_at(kizuna, later)
    start = threading.Barrier(2)
    late = {**child.request_params("completed"), "CallDuration": str(child.duration)}

    def reconciler() -> None:
        start.wait()
        reconcile_consultations(deps)

    def callback() -> None:
        start.wait()
        kizuna.sandbox.calls.engine.post_signed(child.status_callback, late, "late")

    threads = [threading.Thread(target=reconciler), threading.Thread(target=callback)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    # Then one capture of 3 minutes
    done = settled(client, app_id, booking["Id"])
    assert done["AmountCaptured"] == 300
    assert kizuna.stripe.count(*CAPTURE) == captures + 1


class CrashAfterCapture:
    """Stripe captures; the function dies before it can record that (the process is gone, nothing is written)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def capture(self, *args: Any, **kwargs: Any) -> Any:
        self.real.capture(*args, **kwargs)
        raise SystemExit("crashed between capture and record")


def test_a_crash_between_capture_and_record_captures_once(kizuna, client, app_id, card):
    caller = phone()
    booking = book(client, app_id, card, caller)
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", 61)
    kizuna.sandbox.calls.callbacks_enabled = False
    try:
        call(kizuna, caller)
    finally:
        kizuna.sandbox.calls.callbacks_enabled = True
    captures = kizuna.stripe.count(*CAPTURE)
    # A reconciler run captures, then dies before recording the capture
    soon = datetime.now(UTC) + timedelta(minutes=MAX_MINUTES + 6)
    with pytest.raises(SystemExit):
        reconcile_consultations(_deps_at(kizuna, soon, CrashAfterCapture))
    assert consultation(client, app_id, booking["Id"])["PaymentStatus"] == "SETTLING"
    assert kizuna.stripe.count(*CAPTURE) == captures + 1
    # The next run, after the settlement's lease, reads the intent and records it; localstripe (which ignores
    # idempotency keys) would have refused a second capture, so Kizuna must not even try one
    reconcile_consultations(_deps_at(kizuna, soon + timedelta(minutes=5)))
    done = consultation(client, app_id, booking["Id"])
    assert (done["PaymentStatus"], done["AmountCaptured"]) == ("CAPTURED", 200)
    assert kizuna.stripe.count(*CAPTURE) == captures + 1


def test_an_expired_hold_is_not_captured_and_raises_an_alert(kizuna, client, app_id, card):
    caller = phone()
    booking = book(client, app_id, card, caller)
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", 61)
    kizuna.sandbox.calls.callbacks_enabled = False
    try:
        call(kizuna, caller)
    finally:
        kizuna.sandbox.calls.callbacks_enabled = True
    captures = kizuna.stripe.count(*CAPTURE)
    deps = _deps_at(kizuna, datetime.now(UTC) + timedelta(days=8))
    alerts: list[dict] = []
    sink = deps.events
    deps.events = type("Tee", (), {"emit": lambda self, events: (alerts.extend(events), sink.emit(events))})()
    reconcile_consultations(deps)
    done = consultation(client, app_id, booking["Id"])
    assert done["PaymentStatus"] == "HOLD_EXPIRED"
    assert kizuna.stripe.count(*CAPTURE) == captures
    assert [e["attributes"]["reason"] for e in alerts if e["event_type"] == "_consultation.alert"] == [
        "hold expired before capture"
    ]


def test_a_declined_card_refuses_the_booking_with_the_cards_reason(kizuna, client, app_id, card):
    with pytest.raises(client.exceptions.BadRequestException, match="Your card was declined"):
        book(client, app_id, (card[0], "pm_card_chargeCustomerFail"), phone())
    assert client.get_consultations(ApplicationId=app_id)["ConsultationsResponse"]["Item"] == []


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"RatePerMinute": -1}, "ConsultationRequest.RatePerMinute"),
        ({"Currency": "ABC"}, "ConsultationRequest.Currency"),
        ({"ExpertPhoneNumber": "not a number"}, "ConsultationRequest.ExpertPhoneNumber"),
        ({"EndTime": "2020-01-01T00:00:00+00:00"}, "ConsultationRequest"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(kizuna, client, app_id, card, override, field):
    intents = kizuna.stripe.count("POST", "/v1/payment_intents")
    with pytest.raises(client.exceptions.BadRequestException, match=field.replace(".", r"\.")):
        book(client, app_id, card, phone(), **override)
    assert client.get_consultations(ApplicationId=app_id)["ConsultationsResponse"]["Item"] == []
    assert kizuna.stripe.count("POST", "/v1/payment_intents") == intents


def test_a_wrong_type_is_refused_by_the_model_before_the_service(kizuna, client, app_id, card):
    with pytest.raises(Exception, match="RatePerMinute"):  # botocore refuses it client-side; the server too
        book(client, app_id, card, phone(), RatePerMinute="cheap")
    raw = requests.post(f"{kizuna.base_url}/v1/apps/{app_id}/consultations", data="{}", timeout=5)
    assert raw.status_code == 403  # unsigned: refused before anything is parsed


def test_cancelling_late_captures_the_fee_and_early_releases(kizuna, client, app_id, card):
    now = datetime.now(UTC)
    late = book(client, app_id, card, phone(), StartTime=(now + timedelta(minutes=30)).isoformat())
    early = book(client, app_id, card, phone(), StartTime=(now + timedelta(hours=3)).isoformat(),
                 EndTime=(now + timedelta(hours=4)).isoformat())  # fmt: skip
    cancel = client.cancel_consultation
    assert cancel(ApplicationId=app_id, ConsultationId=early["Id"])["ConsultationResponse"]["PaymentStatus"] == (
        "RELEASED"
    )
    fee = cancel(ApplicationId=app_id, ConsultationId=late["Id"])["ConsultationResponse"]
    assert (fee["Status"], fee["PaymentStatus"], fee["AmountCaptured"]) == ("CANCELED", "CAPTURED", 300)
    with pytest.raises(client.exceptions.NotFoundException):
        cancel(ApplicationId=app_id, ConsultationId="0" * 32)


def test_the_warning_moves_both_parties_into_a_room_for_the_last_minute(kizuna, client, app_id, card):
    from kizuna.services.consultations_timers import fire
    from kizuna.settings import ConsultationTimersSettings

    caller = phone()
    booking = book(client, app_id, card, caller)
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", None)
    sid = kizuna.sandbox.simulate_inbound_call(caller, VALID_FROM)
    assert until(lambda: consultation(client, app_id, booking["Id"])["Status"] == "IN_CALL", 30)
    deps = consultation_deps(ConsultationTimersSettings())
    # The warning redirects the expert's leg, whose sid arrives with its own callback, a moment after IN_CALL on a
    # loaded machine: the timer would then (rightly) skip. It fires a minute before the end, long after both.
    assert until(lambda: getattr(deps.store.get(app_id, booking["Id"]), "dial_call_sid", None), 30)
    assert fire(deps, app_id, booking["Id"], "warn", datetime.now(UTC)) == "warned"
    assert kizuna.sandbox.calls.wait_for_call(sid, 20)
    parent, child = kizuna.sandbox.calls.legs(sid)
    assert ("残り1分です。", "ja-JP") in parent.said and ("残り1分です。", "ja-JP") in child.said
    done = settled(client, app_id, booking["Id"])
    assert done["AmountCaptured"] <= done["HoldAmount"]


# forged and replayed webhooks ----------------------------------------------------------------------------------
def _load(name: str) -> tuple[dict, dict]:
    return json.loads((EVENTS / f"{name}.json").read_text()), json.loads((EVENTS / f"{name}.expected.json").read_text())


def test_a_forged_voice_callback_is_forbidden(kizuna):
    event, expected = _load("twilio_voice_status_completed_forged")
    response = kizuna.handlers["voice_webhook"](event, LocalLambdaContext("voice_webhook", 10))
    assert (response["statusCode"], response["body"]) == (expected["statusCode"], expected["body"])


def test_a_forged_stripe_event_is_refused(kizuna):
    event, expected = _load("stripe_payment_intent_succeeded_forged")
    response = kizuna.handlers["stripe_webhook"](event, LocalLambdaContext("stripe_webhook", 10))
    assert (response["statusCode"], response["body"]) == (expected["statusCode"], expected["body"])


def test_forged_twilio_and_stripe_requests_change_nothing(kizuna, client, app_id, card):
    # Given a consultation in a call
    caller = phone()
    booking = book(client, app_id, card, caller)
    before = consultation(client, app_id, booking["Id"])
    voice = f"{kizuna.base_url}/webhooks/twilio/voice"
    # When someone posts a completed callback and an incoming call without Twilio's signature
    forged = {"CallSid": "CAforged", "ParentCallSid": "CAx", "CallStatus": "completed", "CallDuration": "600"}
    status = requests.post(f"{voice}/status?a={app_id}&c={booking['Id']}", data=forged, timeout=5,
                           headers={"X-Twilio-Signature": "Zm9yZ2Vk"})  # fmt: skip
    incoming = requests.post(f"{voice}/incoming", data={"From": caller, "To": VALID_FROM, "CallSid": "CAx"}, timeout=5)
    # And a Stripe event signed with the wrong secret, and a correct one older than five minutes
    payload = json.dumps({"id": "evt_forged", "object": "event", "type": "payment_intent.canceled",
                          "data": {"object": {"id": booking["PaymentIntentId"], "object": "payment_intent",
                                              "metadata": {"kizuna_app": app_id,
                                                           "kizuna_consultation": booking["Id"]}}}})  # fmt: skip
    wrong = _stripe_post(kizuna, payload, "whsec_wrong", int(time.time()))
    old = _stripe_post(kizuna, payload, kizuna.stripe_webhook_secret, int(time.time()) - 301)
    # Then each is refused and the consultation is as it was
    assert (status.status_code, incoming.status_code, wrong.status_code, old.status_code) == (403, 403, 400, 400)
    assert "<Dial" not in incoming.text
    after = consultation(client, app_id, booking["Id"])
    assert replace_volatile(after) == replace_volatile(before) and after["CallLog"] == []
    # While the same event signed correctly and on time is accepted (and read from Stripe: the hold is intact)
    fresh = _stripe_post(kizuna, payload, kizuna.stripe_webhook_secret, int(time.time()))
    assert fresh.status_code == 200 and fresh.json()["outcome"] == "reconciled"
    assert consultation(client, app_id, booking["Id"])["PaymentStatus"] == "HELD"


def replace_volatile(c: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in c.items() if k != "CallLog"}


def _stripe_post(kizuna: LocalKizuna, payload: str, secret: str, timestamp: int) -> requests.Response:
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return requests.post(
        f"{kizuna.base_url}/webhooks/stripe/events",
        data=payload.encode(),
        headers={"Stripe-Signature": f"t={timestamp},v1={signature}", "Content-Type": "application/json"},
        timeout=5,
    )


def test_revenue_kpi_counts_what_was_captured(kizuna, client, app_id, card):
    caller = phone()
    booking = book(client, app_id, card, caller)
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", 125)
    call(kizuna, caller)
    settled(client, app_id, booking["Id"])
    kpi = client.get_consultation_revenue_kpi(ApplicationId=app_id)["ApplicationDateRangeKpiResponse"]
    [row] = kpi["KpiResult"]["Rows"]
    assert {v["Key"]: v["Value"] for v in row["Values"]} == {"Revenue": "300", "Consultations": "1"}
