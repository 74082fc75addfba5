"""Campaigns end to end in local mode with the stock boto3 pinpoint client: a Japanese A/B campaign to a segment
through the jobs queue, the sender and the sandbox Twilio; its activity and KPIs; a scheduled run fired by the local
scheduler; an EVENT campaign triggered by PutEvents within seconds; errors in Pinpoint's shape."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from kizuna.domain import custom_delivery
from kizuna.local.system import REGION
from tests.e2e.support import until

pytestmark = pytest.mark.e2e

BODY_A = "秋のセール: 全品10%オフ"
BODY_B = "秋のセール: 送料無料"


def audience(pinpoint: Any, app_id: str, n: int, prefix: str = "+8190555") -> str:
    pinpoint.update_endpoints_batch(
        ApplicationId=app_id,
        EndpointBatchRequest={
            "Item": [
                {
                    "Id": f"ep-{i}",
                    "ChannelType": "SMS",
                    "Address": f"{prefix}{i:05d}",
                    "Demographic": {"Timezone": "Asia/Tokyo"},
                }
                for i in range(n)
            ]
        },
    )
    segment = pinpoint.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={"Name": "all", "Dimensions": {"Demographic": {"Channel": {"Values": ["SMS"]}}}},
    )
    return segment["SegmentResponse"]["Id"]


def test_an_ab_campaign_reaches_each_endpoint_once_with_its_treatment_and_reports_its_activity(
    kizuna, pinpoint, app_id
):
    segment = audience(pinpoint, app_id, 40)
    campaign = pinpoint.create_campaign(
        ApplicationId=app_id,
        WriteCampaignRequest={
            "Name": "秋のセール",
            "SegmentId": segment,
            "MessageConfiguration": {"SMSMessage": {"Body": BODY_A, "MessageType": "PROMOTIONAL"}},
            "TreatmentName": "割引",
            "AdditionalTreatments": [
                {"SizePercent": 40, "TreatmentName": "送料", "MessageConfiguration": {"SMSMessage": {"Body": BODY_B}}}
            ],
            "HoldoutPercent": 10,
            "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
        },
    )["CampaignResponse"]
    assert campaign["Version"] == 1 and campaign["SegmentVersion"] == 1
    app_arn = pinpoint.get_app(ApplicationId=app_id)["ApplicationResponse"]["Arn"]
    assert campaign["Arn"] == f"{app_arn}/campaigns/{campaign['Id']}"
    assert campaign["AdditionalTreatments"][0]["Id"] == "1"

    activities = until(
        lambda: [
            a
            for a in pinpoint.get_campaign_activities(ApplicationId=app_id, CampaignId=campaign["Id"])[
                "ActivitiesResponse"
            ]["Item"]
            if a["State"] == "COMPLETED"
        ]
    )
    assert kizuna.drain(60)
    [activity] = activities
    a = sum(kizuna.sandbox.count(f"+8190555{i:05d}", BODY_A) for i in range(40))
    b = sum(kizuna.sandbox.count(f"+8190555{i:05d}", BODY_B) for i in range(40))
    assert a + b == activity["TotalEndpointCount"] == activity["SuccessfulEndpointCount"]
    assert a > 0 and b > 0 and a + b < 40  # both treatments sent, the holdout got nothing
    assert all(kizuna.sandbox.count(f"+8190555{i:05d}", BODY_A) + kizuna.sandbox.count(f"+8190555{i:05d}", BODY_B)
               <= 1 for i in range(40))  # fmt: skip
    state = pinpoint.get_campaign(ApplicationId=app_id, CampaignId=campaign["Id"])["CampaignResponse"]["State"]
    assert state["CampaignStatus"] == "COMPLETED"


def test_a_scheduled_run_fires_from_the_local_scheduler_and_pausing_stops_the_next(kizuna, pinpoint, app_id):
    segment = audience(pinpoint, app_id, 2, prefix="+8190666")
    start = datetime.now(UTC) + timedelta(seconds=3)
    campaign = pinpoint.create_campaign(
        ApplicationId=app_id,
        WriteCampaignRequest={
            "Name": "hourly",
            "SegmentId": segment,
            "MessageConfiguration": {"SMSMessage": {"Body": "毎時のお知らせ"}},
            "Schedule": {"StartTime": start.isoformat(), "Frequency": "HOURLY", "Timezone": "Asia/Tokyo"},
        },
    )["CampaignResponse"]
    assert until(lambda: kizuna.sandbox.count("+819066600000", "毎時のお知らせ") == 1, 90)
    pending = [name for _, name in kizuna.scheduler.pending() if name.startswith("kizuna-run-")]
    assert len(pending) == 1  # the next hour's run
    paused = pinpoint.update_campaign(
        ApplicationId=app_id, CampaignId=campaign["Id"], WriteCampaignRequest={"IsPaused": True}
    )["CampaignResponse"]
    assert paused["Version"] == 2 and paused["State"]["CampaignStatus"] == "PAUSED"
    assert [n for _, n in kizuna.scheduler.pending() if n.startswith("kizuna-run-")] == []
    versions = pinpoint.get_campaign_versions(ApplicationId=app_id, CampaignId=campaign["Id"])["CampaignsResponse"]
    assert [v["Version"] for v in versions["Item"]] == [2, 1]


def test_an_event_campaign_sends_within_seconds_of_a_matching_event_and_never_for_others(kizuna, pinpoint, app_id):
    segment = audience(pinpoint, app_id, 2, prefix="+8190777")
    pinpoint.create_campaign(
        ApplicationId=app_id,
        WriteCampaignRequest={
            "Name": "ご購入ありがとうございます",
            "SegmentId": segment,
            "MessageConfiguration": {"SMSMessage": {"Body": "ご購入ありがとうございます"}},
            "Schedule": {
                "StartTime": "IMMEDIATE",
                "Frequency": "EVENT",
                "EventFilter": {
                    "FilterType": "ENDPOINT",
                    "Dimensions": {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["purchase"]}},
                },
            },
        },
    )

    def put(endpoint_id: str, event_type: str, event_id: str) -> None:
        stamp = datetime.now(UTC).isoformat()
        pinpoint.put_events(
            ApplicationId=app_id,
            EventsRequest={"BatchItem": {endpoint_id: {"Endpoint": {}, "Events": {
                event_id: {"EventType": event_type, "Timestamp": stamp}}}}},
        )  # fmt: skip

    sent_at = time.monotonic()
    put("ep-0", "purchase", "order-1")
    assert until(lambda: kizuna.sandbox.count("+819077700000", "ご購入ありがとうございます") == 1, 10)
    assert time.monotonic() - sent_at < 5
    put("ep-0", "purchase", "order-1")  # an SDK retry of the same event: the sender's claim refuses the copy
    put("ep-1", "view", "view-1")
    assert kizuna.drain(30)
    assert kizuna.sandbox.count("+819077700000", "ご購入ありがとうございます") == 1
    assert kizuna.sandbox.count("+819077700001", "ご購入ありがとうございます") == 0


def test_bad_campaigns_are_refused_in_pinpoints_error_shape(pinpoint, app_id):
    segment = audience(pinpoint, app_id, 1, prefix="+8190888")
    with pytest.raises(ClientError) as error:
        pinpoint.create_campaign(
            ApplicationId=app_id,
            WriteCampaignRequest={
                "Name": "x",
                "SegmentId": segment,
                "MessageConfiguration": {"SMSMessage": {"Body": "x"}},
                "Schedule": {"StartTime": "2026-01-01T00:00:00Z", "Frequency": "DAILY"},
            },
        )
    assert error.value.response["Error"]["Code"] == "BadRequestException"
    assert "StartTime" in error.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as error:
        pinpoint.get_campaign(ApplicationId=app_id, CampaignId=uuid.uuid4().hex)
    assert error.value.response["Error"]["Code"] == "NotFoundException"


class CustomChannel:
    """The customer's own webhook for a CUSTOM campaign: checks Kizuna-Signature with the deployment's signing secret
    and records each delivery; the first request is answered 503, as a busy receiver would."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.deliveries: list[tuple[str, dict[str, Any]]] = []
        self.refusals = 0
        self.busy = 1
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/pinpoint/custom"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _app(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data(as_text=True)
        if not custom_delivery.verify(self.secret, request.headers.get("Kizuna-Signature", ""), body):
            self.refusals += 1
            return Response("bad signature", 401)(environ, start_response)
        if self.busy:
            self.busy -= 1
            return Response("busy", 503)(environ, start_response)
        self.deliveries.append((request.headers["Kizuna-Delivery-Id"], json.loads(body)))
        return Response("", 204)(environ, start_response)

    def close(self) -> None:
        self._server.shutdown()


