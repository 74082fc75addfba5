"""The consultation adapters against their real counterparts: the DynamoDB store on moto (table created from the
catalog, as local mode does), the Stripe adapter with the real stripe SDK against localstripe."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from kizuna.adapters.dynamo_consultations import DynamoConsultationStore
from kizuna.adapters.stripe_payments import StripePayments, make_stripe_client
from kizuna.catalog import TABLES
from kizuna.domain.consultation_money import RoundingRule
from kizuna.domain.consultations import Consultation, Payment, Status
from kizuna.local.aws_resources import _table
from kizuna.local.localstripe_server import LocalStripe
from kizuna.ports_consultations import PaymentDeclined, PaymentRefused, RevenueDelta

pytestmark = pytest.mark.filterwarnings("ignore:Bare functions are deprecated")
NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
NUMBER, CLIENT = "+815012345678", "+819011112222"


@pytest.fixture
def store() -> Iterator[DynamoConsultationStore]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _table(client, "kizuna-consultations", TABLES["consultations"])
        yield DynamoConsultationStore("kizuna-consultations", client)


def consultation(consultation_id: str = "c1", **changes: object) -> Consultation:
    c = Consultation(
        app_id="app",
        consultation_id=consultation_id,
        client_phone=CLIENT,
        expert_phone="+819033334444",
        twilio_number=NUMBER,
        language="ja-JP",
        start_time=NOW,
        end_time=NOW + timedelta(hours=1),
        rate_per_minute=100,
        currency="jpy",
        rounding=RoundingRule.PER_STARTED_MINUTE,
        max_minutes=30,
        cancellation_fee=0,
        cancellation_window_minutes=60,
        pin="123456",
        stripe_customer="cus_1",
        stripe_payment_method="pm_1",
        created_at=NOW,
        updated_at=NOW,
        payment_intent_id="pi_1",
        hold_amount=3000,
        hold_expires_at=NOW + timedelta(days=7),
    )
    return replace(c, **changes)


def test_only_the_writer_of_the_next_version_wins(store):
    c = consultation()
    assert store.create(c) and not store.create(c)
    first = c.with_changes(NOW, status=Status.CALLING, call_sid="CA1")
    rival = c.with_changes(NOW, status=Status.CANCELED)
    assert store.save(first) is True
    assert store.save(rival) is False
    assert store.get("app", "c1") == first


def test_revenue_is_added_in_the_same_transaction_as_the_settlement_that_earned_it(store):
    c = consultation()
    store.create(c)
    captured = c.with_changes(NOW, payment=Payment.CAPTURED, amount_captured=200)
    delta = RevenueDelta(NOW.date(), "jpy", 200)
    assert store.save(captured, delta) is True
    assert store.save(captured, delta) is False  # a replay of the same version: neither write happens
    assert store.revenue("app", NOW.date(), NOW.date()) == [
        {"day": NOW.date().isoformat(), "currency": "jpy", "amount": 200, "count": 1}
    ]


def test_lookups_find_only_callable_bookings_within_their_window(store):
    c = consultation()
    store.create(c)
    assert store.find_by_caller(NUMBER, CLIENT, NOW + timedelta(minutes=5)) == c
    assert store.find_by_pin(NUMBER, "123456", NOW + timedelta(minutes=5)) == c
    assert store.find_by_caller(NUMBER, CLIENT, NOW + timedelta(hours=2)) is None
    assert store.pin_in_use(NUMBER, "123456", NOW + timedelta(minutes=30), NOW + timedelta(hours=3))
    assert not store.pin_in_use(NUMBER, "123456", NOW + timedelta(hours=2), NOW + timedelta(hours=3))
    calling = c.with_changes(NOW, status=Status.CALLING, call_sid="CA1")
    store.save(calling)
    assert store.find_by_caller(NUMBER, CLIENT, NOW + timedelta(minutes=5)) is None
    assert store.find_by_call("CA1") == calling


def test_due_lists_records_whose_check_time_has_passed_and_drops_settled_ones(store):
    c = consultation()
    store.create(c)
    assert store.due(NOW, 10) == []
    assert [x.consultation_id for x in store.due(NOW + timedelta(hours=2), 10)] == ["c1"]  # window over: no-show
    store.save(c.with_changes(NOW, payment=Payment.RELEASED))
    assert store.due(NOW + timedelta(hours=2), 10) == []


def test_call_events_are_stored_once_per_call_and_status(store):
    params = {"CallSid": "CA2", "ParentCallSid": "CA1", "CallStatus": "completed", "CallDuration": "61"}
    assert store.record_call_event("app", "c1", params, NOW) is True
    assert store.record_call_event("app", "c1", params, NOW) is False
    assert store.call_log("app", "c1") == [params]
    assert store.claim_provider_event("stripe", "evt_1", NOW) and not store.claim_provider_event("stripe", "evt_1", NOW)
    assert store.provider_event_seen("stripe", "evt_1")


def test_listing_pages_with_a_token(store):
    for i in range(3):
        store.create(consultation(f"c{i}"))
    first, token = store.list("app", 2, None)
    rest, end = store.list("app", 2, token)
    assert [c.consultation_id for c in first + rest] == ["c0", "c1", "c2"] and end is None


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[LocalStripe]:
    with LocalStripe() as server:
        yield server


@pytest.fixture
def payments(stripe_server: LocalStripe) -> StripePayments:
    return StripePayments(make_stripe_client(stripe_server.api_key, stripe_server.base_url))


@pytest.fixture
def customer(payments: StripePayments) -> str:
    return payments._client.v1.customers.create(params={"email": "c@example.jp"}).id


def test_a_partial_capture_captures_the_amount_and_releases_the_rest(payments, customer, stripe_server):
    hold = payments.place_hold(3000, "jpy", customer, "pm_card_visa", "k-hold", {"kizuna_consultation": "c1"})
    assert (hold.status, hold.amount, hold.amount_captured) == ("requires_capture", 3000, 0)
    assert hold.capture_before is not None
    captured = payments.capture(hold.id, 1200, "k-capture")
    assert (captured.status, captured.amount_captured) == ("succeeded", 1200)
    charge = payments._client.v1.charges.list(params={"customer": customer}).data[0]
    assert (charge.amount, charge.amount_refunded) == (3000, 1800)  # the rest went back to the card
    with pytest.raises(PaymentRefused):
        payments.capture(hold.id, 1200, "k-capture")  # localstripe ignores the key: a second capture is refused
    assert stripe_server.count("POST", "/v1/payment_intents/{id}/capture", 200) >= 1


def test_a_declined_card_reports_the_cards_reason(payments, customer):
    with pytest.raises(PaymentDeclined) as declined:
        payments.place_hold(3000, "jpy", customer, "pm_card_chargeCustomerFail", "k", {})
    assert (declined.value.code, declined.value.reason) == ("card_declined", "Your card was declined.")


def test_a_released_hold_reads_back_canceled(payments, customer):
    hold = payments.place_hold(500, "jpy", customer, "pm_card_visa", "k2", {})
    assert payments.cancel(hold.id, "k3").status == "canceled"
    assert payments.retrieve(hold.id).status == "canceled"
