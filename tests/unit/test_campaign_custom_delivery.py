"""CUSTOM delivery: a campaign treatment handed to the customer's webhook as Pinpoint's custom-channel payload, in
batches of at most 50, leaving out other channels, opted-out endpoints and held-out ones; a re-run piece queues the
same deliveries with the same ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kizuna.clock import VirtualClock
from kizuna.domain.campaigns import split_of
from kizuna.domain.jobs import CampaignPiece
from kizuna.errors import BadRequest
from kizuna.services import campaigns as service
from kizuna.services.campaign_runs import run_piece
from kizuna.services.endpoints import update_endpoint
from tests.unit.campaign_harness import Harness

START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
HOOK = "https://hooks.example.com/pinpoint?tenant=jp"
CUSTOM = {"CustomMessage": {"Data": json.dumps({"coupon": "冬のクーポン"}, ensure_ascii=False)}}
SMS = {"SMSMessage": {"Body": "SMS treatment", "MessageType": "PROMOTIONAL"}}


@pytest.fixture
def h() -> Harness:
    return Harness(VirtualClock(START))


def audience(h: Harness) -> str:
    """120 SMS endpoints (every 10th opted out), 30 CUSTOM ones (a device id as address), 20 EMAIL ones."""
    for i in range(120):
        h.endpoint(f"s{i:03d}", f"+8190{i:08d}", "Asia/Tokyo")
        if i % 10 == 0:
            update_endpoint(h.data, h.data, h.clock, h.app_id, f"s{i:03d}", {"OptOut": "ALL"})
    for i in range(30):
        update_endpoint(h.data, h.data, h.clock, h.app_id, f"c{i:03d}", {"ChannelType": "CUSTOM", "Address": f"d{i}"})
    for i in range(20):
        request = {"ChannelType": "EMAIL", "Address": f"u{i}@example.jp"}
        update_endpoint(h.data, h.data, h.clock, h.app_id, f"m{i:03d}", request)
    return h.segment()


def delivered(h: Harness) -> dict[str, dict]:
    """Endpoint id → its entry in the delivered payloads (each endpoint must appear once)."""
    seen: dict[str, dict] = {}
    for request in h.relays.queued:
        for endpoint_id, endpoint in json.loads(request.body)["Endpoints"].items():
            assert endpoint_id not in seen
            seen[endpoint_id] = endpoint
    return seen


def test_a_custom_treatment_goes_to_the_webhook_in_batches_and_the_other_treatment_by_sms(h: Harness):
    segment = audience(h)
    campaign = h.create(
        Name="冬", SegmentId=segment, Schedule={"StartTime": "IMMEDIATE"}, MessageConfiguration=CUSTOM,
        CustomDeliveryConfiguration={"DeliveryUri": HOOK, "EndpointTypes": ["SMS", "CUSTOM"]},
        AdditionalTreatments=[{"SizePercent": 30, "MessageConfiguration": SMS}], HoldoutPercent=10,
    )  # fmt: skip
    h.work()

    treatments = split_of(campaign)
    share = {
        f"{p}{i:03d}": treatments.assign(campaign["Id"], f"{p}{i:03d}")
        for p, n in (("s", 120), ("c", 30), ("m", 20))
        for i in range(n)
    }
    opted_out = {f"s{i:03d}" for i in range(0, 120, 10)}
    custom = {e for e, t in share.items() if t is not None and t.id == "0" and e[0] in "sc" and e not in opted_out}
    by_sms = {m.endpoint_id for m, _ in h.sent()}
    payloads = [json.loads(r.body) for r in h.relays.queued]

    assert set(delivered(h)) == custom and len(custom) > 60
    assert all(len(p["Endpoints"]) <= 50 for p in payloads) and len(payloads) >= 2
    assert {r.url for r in h.relays.queued} == {HOOK}
    assert {(p["ApplicationId"], p["CampaignId"], p["TreatmentId"]) for p in payloads} == {
        (h.app_id, campaign["Id"], "0")
    }
    assert json.loads(payloads[0]["Data"]) == {"coupon": "冬のクーポン"}
    assert delivered(h)[min(custom)]["ChannelType"] in ("SMS", "CUSTOM")
    assert by_sms and not by_sms & custom  # the SMS treatment's endpoints got SMS, the CUSTOM ones did not
    assert all(share[e] is not None and share[e].id == "1" for e in by_sms)
    [activity] = service.get_campaign_activities(h.deps, h.app_id, campaign["Id"], None, None)["Item"]
    assert activity["TotalEndpointCount"] >= len(custom) + len(by_sms)


def test_a_piece_run_again_queues_the_same_deliveries_with_the_same_ids(h: Harness):
    segment = audience(h)
    campaign = h.create(
        Name="c", SegmentId=segment, Schedule={"StartTime": "IMMEDIATE"}, MessageConfiguration=CUSTOM,
        CustomDeliveryConfiguration={"DeliveryUri": HOOK},
    )  # fmt: skip
    h.work()
    first = {r.delivery_id: r.body for r in h.relays.queued}
    [run] = h.jobs.list_jobs(h.app_id, f"RUN#{campaign['Id']}", 10, None)[0]
    for shard in range(16):  # SQS delivers every piece again after a crash before the ack
        piece = CampaignPiece(
            app_id=h.app_id, job_id=campaign["Id"], run_key=run["Definition"]["RunKey"], version=1, shard=shard,
            piece=shard,
        )  # fmt: skip
        run_piece(h.deps, piece)

    again = {r.delivery_id: r.body for r in h.relays.queued[len(first) :]}
    assert len(delivered_ids := set(first)) == len(first) and again.keys() == delivered_ids
    assert {k: json.loads(v)["Endpoints"].keys() for k, v in again.items()} == {
        k: json.loads(v)["Endpoints"].keys() for k, v in first.items()
    }
    assert len({e for body in first.values() for e in json.loads(body)["Endpoints"]}) == 108 + 30 + 20


@pytest.mark.parametrize(
    ("delivery", "message", "field"),
    [
        ({"DeliveryUri": "arn:aws:lambda:ap-northeast-1:123456789012:function:f"}, CUSTOM, "function URL"),
        ({"DeliveryUri": "my-function"}, CUSTOM, "DeliveryUri"),
        ({"DeliveryUri": "http://hooks.example.com/p"}, CUSTOM, r"DeliveryUri must be an https://"),
        ({"DeliveryUri": "https://hooks.example.com/a b"}, CUSTOM, "DeliveryUri must be"),
        ({}, CUSTOM, "DeliveryUri is required"),
        ({"DeliveryUri": HOOK, "EndpointTypes": ["FAX"]}, CUSTOM, "EndpointTypes"),
        ({"DeliveryUri": HOOK}, SMS, r"CustomMessage.Data \(a string\)"),
        (None, CUSTOM, "CustomDeliveryConfiguration is required"),
        ({"DeliveryUri": HOOK}, {"CustomMessage": {"Data": 5}}, "CustomMessage.Data must be a string"),
    ],
)
def test_custom_delivery_errors_name_their_field_and_store_nothing(h: Harness, delivery, message, field):
    segment = audience(h)
    request = {"Name": "c", "SegmentId": segment, "Schedule": {"StartTime": "IMMEDIATE"}}
    request["MessageConfiguration"] = message
    if delivery is not None:
        request["CustomDeliveryConfiguration"] = delivery

    with pytest.raises(BadRequest, match=field):
        h.create(**request)
    assert h.store.campaigns == {}