def test_a_custom_campaign_posts_signed_batches_to_the_webhook_and_retries_a_busy_one(kizuna, pinpoint, app_id):
    segment = audience(pinpoint, app_id, 90, prefix="+8190444")
    secrets = boto3.client("secretsmanager", endpoint_url=kizuna.aws_endpoint, region_name=REGION)
    secret = secrets.get_secret_value(SecretId=kizuna.resources.secrets["webhook_signing"])["SecretString"]
    channel = CustomChannel(secret)
    try:
        campaign = pinpoint.create_campaign(
            ApplicationId=app_id,
            WriteCampaignRequest={
                "Name": "アプリ内クーポン",
                "SegmentId": segment,
                "MessageConfiguration": {"CustomMessage": {"Data": '{"coupon": "WINTER"}'}},
                "CustomDeliveryConfiguration": {"DeliveryUri": channel.url, "EndpointTypes": ["SMS"]},
                "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
            },
        )["CampaignResponse"]
        assert campaign["CustomDeliveryConfiguration"]["DeliveryUri"] == channel.url
        until(lambda: sum(len(p["Endpoints"]) for _, p in channel.deliveries) >= 90, 60)
        assert kizuna.drain(60)

        received = [e for _, p in channel.deliveries for e in p["Endpoints"]]
        assert sorted(received) == sorted(f"ep-{i}" for i in range(90))  # each endpoint once, the busy batch too
        assert all(len(p["Endpoints"]) <= 50 for _, p in channel.deliveries)
        assert {p["CampaignId"] for _, p in channel.deliveries} == {campaign["Id"]}
        assert {p["Data"] for _, p in channel.deliveries} == {'{"coupon": "WINTER"}'}
        assert channel.refusals == 0 and channel.busy == 0
        assert sum(kizuna.sandbox.count(f"+8190444{i:05d}", '{"coupon": "WINTER"}') for i in range(90)) == 0
    finally:
        channel.close()
