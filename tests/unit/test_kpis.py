"""KPI answers: Pinpoint's names, shape and rules, computed from the aggregates with a handful of reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from kizuna.adapters.memory import InMemoryDataStore
from kizuna.adapters.memory_analytics import (
    InMemoryAggregateStore,
    InMemoryEventDestinations,
    InMemoryEventLedger,
    InMemoryEventStreamStore,
)
from kizuna.clock import VirtualClock
from kizuna.domain.apps import App
from kizuna.domain.kpis import KPIS
from kizuna.errors import BadRequest, NotFound
from kizuna.services.event_stream import pinpoint_event
from kizuna.services.ingest_event_objects import ingest_object
from kizuna.services.kpis import get_date_range_kpi

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def world():
    clock = VirtualClock(NOW)
    apps = InMemoryDataStore()
    apps.put_app(App("app1", "shop", "arn", "2026-01-01T00:00:00.000Z", {}))
    store = InMemoryAggregateStore()
    ledger = InMemoryEventLedger()
    objects = iter(range(10_000))

    def send(event_type, at, endpoint, ident, **attributes):
        event = pinpoint_event(event_type, "app1", at, at, attributes, client_id=endpoint, ident=ident)
        line = json.dumps(event).encode()
        source = f"s3://events/{next(objects)}"
        ingest_object(source, [line], ledger, store, InMemoryEventStreamStore(), InMemoryEventDestinations(), clock)

    return clock, apps, store, send


def _kpi(world, name, kind="app", resource=None, start=None, end=None):
    clock, apps, store, _ = world
    return get_date_range_kpi(apps, store, clock, "app1", kind, name, start, end, resource)


def _rows(response):
    return [
        ([g["Value"] for g in row["GroupedBys"]], [(v["Key"], v["Value"]) for v in row["Values"]])
        for row in response["KpiResult"]["Rows"]
    ]


def _sms_day(send, day, sent, delivered, failed_codes=(), campaign=None, country_number="+819012345678"):
    extra = {"campaign_id": campaign} if campaign else {}
    for i in range(sent):
        ident = f"{day:%m%d}-{campaign}-{i}"
        send("_SMS.BUFFERED", day, f"ep{i}", f"b{ident}", record_status="PENDING",
             destination_phone_number=country_number, **extra)  # fmt: skip
        if i < delivered:
            send("_SMS.SUCCESS", day, f"ep{i}", f"s{ident}", record_status="DELIVERED", **extra)
    for j, code in enumerate(failed_codes):
        send("_SMS.FAILURE", day, f"bad{j}", f"f{day:%m%d}-{campaign}-{j}", record_status="INVALID",
             provider_error_code=code, **extra)  # fmt: skip


def test_txn_sms_kpis_in_pinpoints_shape(world):
    _, _, _, send = world
    _sms_day(send, NOW - timedelta(days=2), sent=4, delivered=3, failed_codes=("21211",))
    _sms_day(send, NOW - timedelta(days=1), sent=2, delivered=2, country_number="+14155550100")
    response = _kpi(world, "txn-sms-sent-grouped-by-date")
    assert set(response) == {"ApplicationId", "KpiName", "StartTime", "EndTime", "KpiResult"}
    assert _rows(response) == [
        (["2026-11-18"], [("TxnSmsSent", "5.0")]),  # 4 handed over + 1 refused at submission
        (["2026-11-19"], [("TxnSmsSent", "2.0")]),
    ]
    assert response["KpiResult"]["Rows"][0]["GroupedBys"][0] == {"Key": "Date", "Type": "String", "Value": "2026-11-18"}
    assert _rows(_kpi(world, "txn-sms-delivered")) == [([], [("TxnSmsDelivered", "5.0")])]
    assert _rows(_kpi(world, "txn-sms-delivery-rate")) == [([], [("TxnSmsDeliveryRate", repr(5 / 7))])]
    assert _rows(_kpi(world, "txn-sms-error-distribution")) == [(["21211"], [("TxnSmsErrorDistribution", "1.0")])]
    assert _rows(_kpi(world, "txn-sms-sent-grouped-by-country")) == [
        (["JP"], [("TxnSmsSent", "4.0")]),
        (["US"], [("TxnSmsSent", "2.0")]),
    ]


def test_campaign_messages_count_in_campaign_kpis_not_in_transactional_ones(world):
    _, _, _, send = world
    _sms_day(send, NOW, sent=3, delivered=2, campaign="camp1")
    _sms_day(send, NOW, sent=1, delivered=1)
    assert _rows(_kpi(world, "txn-sms-sent")) == [([], [("TxnSmsSent", "1.0")])]
    assert _rows(_kpi(world, "successful-delivery-rate")) == [([], [("SuccessfulDeliveryRate", repr(2 / 3))])]
    assert _rows(_kpi(world, "unique-deliveries-grouped-by-campaign")) == [(["camp1"], [("UniqueDeliveries", "2.0")])]
    campaign = _kpi(world, "attempted-deliveries-grouped-by-campaign-activity", "campaign", "camp1")
    assert campaign["CampaignId"] == "camp1"
    assert _rows(_kpi(world, "successful-deliveries", "campaign", "camp1")) == [([], [("SuccessfulDeliveries", "2.0")])]
    assert _rows(_kpi(world, "successful-deliveries", "campaign", "other")) == []


def test_a_31_day_query_reads_once_per_dimension(world):
    _, _, store, send = world
    for day in range(31):
        _sms_day(send, NOW - timedelta(days=day), sent=1, delivered=1)
    before = store.reads()
    rows = _kpi(world, "txn-sms-delivery-rate-grouped-by-date", start=NOW - timedelta(days=30), end=NOW)
    assert len(rows["KpiResult"]["Rows"]) == 31
    assert store.reads() - before == 1
    before = store.reads()
    _kpi(world, "sticky-factor-grouped-by-date", start=NOW - timedelta(days=30), end=NOW)
    assert store.reads() - before == 1  # DAU and MAU from one read of the active-endpoint sketches


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (NOW - timedelta(days=31), NOW, "31 days or fewer"),
        (NOW - timedelta(days=90), NOW - timedelta(days=80), "within the last 90 days"),
        (NOW, NOW - timedelta(days=1), "must not be after EndTime"),
        ("yesterday", None, "StartTime must be an ISO 8601"),
    ],
)
def test_range_rules_are_pinpoints(world, start, end, message):
    with pytest.raises(BadRequest, match=message):
        _kpi(world, "txn-sms-sent", start=start, end=end)


def test_unknown_kpi_names_and_apps_are_refused(world):
    with pytest.raises(BadRequest, match="KpiName 'txn-sms-everything'"):
        _kpi(world, "txn-sms-everything")
    with pytest.raises(BadRequest, match="is not a journey metric"):
        _kpi(world, "txn-sms-sent", "journey", "j1")
    clock, apps, store, _ = world
    with pytest.raises(NotFound):
        get_date_range_kpi(apps, store, clock, "nope", "app", "txn-sms-sent")


def test_an_event_older_than_90_days_is_neither_counted_nor_answered(world):
    clock, _, _, send = world
    _sms_day(send, NOW - timedelta(days=95), sent=3, delivered=3)  # refused at ingest
    _sms_day(send, NOW - timedelta(days=30), sent=2, delivered=2)
    assert _rows(_kpi(world, "txn-sms-sent", start=NOW - timedelta(days=30), end=NOW)) == [
        ([], [("TxnSmsSent", "2.0")])
    ]
    clock.advance(timedelta(days=61))  # the 30-day-old events are now 91 days old
    with pytest.raises(BadRequest, match="within the last 90 days"):
        _kpi(world, "txn-sms-sent", start=NOW - timedelta(days=30), end=NOW - timedelta(days=29))
    assert _rows(_kpi(world, "txn-sms-sent")) == []  # the default range (last 31 days) is empty


def test_app_analytics_extension_kpis(world):
    _, _, _, send = world
    first = NOW - timedelta(days=10)
    for n in range(4):
        send("_session.start", first, f"u{n}", f"s{n}")
    send("_session.start", first + timedelta(days=7), "u0", "r0")
    send("_session.start", first + timedelta(days=7), "u1", "r1")
    cohort = first.date().isoformat()
    assert _rows(_kpi(world, "retention-7-day-grouped-by-date")) == [([cohort], [("Retention7Day", "0.5")])]
    assert _rows(_kpi(world, "retention-30-day-grouped-by-date")) == []  # not settled yet
    assert _rows(_kpi(world, "new-endpoints")) == [([], [("NewEndpoints", "4.0")])]
    assert _rows(_kpi(world, "sessions")) == [([], [("Sessions", "6.0")])]
    mau = dict((g[0], v[0][1]) for g, v in _rows(_kpi(world, "monthly-active-endpoints-grouped-by-date")))
    # a 30-day window: from the cohort's day on, every day sees the four endpoints
    assert mau == {(first + timedelta(days=d)).date().isoformat(): "4.0" for d in range(11)}
    sticky = dict((g[0], v[0][1]) for g, v in _rows(_kpi(world, "sticky-factor-grouped-by-date")))
    assert sticky[(first + timedelta(days=7)).date().isoformat()] == "0.5"


def test_every_kpi_in_the_table_answers_without_error(world):
    _, _, _, send = world
    _sms_day(send, NOW, sent=2, delivered=1, failed_codes=("30003",), campaign="c1")
    send("_email.send", NOW, "m1", "e1", journey_id="j1", journey_activity_id="a1")
    for (kind, name), definition in KPIS.items():
        resource = {"app": None, "campaign": "c1", "journey": "j1"}[kind]
        response = _kpi(world, name, kind, resource)
        for row in response["KpiResult"]["Rows"]:
            assert row["Values"][0]["Key"] == definition.value_key
            float(row["Values"][0]["Value"])
