"""Billed consultations in LOCAL MODE: the voice webhook's response time in-process, and Stripe calls per
consultation counted at localstripe.

Voice webhook: the real handler module (functions/voice_webhook) is invoked in-process with signed HTTP API events
(payload format 2.0), warm (the first invocation of each kind is the cold start and is left out): "incoming" finds
the booking by caller ID and claims the call (a GSI query and a conditional write on moto) and answers the <Dial>
TwiML; "status" stores an answered callback and moves the record to IN_CALL (a conditional put, a conditional
write, two delayed SQS messages for the warning and the cut). Every AWS call goes to moto on loopback, so these are
local-mode figures.

Stripe calls: whole consultations (book through the API, the sandbox rings the number and follows the TwiML, the
expert talks, the callbacks settle, localstripe sends its webhook), counting every request localstripe answered on
/v1/payment_intents.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from report import PYTHON, Section, table
from twilio.request_validator import RequestValidator

from kizuna.adapters.stripe_payments import make_stripe_client
from kizuna.local.lambda_context import LocalLambdaContext
from kizuna.local.sandbox_twilio import VALID_FROM, SandboxTwilio
from kizuna.local.system import LocalKizuna

NAME = "consultations"
CALLS = 300
CONSULTATIONS = 20
EXPERT = "+819033334444"
HOST = "bench.execute-api.local"
TARGET_P99_MS = 100.0


def _event(path: str, params: dict[str, str], auth_token: str, query: dict[str, str] | None = None) -> dict:
    """A signed HTTP API event (payload format 2.0), as the webhooks API hands Twilio's request to the function."""
    raw_query = urlencode(query) if query else ""
    url = f"https://{HOST}{path}" + (f"?{raw_query}" if raw_query else "")
    signature = RequestValidator(auth_token).compute_signature(url, params)
    event = {
        "version": "2.0",
        "routeKey": "ANY /webhooks/twilio/voice/{proxy+}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {
            "host": HOST,
            "x-forwarded-proto": "https",
            "x-twilio-signature": signature,
            "content-type": "application/x-www-form-urlencoded",
        },  # fmt: skip
        "requestContext": {
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "bench",
            "routeKey": "ANY /webhooks/twilio/voice/{proxy+}",
            "stage": "$default",
        },
        "body": urlencode(params),
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    return event


