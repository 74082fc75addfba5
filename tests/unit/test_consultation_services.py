"""Billed consultations over in-memory ports: booking, the call, settlement, webhooks, reconciliation, timers.

The fakes behave like Stripe where it matters (a second capture is refused, keys ignored like localstripe), so
"exactly one capture" is counted where the capture happens.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kizuna.adapters.memory import InMemoryDataStore, InMemoryEventSink
from kizuna.adapters.memory_consultations import (
    InMemoryCallControl,
    InMemoryCallTimers,
    InMemoryConsultationStore,
    InMemoryPayments,
)
from kizuna.clock import VirtualClock, iso
from kizuna.domain.apps import App
from kizuna.domain.consultations import SETTLE_LEASE, Payment, Status
from kizuna.errors import BadRequest, Conflict
from kizuna.ports_consultations import CallState
from kizuna.services import consultations_booking as booking
from kizuna.services.consultations_calls import call_status, dial_ended, incoming_call, pin_entered
from kizuna.services.consultations_deps import ConsultationDeps
from kizuna.services.consultations_reconcile import reconcile_consultations
from kizuna.services.consultations_stripe import handle_event
from kizuna.services.consultations_timers import fire

APP = "app1"
NUMBER = "+815012345678"
CLIENT = "+819011112222"
EXPERT = "+819033334444"
BASE = "https://hooks.example/webhooks/twilio/voice"


@pytest.fixture
def payments(clock: VirtualClock) -> InMemoryPayments:
    return InMemoryPayments(clock)


@pytest.fixture
def calls() -> InMemoryCallControl:
    return InMemoryCallControl()


@pytest.fixture
def deps(clock, payments, calls) -> ConsultationDeps:
    apps = InMemoryDataStore()
    apps.put_app(App(APP, "shop", "arn:app1", iso(clock.now())))
    return ConsultationDeps(
        store=InMemoryConsultationStore(),
        events=InMemoryEventSink(),
        clock=clock,
        payments_factory=lambda: payments,
        calls_factory=lambda: calls,
        timers=InMemoryCallTimers(),
        apps=apps,
        default_twilio_number=lambda: NUMBER,
    )


def request(clock: VirtualClock, **overrides: Any) -> dict[str, Any]:
    body = {
        "ClientPhoneNumber": CLIENT,
        "ExpertPhoneNumber": EXPERT,
        "StartTime": iso(clock.now()),
        "EndTime": iso(clock.now() + timedelta(hours=1)),
        "RatePerMinute": 100,
        "Currency": "JPY",
        "MaxMinutes": 30,
        "CancellationFee": 500,
        "CancellationWindowMinutes": 60,
        "StripeCustomerId": "cus_1",
        "StripePaymentMethodId": "pm_card_visa",
    }
    return body | overrides


def booked(deps: ConsultationDeps, clock: VirtualClock, **overrides: Any) -> dict[str, Any]:
    return booking.book(deps, APP, request(clock, **overrides))


def talk(deps: ConsultationDeps, consultation_id: str, seconds: int, child: str = "CAchild") -> None:
    """The client calls, the expert answers, talks `seconds`, the dialed leg's callbacks arrive."""
    incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    for status in ("initiated", "ringing", "in-progress"):
        call_status(deps, APP, consultation_id, leg(child, status))
    call_status(deps, APP, consultation_id, leg(child, "completed", seconds))


def leg(sid: str, status: str, duration: int | None = None) -> dict[str, str]:
    params = {"CallSid": sid, "ParentCallSid": "CAparent", "CallStatus": status, "Direction": "outbound-dial"}
    if duration is not None:
        params["CallDuration"] = str(duration)
    return params


def stored(deps: ConsultationDeps, consultation_id: str):  # noqa: ANN201
    return deps.store.get(APP, consultation_id)


