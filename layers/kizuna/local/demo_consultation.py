"""`make demo`, part two: one billed consultation — booked (a Stripe hold at localstripe), called (the sandbox
Twilio rings the app's number from the client's phone, Kizuna bridges to the expert), settled (the minutes used
captured, the rest released) — printed in a few lines."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from kizuna.adapters.stripe_payments import make_stripe_client
from kizuna.domain.consultation_money import format_amount
from kizuna.local.sandbox_twilio import VALID_FROM
from kizuna.local.system import LocalKizuna

CLIENT, EXPERT = "+819011112222", "+819033334444"
TALK_S = 125  # 2 min 5 s: three started minutes
FINAL = ("CAPTURED", "RELEASED", "FAILED", "HOLD_EXPIRED")


def run_consultation(kizuna: LocalKizuna, app_id: str, out: Any, timeout_s: float = 30.0) -> int:
    kizuna.sandbox.calls.time_scale = 0.01  # a simulated second of the call is 10 ms here
    kizuna.sandbox.call_outcomes[EXPERT] = ("completed", TALK_S)
    client = kizuna.kizuna_client()
    customer, method = _saved_card(kizuna)
    intents_before = _intent_requests(kizuna)
    now = datetime.now(UTC)
    booking = client.create_consultation(
        ApplicationId=app_id,
        ConsultationRequest={
            "ClientPhoneNumber": CLIENT,
            "ExpertPhoneNumber": EXPERT,
            "StartTime": now.isoformat(),
            "EndTime": (now + timedelta(hours=1)).isoformat(),
            "RatePerMinute": 100,
            "Currency": "JPY",
            "MaxMinutes": 10,
            "StripeCustomerId": customer,
            "StripePaymentMethodId": method,
        },
    )["ConsultationResponse"]
    hold = format_amount(booking["HoldAmount"], "jpy")
    print(f"consultation: booked ¥100/min, at most 10 min → hold {hold} ({booking['PaymentIntentId']}), "
          f"PIN {booking['Pin']}", file=out)  # fmt: skip
    sid = kizuna.sandbox.simulate_inbound_call(CLIENT, VALID_FROM)
    kizuna.sandbox.calls.wait_for_call(sid, timeout_s)
    legs = kizuna.sandbox.calls.legs(sid)
    expert_leg = legs[1] if len(legs) > 1 else None
    print(f"call: {CLIENT} → {VALID_FROM} (Twilio) → {EXPERT}, talked "
          f"{expert_leg.duration if expert_leg else 0} s", file=out)  # fmt: skip
    done = _wait_settled(client, app_id, booking["Id"], timeout_s)
    captured = done.get("AmountCaptured", 0)
    print(f"settled: {done['Status']} {done['PaymentStatus']}, billed {done.get('BilledSeconds', 0)} s → captured "
          f"{format_amount(captured, 'jpy')}, released {format_amount(done['HoldAmount'] - captured, 'jpy')}; "
          f"Stripe calls: {_intent_requests(kizuna) - intents_before}", file=out)  # fmt: skip
    return 0 if done["PaymentStatus"] == "CAPTURED" else 1


def _saved_card(kizuna: LocalKizuna) -> tuple[str, str]:
    stripe = make_stripe_client(kizuna.stripe.api_key, kizuna.stripe.base_url)
    customer = stripe.v1.customers.create(params={"email": "client@example.jp"})
    method = stripe.v1.payment_methods.create(
        params={"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    stripe.v1.payment_methods.attach(method.id, params={"customer": customer.id})
    return customer.id, method.id


def _intent_requests(kizuna: LocalKizuna) -> int:
    return sum(n for (_, path, _), n in kizuna.stripe.requests().items() if path.startswith("/v1/payment_intents"))


def _wait_settled(client: Any, app_id: str, consultation_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = client.get_consultation(ApplicationId=app_id, ConsultationId=consultation_id)["ConsultationResponse"]
        if found["PaymentStatus"] in FINAL or time.monotonic() > deadline:
            return found
        time.sleep(0.1)