def _book(client: Any, app_id: str, caller: str, card: tuple[str, str]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return client.create_consultation(
        ApplicationId=app_id,
        ConsultationRequest={
            "ClientPhoneNumber": caller,
            "ExpertPhoneNumber": EXPERT,
            "StartTime": (now - timedelta(minutes=1)).isoformat(),
            "EndTime": (now + timedelta(hours=1)).isoformat(),
            "RatePerMinute": 100,
            "Currency": "JPY",
            "MaxMinutes": 10,
            "StripeCustomerId": card[0],
            "StripePaymentMethodId": card[1],
        },
    )["ConsultationResponse"]


def _card(kizuna: LocalKizuna) -> tuple[str, str]:
    stripe = make_stripe_client(kizuna.stripe.api_key, kizuna.stripe.base_url)
    customer = stripe.v1.customers.create(params={"email": "bench@example.jp"})
    method = stripe.v1.payment_methods.create(
        params={"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    stripe.v1.payment_methods.attach(method.id, params={"customer": customer.id})
    return customer.id, method.id


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _time_webhook(kizuna: LocalKizuna, app_id: str, card: tuple[str, str]) -> dict[str, list[float]]:
    client = kizuna.kizuna_client()
    handler = kizuna.handlers["voice_webhook"]
    token = kizuna.sandbox.auth_token
    context = LocalLambdaContext("voice_webhook", 10)
    bookings = [_book(client, app_id, f"+8190{10**7 + i}", card) for i in range(CALLS + 1)]
    timings: dict[str, list[float]] = {"incoming": [], "status": []}
    for i, booking in enumerate(bookings):
        caller, call_sid = booking["ClientPhoneNumber"], f"CA{i:032x}"
        incoming = _event("/webhooks/twilio/voice/incoming", {"CallSid": call_sid, "From": caller, "To": VALID_FROM,
                          "CallStatus": "ringing", "Direction": "inbound"}, token)  # fmt: skip
        answered = _event(
            "/webhooks/twilio/voice/status",
            {
                "CallSid": f"CB{i:032x}",
                "ParentCallSid": call_sid,
                "CallStatus": "in-progress",
                "Direction": "outbound-dial",
                "From": VALID_FROM,
                "To": EXPERT,
            },  # fmt: skip
            token,
            {"a": app_id, "c": booking["Id"]},
        )
        for kind, event in (("incoming", incoming), ("status", answered)):
            started = time.perf_counter()
            response = handler(event, context)
            elapsed = (time.perf_counter() - started) * 1000
            assert response["statusCode"] == 200, response
            if kind == "incoming":
                assert "<Dial" in response["body"], response["body"]
            if i > 0:  # the first of each is the cold start
                timings[kind].append(elapsed)
    return timings


def _stripe_calls(kizuna: LocalKizuna, app_id: str, card: tuple[str, str]) -> tuple[list[int], int]:
    client = kizuna.kizuna_client()
    kizuna.sandbox.calls.time_scale = 0.002
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", 125)
    per_consultation, captured = [], 0

    def intents() -> int:
        return sum(n for (_, path, _), n in kizuna.stripe.requests().items() if path.startswith("/v1/payment_intents"))

    for i in range(CONSULTATIONS):
        before = intents()
        caller = f"+8190{20**6 + i}"
        booking = _book(client, app_id, caller, card)
        sid = kizuna.sandbox.simulate_inbound_call(caller, VALID_FROM)
        kizuna.sandbox.calls.wait_for_call(sid, 20)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done = client.get_consultation(ApplicationId=app_id, ConsultationId=booking["Id"])["ConsultationResponse"]
            if done["PaymentStatus"] == "CAPTURED":
                captured += 1
                break
            time.sleep(0.05)
        per_consultation.append(intents() - before)
    time.sleep(1.5)  # localstripe sends payment_intent.succeeded a second after each capture
    return per_consultation, captured


def run() -> Section:
    section = Section(NAME, "Billed consultations in local mode (voice webhook, Stripe calls)",
                      f"{PYTHON} bench/run.py --only {NAME}")  # fmt: skip
    sandbox = SandboxTwilio(call_time_scale=0.002)  # 2 ms of real time per simulated second of a call
    with (
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),
        LocalKizuna(sandbox=sandbox) as kizuna,
    ):
        client = kizuna.kizuna_client()
        app_id = client.create_app(CreateApplicationRequest={"Name": "bench"})["ApplicationResponse"]["Id"]
        card = _card(kizuna)
        timings = _time_webhook(kizuna, app_id, card)
        total_before = sum(n for (_, p, _), n in kizuna.stripe.requests().items() if p.startswith("/v1/payment_i"))
        per_consultation, captured = _stripe_calls(kizuna, app_id, card)
        total_after = sum(n for (_, p, _), n in kizuna.stripe.requests().items() if p.startswith("/v1/payment_i"))
    rows = [
        [kind, len(values), f"{statistics.median(values):.1f}", f"{_percentile(values, 99):.1f}", f"{max(values):.1f}"]
        for kind, values in timings.items()
    ]
    calls_per = (total_after - total_before) / CONSULTATIONS
    p99 = _percentile(timings["incoming"], 99)  # the request Twilio waits on before the caller hears anything
    status_p99 = _percentile(timings["status"], 99)
    section.body += [
        "**Voice webhook, in-process, warm** (ms per invocation of the real handler; AWS is moto on loopback, about "
        "10 ms per call on this shared 2-core machine). `incoming` answers the TwiML the caller waits for (1 query, "
        "1 conditional put); `status` is an asynchronous callback nobody waits on (1 read, 2 conditional puts, 1 SQS "
        "batch for the timers, 1 Firehose batch for the event):",
        "",
        *table(["request", "n", "p50", "p99", "max"], rows),
        "",
        f"**Stripe calls per consultation** (requests localstripe answered on /v1/payment_intents, booking to "
        f"settlement including localstripe's webhook): {calls_per:.2f} over {CONSULTATIONS} consultations of 125 s "
        f"(¥100/min, 3 minutes captured); per consultation min {min(per_consultation)}, max {max(per_consultation)};"
        f" {captured}/{CONSULTATIONS} captured.",
    ]
    verdict_p99 = "meets" if p99 <= TARGET_P99_MS else "misses"
    section.verdict = (
        f"voice webhook (TwiML answer) p99 {p99:.1f} ms warm in local mode ({verdict_p99} the ≤ {TARGET_P99_MS:.0f} "
        f"ms target); status callbacks p99 {status_p99:.1f} ms (not on the caller's path); "
        f"{calls_per:.2f} Stripe calls per consultation (target 2: hold and capture/cancel)."
    )
    return section