# booking -------------------------------------------------------------------------------------------------------
def test_booking_places_a_manual_capture_hold_for_the_maximum(deps, clock, payments):
    c = booked(deps, clock)
    assert (c["Status"], c["PaymentStatus"], c["HoldAmount"]) == ("BOOKED", "HELD", 3000)
    assert c["HoldExpiresAt"] == iso(clock.now() + timedelta(days=7))
    assert len(c["Pin"]) == 6 and c["TwilioNumber"] == NUMBER and c["Language"] == "ja-JP"
    assert payments.calls == {"create": 1}
    assert [e["event_type"] for e in deps.events.events] == ["_consultation.booked"]


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("ClientPhoneNumber", "090-1111", "ConsultationRequest.ClientPhoneNumber"),
        ("RatePerMinute", 0, "ConsultationRequest.RatePerMinute"),
        ("Currency", "XXX", "ConsultationRequest.Currency"),
        ("MaxMinutes", 241, "ConsultationRequest.MaxMinutes"),
        ("StartTime", "2026-11-01T10:00:00", "ConsultationRequest.StartTime"),
        ("RoundingRule", "PER_HOUR", "ConsultationRequest.RoundingRule"),
        ("Language", "fr-FR", "ConsultationRequest.Language"),
        ("Unknown", 1, "ConsultationRequest.Unknown"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_held_or_written(
    deps, clock, payments, field, value, named
):
    with pytest.raises(BadRequest, match=named.replace(".", r"\.")):
        booked(deps, clock, **{field: value})
    assert payments.calls == {} and deps.store.items == {}


def test_a_declined_card_refuses_the_booking_with_the_cards_reason(deps, clock):
    with pytest.raises(BadRequest, match="declined: Your card was declined. \\(card_declined\\)"):
        booked(deps, clock, StripePaymentMethodId="pm_card_chargeCustomerFail")
    assert deps.store.items == {}


def test_a_window_in_the_past_is_refused(deps, clock):
    with pytest.raises(BadRequest, match="EndTime"):
        booked(deps, clock, StartTime=iso(clock.now() - timedelta(hours=2)), EndTime=iso(clock.now()))


# the call ------------------------------------------------------------------------------------------------------
def test_caller_id_in_the_window_bridges_to_the_expert_with_the_hold_as_time_limit(deps, clock):
    c = booked(deps, clock)
    answer = incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    assert f'<Dial action="{BASE}/dialed?a={APP}&amp;c={c["Id"]}" callerId="{NUMBER}" timeLimit="1800"' in answer
    assert f">{EXPERT}</Number>" in answer and 'language="ja-JP"' in answer
    assert stored(deps, c["Id"]).status is Status.CALLING


def test_an_unknown_caller_is_asked_for_the_pin_and_the_pin_connects(deps, clock):
    c = booked(deps, clock)
    answer = incoming_call(deps, {"To": NUMBER, "From": "+819099998888", "CallSid": "CAother"}, BASE)
    assert "<Gather" in answer and 'numDigits="6"' in answer
    wrong = pin_entered(deps, {"To": NUMBER, "Digits": "000000", "CallSid": "CAother"}, BASE, attempt=1)
    assert "attempt=2" in wrong
    right = pin_entered(deps, {"To": NUMBER, "Digits": c["Pin"], "CallSid": "CAother"}, BASE, attempt=2)
    assert "<Dial" in right and stored(deps, c["Id"]).call_sid == "CAother"


def test_outside_its_window_the_booking_is_not_found(deps, clock):
    booked(deps, clock, StartTime=iso(clock.now() + timedelta(hours=2)), EndTime=iso(clock.now() + timedelta(hours=3)))
    answer = incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    assert "<Gather" in answer


def test_a_second_call_while_one_is_connected_is_turned_away(deps, clock):
    c = booked(deps, clock)
    incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    again = pin_entered(deps, {"To": NUMBER, "Digits": c["Pin"], "CallSid": "CAsecond"}, BASE, attempt=1)
    assert "<Dial" not in again


def test_answer_schedules_the_warning_a_minute_before_the_end_and_the_cut(deps, clock):
    c = booked(deps, clock)
    incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    call_status(deps, APP, c["Id"], leg("CAchild", "in-progress"))
    now = clock.now()
    assert deps.timers.scheduled == [
        (APP, c["Id"], "warn", now + timedelta(seconds=1800 - 60)),
        (APP, c["Id"], "cut", now + timedelta(seconds=1800 + 10)),
    ]
    assert stored(deps, c["Id"]).status is Status.IN_CALL


@pytest.mark.parametrize(
    ("seconds", "captured"), [(1, 100), (59, 100), (60, 100), (61, 200), (1800, 3000), (5000, 3000)]
)
def test_billed_duration_captures_per_started_minute_never_above_the_hold(deps, clock, payments, seconds, captured):
    c = booked(deps, clock)
    talk(deps, c["Id"], seconds)
    done = stored(deps, c["Id"])
    assert (done.status, done.payment, done.amount_captured) == (Status.COMPLETED, Payment.CAPTURED, captured)
    assert done.billed_seconds == min(seconds, 1800)
    assert payments.captures == 1 and payments.calls == {"create": 1, "capture": 1}
    assert deps.store.revenue(APP, clock.now().date(), clock.now().date()) == [
        {"day": clock.now().date().isoformat(), "currency": "jpy", "amount": captured, "count": 1}
    ]


def test_zero_seconds_releases_the_hold(deps, clock, payments):
    c = booked(deps, clock)
    talk(deps, c["Id"], 0)
    done = stored(deps, c["Id"])
    assert (done.payment, done.settlement.reason) == (Payment.RELEASED, "nothing_owed")
    assert payments.captures == 0 and payments.calls == {"create": 1, "cancel": 1}


def test_an_amount_under_stripes_minimum_is_released_not_captured(deps, clock, payments):
    c = booked(deps, clock, RatePerMinute=40)  # ¥40 < ¥50
    talk(deps, c["Id"], 30)
    assert stored(deps, c["Id"]).settlement.reason == "under_minimum" and payments.captures == 0


def test_duplicate_completed_callbacks_capture_once(deps, clock, payments):
    c = booked(deps, clock)
    talk(deps, c["Id"], 61)
    for _ in range(3):
        call_status(deps, APP, c["Id"], leg("CAchild", "completed", 61))
    assert payments.captures == 1 and stored(deps, c["Id"]).amount_captured == 200
    assert len(deps.store.call_log(APP, c["Id"])) == 4  # initiated, ringing, in-progress, completed: once each


def test_a_leg_update_landing_during_the_capture_does_not_lose_the_record_of_it(deps, clock, payments):
    # Given the caller's own completed callback arriving while Stripe captures (it updates the same record)
    c = booked(deps, clock)
    payments.during_capture = lambda: call_status(
        deps, APP, c["Id"], {"CallSid": "CAparent", "CallStatus": "completed"}
    )
    # When the expert's completed callback settles
    talk(deps, c["Id"], 61)
    # Then the capture is recorded at once (not left SETTLING for the reconciler), and counted once
    done = stored(deps, c["Id"])
    assert (done.payment, done.amount_captured, done.legs["CAparent"]) == (Payment.CAPTURED, 200, "completed")
    assert payments.captures == 1


def test_statuses_only_move_forward(deps, clock):
    c = booked(deps, clock)
    talk(deps, c["Id"], 61)
    call_status(deps, APP, c["Id"], leg("CAchild", "ringing"))
    assert stored(deps, c["Id"]).legs["CAchild"] == "completed"


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed"])
def test_an_expert_who_does_not_answer_releases_the_hold(deps, clock, payments, outcome):
    c = booked(deps, clock)
    incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    answer = dial_ended(deps, APP, c["Id"], {"DialCallStatus": outcome, "DialCallSid": "CAchild"}, BASE)
    call_status(deps, APP, c["Id"], leg("CAchild", outcome))
    done = stored(deps, c["Id"])
    assert (done.status, done.payment) == (Status.NO_ANSWER, Payment.RELEASED)
    assert "料金は発生しません" in answer and payments.captures == 0 and payments.calls["cancel"] == 1


def test_the_caller_hanging_up_before_the_expert_answers_keeps_the_booking(deps, clock):
    c = booked(deps, clock)
    incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    call_status(deps, APP, c["Id"], leg("CAchild", "canceled"))
    assert stored(deps, c["Id"]).callable


# faults --------------------------------------------------------------------------------------------------------
def test_a_crash_between_capture_and_record_is_healed_by_the_reconciler_without_a_second_capture(deps, clock, payments):
    c = booked(deps, clock)
    payments.crash_after_capture = 1
    with pytest.raises(RuntimeError, match="injected crash"):
        talk(deps, c["Id"], 61)
    assert stored(deps, c["Id"]).payment is Payment.SETTLING
    reconcile_consultations(deps)  # within the lease: the (maybe slow) first settler still owns it
    assert stored(deps, c["Id"]).payment is Payment.SETTLING
    clock.advance(SETTLE_LEASE + timedelta(seconds=1))
    reconcile_consultations(deps)
    done = stored(deps, c["Id"])
    assert (done.payment, done.amount_captured) == (Payment.CAPTURED, 200)
    assert payments.captures == 1 and payments.calls["capture"] == 1 and payments.calls["retrieve"] == 1


def test_stripe_unavailable_leaves_the_settlement_to_the_reconciler_with_the_same_amount(deps, clock, payments):
    c = booked(deps, clock)
    payments.unavailable_next = 0
    incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    call_status(deps, APP, c["Id"], leg("CAchild", "in-progress"))
    payments.unavailable_next = 1
    call_status(deps, APP, c["Id"], leg("CAchild", "completed", 125))
    assert stored(deps, c["Id"]).payment is Payment.SETTLING
    clock.advance(SETTLE_LEASE + timedelta(seconds=1))
    reconcile_consultations(deps)
    assert stored(deps, c["Id"]).amount_captured == 300 and payments.captures == 1


def test_the_reconciler_racing_the_callback_settles_once(deps, clock, payments, calls):
    # Given a call whose completed callback is late: the reconciler finds the call over at Twilio
    c = booked(deps, clock)
    incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    call_status(deps, APP, c["Id"], leg("CAchild", "in-progress"))
    calls.states["CAchild"] = CallState("CAchild", "completed", 61, "CAparent")
    clock.advance(timedelta(seconds=1800) + timedelta(minutes=6))
    # When the reconciler and then the late callback both settle it
    assert reconcile_consultations(deps)["calls"] == 1
    call_status(deps, APP, c["Id"], leg("CAchild", "completed", 61))
    # Then one capture of 2 minutes
    assert payments.captures == 1 and stored(deps, c["Id"]).amount_captured == 200


def test_an_expired_hold_is_never_captured_blindly_and_alerts(deps, clock, payments):
    c = booked(deps, clock)
    incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    call_status(deps, APP, c["Id"], leg("CAchild", "in-progress"))
    clock.advance(timedelta(days=8))
    call_status(deps, APP, c["Id"], leg("CAchild", "completed", 61))
    done = stored(deps, c["Id"])
    assert done.payment is Payment.HOLD_EXPIRED and payments.calls["capture"] == 0
    assert "_consultation.alert" in [e["event_type"] for e in deps.events.events]


def test_a_call_is_refused_when_the_hold_would_expire_before_capture(deps, clock):
    c = booked(deps, clock, EndTime=iso(clock.now() + timedelta(hours=2)))
    deps.store.items[(APP, c["Id"])] = stored(deps, c["Id"]).with_changes(
        clock.now(), hold_expires_at=clock.now() + timedelta(minutes=10)
    )
    answer = incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    assert "<Dial" not in answer and "お支払い" in answer


# cancellation, no-show, re-authorization ------------------------------------------------------------------------
def test_cancelling_early_releases_and_late_captures_the_fee(deps, clock, payments):
    early = booked(deps, clock, StartTime=iso(clock.now() + timedelta(hours=3)),
                   EndTime=iso(clock.now() + timedelta(hours=4)))  # fmt: skip
    late = booked(deps, clock, StartTime=iso(clock.now() + timedelta(minutes=30)),
                  EndTime=iso(clock.now() + timedelta(hours=1)))  # fmt: skip
    assert booking.cancel(deps, APP, early["Id"])["PaymentStatus"] == "RELEASED"
    answer = booking.cancel(deps, APP, late["Id"])
    assert (answer["PaymentStatus"], answer["AmountCaptured"], answer["StatusReason"]) == (
        "CAPTURED", 500, "late_cancellation")  # fmt: skip
    assert booking.cancel(deps, APP, late["Id"]) == answer  # twice is answered like once
    assert payments.captures == 1


def test_a_consultation_in_a_call_cannot_be_cancelled(deps, clock):
    c = booked(deps, clock)
    incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    with pytest.raises(Conflict):
        booking.cancel(deps, APP, c["Id"])


def test_a_no_show_pays_the_cancellation_fee(deps, clock, payments):
    c = booked(deps, clock)
    clock.advance(timedelta(hours=1, minutes=1))
    assert reconcile_consultations(deps)["no_shows"] == 1
    done = stored(deps, c["Id"])
    assert (done.status, done.amount_captured) == (Status.NO_SHOW, 500)


def test_a_booking_beyond_the_hold_is_reauthorized_before_the_hold_expires(deps, clock, payments):
    start = clock.now() + timedelta(days=10)
    c = booked(deps, clock, StartTime=iso(start), EndTime=iso(start + timedelta(hours=1)))
    first = stored(deps, c["Id"]).payment_intent_id
    clock.advance(timedelta(days=6, minutes=1))  # within a day of the first hold's expiry
    assert reconcile_consultations(deps)["reauthorized"] == 1
    renewed = stored(deps, c["Id"])
    assert renewed.payment_intent_id != first and renewed.hold_expires_at > start + timedelta(hours=1)
    assert payments.intents[first].state.status == "canceled"


# Stripe webhooks -----------------------------------------------------------------------------------------------
def stripe_event(event_id: str, event_type: str, c: dict[str, Any]) -> dict[str, Any]:
    intent = {"object": "payment_intent", "id": c["PaymentIntentId"],
              "metadata": {"kizuna_app": APP, "kizuna_consultation": c["Id"]}}  # fmt: skip
    return {"id": event_id, "type": event_type, "data": {"object": intent}}


def test_stripe_events_are_deduplicated_and_consistent_ones_cost_no_stripe_call(deps, clock, payments):
    c = booked(deps, clock)
    talk(deps, c["Id"], 61)
    before = sum(payments.calls.values())
    assert handle_event(deps, stripe_event("evt_1", "payment_intent.succeeded", c)) == "consistent"
    assert handle_event(deps, stripe_event("evt_1", "payment_intent.succeeded", c)) == "duplicate"
    assert sum(payments.calls.values()) == before


def test_an_out_of_order_event_is_resolved_by_reading_the_intent(deps, clock, payments):
    # Given a crash after the capture: the record still says SETTLING
    c = booked(deps, clock)
    payments.crash_after_capture = 1
    with pytest.raises(RuntimeError):
        talk(deps, c["Id"], 61)
    # When Stripe's succeeded event arrives
    assert handle_event(deps, stripe_event("evt_2", "payment_intent.succeeded", c)) == "reconciled"
    # Then the settlement is recorded from the intent, without another capture
    assert stored(deps, c["Id"]).payment is Payment.CAPTURED and payments.captures == 1


def test_a_hold_canceled_by_stripe_is_marked_expired_and_alerted(deps, clock, payments):
    c = booked(deps, clock)
    payments.expire(c["PaymentIntentId"])
    assert handle_event(deps, stripe_event("evt_3", "payment_intent.canceled", c)) == "reconciled"
    assert stored(deps, c["Id"]).payment is Payment.HOLD_EXPIRED


# timers --------------------------------------------------------------------------------------------------------
def test_the_warning_redirects_the_expert_once_and_the_caller_joins_the_room(deps, clock, calls):
    c = booked(deps, clock)
    incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    call_status(deps, APP, c["Id"], leg("CAchild", "in-progress"))
    clock.advance(1740)
    assert fire(deps, APP, c["Id"], "warn", clock.now()) == "warned"
    assert fire(deps, APP, c["Id"], "warn", clock.now()) == "skipped"
    [(sid, expert_twiml)] = calls.redirects
    assert sid == "CAchild" and "残り1分です" in expert_twiml and f"kizuna-{c['Id']}</Conference>" in expert_twiml
    caller = dial_ended(deps, APP, c["Id"], {"DialCallStatus": "completed", "DialCallSid": "CAchild"}, BASE)
    assert 'timeLimit="60"' in caller and "<Conference" in caller


def test_the_cut_hangs_up_a_call_still_up_after_its_limit(deps, clock, calls):
    c = booked(deps, clock)
    incoming_call(deps, {"To": NUMBER, "From": CLIENT, "CallSid": "CAparent"}, BASE)
    assert fire(deps, APP, c["Id"], "cut", clock.now()) == "cut" and calls.hangups == ["CAparent"]
    talk(deps, c["Id"], 61)
    assert fire(deps, APP, c["Id"], "cut", clock.now()) == "skipped"


def test_revenue_kpi_rows_by_day_and_currency(deps, clock):
    for seconds in (61, 120):
        c = booked(deps, clock, ClientPhoneNumber=CLIENT)
        talk(deps, c["Id"], seconds, child=f"CA{seconds}")
    kpi = booking.revenue_kpi(deps, APP, None, None)
    [row] = kpi["KpiResult"]["Rows"]
    assert row["Values"] == [
        {"Key": "Revenue", "Type": "Long", "Value": "400"},
        {"Key": "Consultations", "Type": "Long", "Value": "2"},
    ]
