"""The load run's nothing-lost check (bench/load_check.py) on a tiny run through local mode, then on doctored
results: an acknowledged event missing from the analytics ledger, an event nobody sent, a KPI that disagrees, an
endpoint write lost (one client's attribute overwritten by another's merge), a callback that did not advance its
record. The requests are the load run's own (bench/load_requests.py: botocore-signed PutEvents/UpdateEndpoint,
RequestValidator-signed callbacks), sent with `requests` instead of locust. No timing here: the load figures are
bench/load_api.py's."""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from load_check import Observed, check, delivery_records, observe  # noqa: E402
from load_requests import (  # noqa: E402
    LoadLedger,
    PinpointSigner,
    Prepared,
    accepted_events,
    put_events_params,
    status_callback,
    status_callback_params,
    update_endpoint_params,
)

from kizuna.local.system import REGION, LocalKizuna  # noqa: E402

pytestmark = pytest.mark.e2e


def _send(base_url: str, prepared: Prepared) -> requests.Response:
    return requests.request(prepared.method, base_url + prepared.path, data=prepared.body,
                            headers=prepared.headers, timeout=60)  # fmt: skip


def _queued_message(kizuna: LocalKizuna, ddb: Any, app_id: str) -> tuple[str, Any]:
    """One real SMS through SendMessages and the sender, taken by the sandbox, which does not call back."""
    kizuna.pinpoint().send_messages(
        ApplicationId=app_id,
        MessageRequest={
            "Endpoints": {"sms-0": {}},
            "MessageConfiguration": {"SMSMessage": {"Body": "load check", "MessageType": "TRANSACTIONAL"}},
        },
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sent = [
            m for m in kizuna.sandbox.messages.values() if m.status_callback and f"app={app_id}" in m.status_callback
        ]
        if sent:
            message_id = sent[0].status_callback.rsplit("m=", 1)[1]
            record = delivery_records(ddb, kizuna.resources.tables["messages"], [message_id])[message_id]
            if record is not None and record[0] == "queued":
                return message_id, sent[0]
        time.sleep(0.2)
    raise AssertionError("the SMS did not reach the sandbox")


@pytest.fixture(scope="module")
def tiny_run(kizuna: LocalKizuna, pinpoint: Any) -> tuple[dict[str, Any], Observed, str]:
    kizuna.sandbox.callbacks_enabled = False  # the run posts the callbacks itself
    try:
        ddb = boto3.client("dynamodb", endpoint_url=kizuna.aws_endpoint, region_name=REGION)
        app_id = pinpoint.create_app(CreateApplicationRequest={"Name": "load-check"})["ApplicationResponse"]["Id"]
        pinpoint.update_endpoints_batch(
            ApplicationId=app_id,
            EndpointBatchRequest={"Item": [
                {"Id": "ev-0", "ChannelType": "SMS", "Address": "+817000000000"},
                {"Id": "ev-1", "ChannelType": "SMS", "Address": "+817000000001"},
                {"Id": "sms-0", "ChannelType": "SMS", "Address": "+819000000000"},
            ]},
        )  # fmt: skip
        message_id, message = _queued_message(kizuna, ddb, app_id)
        assert kizuna.credentials is not None
        signer = PinpointSigner(
            kizuna.base_url, REGION, kizuna.credentials.access_key_id, kizuna.credentials.secret_access_key
        )
        ledger = LoadLedger()

        batch = {"ev-0": ["load-t-0-1-0-0", "load-t-0-1-0-1"], "ev-1": ["load-t-0-1-1-0"]}
        response = _send(kizuna.base_url, signer.prepare("PutEvents", put_events_params(app_id, batch)))
        ledger.outcome("PutEvents", response.status_code)
        assert ledger.events_answered(batch, accepted_events(response.json())) == 0, response.text

        for attribute, seq in (("load_seq_0", "t-0-1"), ("load_seq_1", "t-1-1"), ("load_seq_0", "t-0-2")):
            attempt = ledger.endpoint_write("up-0", attribute, seq)
            params = update_endpoint_params(app_id, "up-0", "+818000000000", attribute, seq)
            attempt[2] = _send(kizuna.base_url, signer.prepare("UpdateEndpoint", params)).status_code

        for status in ("queued", "sent", "delivered", "sent"):  # the last one late, as Twilio can be
            attempt = ledger.callback(message_id, status, None)
            form = status_callback_params(kizuna.sandbox.account_sid, message.sid, message.from_, message.to, status)
            callback = status_callback(message.status_callback, form, kizuna.sandbox.auth_token)
            attempt[2] = _send(kizuna.base_url, callback).status_code

        assert kizuna.drain_analytics(timeout=120)
        result = ledger.to_json()
        return result, observe(pinpoint, ddb, kizuna.resources.tables, app_id, result), message_id
    finally:
        kizuna.sandbox.callbacks_enabled = True


def test_a_tiny_run_loses_nothing(tiny_run):
    ledger, observed, message_id = tiny_run

    assert check(ledger, observed) == []
    assert observed.ledger_ids == {"ev-0": {"load-t-0-1-0-0", "load-t-0-1-0-1"}, "ev-1": {"load-t-0-1-1-0"}}
    assert observed.kpi_events == 3
    assert observed.endpoint_values == {"up-0": {"load_seq_0": "t-0-2", "load_seq_1": "t-1-1"}}
    assert observed.records == {message_id: ("delivered", None)}


def test_an_acknowledged_event_the_ledger_lacks_is_reported_lost(tiny_run):
    ledger, observed, _ = copy.deepcopy(tiny_run)
    ledger["events"]["ev-0"].append("load-t-0-2-0-0")  # answered 202, never counted

    problems = check(ledger, observed)

    assert len(problems) == 1
    assert "1 events answered 202 for ev-0 are not counted: load-t-0-2-0-0" in problems[0]


def test_a_counted_event_nobody_sent_and_a_kpi_off_by_one_are_reported(tiny_run):
    ledger, observed, _ = copy.deepcopy(tiny_run)
    observed.ledger_ids["ev-1"].add("load-t-9-9-9-9")

    problems = check(ledger, observed)

    assert problems == [
        "PutEvents: 1 events counted that no request sent",
        "PutEvents: the load.view_item KPI counts 3 events, the ledger holds 4",
    ]


def test_an_acknowledged_endpoint_write_that_is_not_readable_is_reported(tiny_run):
    ledger, observed, _ = copy.deepcopy(tiny_run)
    ledger["endpoints"]["up-0"].append(["load_seq_1", "t-1-2", 202])  # acknowledged, then lost to a merge

    assert check(ledger, observed) == [
        "UpdateEndpoint: up-0 holds load_seq_1 = 't-1-1'; its last acknowledged write was 't-1-2'"
    ]


def test_a_write_never_answered_may_or_may_not_have_been_applied(tiny_run):
    ledger, observed, _ = copy.deepcopy(tiny_run)
    ledger["endpoints"]["up-0"].append(["load_seq_0", "t-0-3", None])
    ledger["events_unacknowledged"]["ev-1"].append("load-t-9-9-9-9")
    observed.ledger_ids["ev-1"].add("load-t-9-9-9-9")
    observed.kpi_events += 1

    assert check(ledger, observed) == []


def test_an_acknowledged_callback_that_did_not_advance_its_record_is_reported(tiny_run):
    ledger, observed, message_id = copy.deepcopy(tiny_run)
    observed.records[message_id] = ("sent", None)  # as if the delivered callback had been dropped

    assert check(ledger, observed) == [
        f"status webhook: message {message_id} is sent (None); the callbacks acknowledged took it to delivered (None)"
    ]


def test_a_late_delivery_receipt_acknowledged_must_have_corrected_the_record(tiny_run):
    ledger, observed, message_id = copy.deepcopy(tiny_run)
    ledger["callbacks"][message_id] = [["sent", None, 200], ["undelivered", "30003", 200], ["delivered", None, 200]]

    assert check(ledger, observed) == []  # the tiny run's record is delivered: corrected
    observed.records[message_id] = ("undelivered", "30003")  # as if the delivered callback had been dropped
    assert check(ledger, observed) == [
        f"status webhook: message {message_id} is undelivered (30003); the callbacks acknowledged took it to "
        "delivered (None)"
    ]


def test_a_read_receipt_after_a_failure_leaves_the_failure(tiny_run):
    ledger, observed, message_id = copy.deepcopy(tiny_run)
    ledger["callbacks"][message_id] = [["failed", "30008", 200], ["read", None, 200], ["delivered", None, None]]
    observed.records[message_id] = ("failed", "30008")

    assert check(ledger, observed) == []
    observed.records[message_id] = ("read", None)
    assert len(check(ledger, observed)) == 1
