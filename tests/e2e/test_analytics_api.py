"""Analytics end to end in local mode, with the stock boto3 pinpoint client: PutEvents, the event stream in S3 and to an
app's own Kinesis stream, KPIs that equal what the sandbox Twilio itself recorded, tracked links."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from kizuna import wiring, wiring_analytics
from kizuna.domain.analytics_events import StreamEvent
from kizuna.local.sandbox_twilio_model import MAGIC_TO
from kizuna.local.system import LocalKizuna
from kizuna.services.links import rewrite_links

pytestmark = pytest.mark.e2e


def _at(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _kpi(pinpoint: Any, app_id: str, name: str, **kwargs: Any) -> dict[str, float]:
    rows = pinpoint.get_application_date_range_kpi(ApplicationId=app_id, KpiName=name, **kwargs)[
        "ApplicationDateRangeKpiResponse"
    ]["KpiResult"]["Rows"]
    return {(r["GroupedBys"][0]["Value"] if r["GroupedBys"] else ""): float(r["Values"][0]["Value"]) for r in rows}


def _session_batch(endpoint: str, start: timedelta) -> dict[str, Any]:
    return {
        endpoint: {
            "Endpoint": {"ChannelType": "SMS", "Address": "+819012340000"},
            "Events": {
                f"{endpoint}-start": {"EventType": "_session.start", "Timestamp": _at(start),
                                      "Session": {"Id": f"{endpoint}-s", "StartTimestamp": _at(start)}},
                f"{endpoint}-buy": {"EventType": "purchase", "Timestamp": _at(start + timedelta(seconds=5)),
                                    "Attributes": {"item": "抹茶"}, "Metrics": {"price": 1200}},
                f"{endpoint}-bad": {"EventType": "purchase", "Timestamp": "not a time"},
            },
        }
    }  # fmt: skip


def test_put_events_counts_each_event_once_and_a_malformed_one_fails_alone(kizuna: LocalKizuna, pinpoint, app_id):
    batch = {**_session_batch("phone-1", -timedelta(minutes=3)), **_session_batch("phone-2", -timedelta(minutes=2))}
    first = pinpoint.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": batch})["EventsResponse"]
    replay = pinpoint.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": batch})["EventsResponse"]
    for response in (first, replay):
        answers = response["Results"]["phone-1"]["EventsItemResponse"]
        assert answers["phone-1-start"] == {"Message": "Accepted", "StatusCode": 202}
        assert answers["phone-1-bad"]["StatusCode"] == 400 and "Timestamp" in answers["phone-1-bad"]["Message"]
    assert kizuna.drain_analytics()
    assert _kpi(pinpoint, app_id, "events-grouped-by-event-type") == {"_session.start": 2.0, "purchase": 2.0}
    assert _kpi(pinpoint, app_id, "sessions") == {"": 2.0}
    assert _kpi(pinpoint, app_id, "active-endpoints") == {"": 2.0}
    assert (
        pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="phone-1")["EndpointResponse"]["Address"]
        == "+819012340000"
    )  # noqa: E501


def _send_sms(pinpoint: Any, app_id: str, addresses: list[str]) -> dict[str, str]:
    for i, address in enumerate(addresses):
        pinpoint.update_endpoint(
            ApplicationId=app_id, EndpointId=f"c{i}", EndpointRequest={"ChannelType": "SMS", "Address": address}
        )
    response = pinpoint.send_messages(
        ApplicationId=app_id,
        MessageRequest={
            "Endpoints": {f"c{i}": {} for i in range(len(addresses))},
            "MessageConfiguration": {"SMSMessage": {"Body": f"分析 {app_id[:6]}", "MessageType": "TRANSACTIONAL"}},
        },
    )["MessageResponse"]["EndpointResult"]
    return {r["Address"]: r.get("MessageId", "") for r in response.values()}


def test_sms_kpis_equal_the_sandbox_twilios_own_records(kizuna: LocalKizuna, pinpoint, app_id):
    undelivered = {"+819011110007": 30003, "+819011110011": 30005}
    for number, code in undelivered.items():
        kizuna.sandbox.destination_outcomes[number] = ("undelivered", code)
    refused = ["+15005550001", "+15005550009"]  # Twilio's magic numbers: refused when the message is created
    addresses = [f"+81901111{n:04d}" for n in range(12)] + list(undelivered) + refused + ["+14155550100"]
    _send_sms(pinpoint, app_id, addresses)
    deadline = time.monotonic() + 60
    body = f"分析 {app_id[:6]}"
    while time.monotonic() < deadline:
        mine = [m for m in kizuna.sandbox.messages.values() if m.body == body]
        if len(mine) == len(addresses) - len(refused) and all(
            m.status in ("delivered", "undelivered", "failed") for m in mine
        ):
            break
        time.sleep(0.2)
    assert kizuna.drain_analytics()
    # What the sandbox recorded, counted independently of Kizuna:
    mine = [m for m in kizuna.sandbox.messages.values() if m.body == body]
    delivered = sum(1 for m in mine if m.status == "delivered")
    errors = Counter(str(m.error_code) for m in mine if m.error_code) + Counter(
        str(MAGIC_TO[number][0]) for number in refused
    )
    countries = Counter("US" if m.to.startswith("+1") else "JP" for m in mine)
    assert _kpi(pinpoint, app_id, "txn-sms-sent") == {"": float(len(mine) + len(refused))}
    assert _kpi(pinpoint, app_id, "txn-sms-delivered") == {"": float(delivered)}
    assert _kpi(pinpoint, app_id, "txn-sms-error-distribution") == {k: float(v) for k, v in errors.items()}
    assert _kpi(pinpoint, app_id, "txn-sms-delivery-rate") == {"": delivered / (len(mine) + len(refused))}
    today = datetime.now(UTC).date().isoformat()
    assert _kpi(pinpoint, app_id, "txn-sms-delivered-grouped-by-date") == {today: float(delivered)}
    sent_by_country = _kpi(pinpoint, app_id, "txn-sms-sent-grouped-by-country")
    assert sent_by_country == {"JP": countries["JP"], "US": countries["US"] + len(refused)}
    # campaign metrics count campaign messages only: these were transactional
    assert _kpi(pinpoint, app_id, "successful-delivery-rate") == {}


def test_every_object_the_stream_wrote_parses_line_by_line_into_pinpoints_schema(kizuna: LocalKizuna, pinpoint, app_id):
    pinpoint.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": _session_batch("phone-9", timedelta())})
    assert kizuna.drain_analytics()
    s3 = wiring.aws("s3")
    lines = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=kizuna.resources.bucket, Prefix="events/"):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=kizuna.resources.bucket, Key=obj["Key"])["Body"].read()
            assert body.endswith(b"\n")
            lines += body.splitlines()
    events = [StreamEvent.model_validate(json.loads(line)) for line in lines]
    assert {e.event_type for e in events if e.application.app_id == app_id} == {"_session.start", "purchase"}


def test_a_redelivered_object_notification_counts_nothing_again(kizuna: LocalKizuna, pinpoint, app_id):
    pinpoint.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": _session_batch("phone-3", timedelta())})
    assert kizuna.drain_analytics()
    before = _kpi(pinpoint, app_id, "events")
    s3 = wiring.aws("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=kizuna.resources.bucket, Prefix="events/")["Contents"]]
    notification = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                                 "s3": {"bucket": {"name": kizuna.resources.bucket}, "object": {"key": k}}} for k in keys]}  # fmt: skip  # noqa: E501
    wiring.aws("sqs").send_message(
        QueueUrl=kizuna.resources.queue_urls["analytics"], MessageBody=json.dumps(notification)
    )
    assert kizuna.drain_analytics()
    assert _kpi(pinpoint, app_id, "events") == before == {"": 2.0}


def test_an_event_older_than_90_days_is_refused_and_old_ranges_are_not_answered(pinpoint, app_id):
    old = {"ep": {"Endpoint": {}, "Events": {"old": {"EventType": "purchase", "Timestamp": _at(-timedelta(days=91))}}}}
    answer = pinpoint.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": old})["EventsResponse"]
    assert answer["Results"]["ep"]["EventsItemResponse"]["old"]["StatusCode"] == 400
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="within the last 90 days"):
        pinpoint.get_application_date_range_kpi(
            ApplicationId=app_id,
            KpiName="events",
            StartTime=datetime.now(UTC) - timedelta(days=91),
            EndTime=datetime.now(UTC) - timedelta(days=85),
        )
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="31 days or fewer"):
        pinpoint.get_application_date_range_kpi(
            ApplicationId=app_id, KpiName="events", StartTime=datetime.now(UTC) - timedelta(days=40)
        )


def test_an_apps_own_kinesis_stream_receives_its_events(kizuna: LocalKizuna, pinpoint, app_id):
    kinesis = wiring.aws("kinesis")
    name = f"app-stream-{app_id[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]
    role = "arn:aws:iam::123456789012:role/pinpoint-events"
    stream = pinpoint.put_event_stream(
        ApplicationId=app_id, WriteEventStream={"DestinationStreamArn": arn, "RoleArn": role}
    )["EventStream"]
    assert stream["DestinationStreamArn"] == arn and stream["ApplicationId"] == app_id
    assert pinpoint.get_event_stream(ApplicationId=app_id)["EventStream"]["RoleArn"] == role
    pinpoint.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": _session_batch("phone-4", timedelta())})
    assert kizuna.drain_analytics()
    shard = kinesis.describe_stream(StreamName=name)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    received = [StreamEvent.model_validate(json.loads(r["Data"])) for r in records]
    assert sorted(e.event_type for e in received) == ["_session.start", "purchase"]
    pinpoint.delete_event_stream(ApplicationId=app_id)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_event_stream(ApplicationId=app_id)
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="DestinationStreamArn"):
        pinpoint.put_event_stream(
            ApplicationId=app_id, WriteEventStream={"DestinationStreamArn": "arn:aws:s3:::bucket", "RoleArn": role}
        )


def test_a_sent_link_is_tracked_redirects_and_its_click_is_counted(kizuna: LocalKizuna, pinpoint, app_id):
    kizuna.kizuna_client().update_messaging_policy(ApplicationId=app_id, MessagingPolicy={"TrackLinks": True})
    number = "+819012345601"
    message = "セール https://shop.example.jp/sale?c=1 をご覧ください。"
    sent = pinpoint.send_messages(
        ApplicationId=app_id,
        MessageRequest={"Addresses": {number: {"ChannelType": "SMS"}},
                        "MessageConfiguration": {"SMSMessage": {"Body": message}}},
    )["MessageResponse"]["Result"][number]  # fmt: skip
    assert sent["DeliveryStatus"] == "SUCCESSFUL"
    assert kizuna.drain(30)
    (delivered,) = [r for r in kizuna.sandbox.requests if r.to == number]
    short = delivered.body.split()[1]
    assert short.startswith(f"{kizuna.base_url}/l/") and "shop.example.jp" not in delivered.body
    assert delivered.body.endswith(" をご覧ください。")

    preview = requests.get(short, allow_redirects=False, headers={"User-Agent": "WhatsApp/2.23"}, timeout=10)
    answer = requests.get(short, allow_redirects=False, headers={"User-Agent": "Mozilla/5.0"}, timeout=10)
    for response in (preview, answer):
        assert response.status_code == 302 and response.headers["Location"] == "https://shop.example.jp/sale?c=1"
    assert requests.get(f"{kizuna.base_url}/l/NoSuchCod3", allow_redirects=False, timeout=10).status_code == 404
    assert kizuna.drain_analytics()
    assert _kpi(pinpoint, app_id, "sms-clicks") == {"": 1.0}  # the preview is not a click


def test_a_links_click_counts_for_its_campaign(kizuna: LocalKizuna, pinpoint, app_id):
    store = wiring_analytics.link_store(kizuna.resources.tables["analytics"])
    body = rewrite_links(
        "セール https://shop.example.jp/sale?c=1 をご覧ください", store, kizuna.clock, base_url=kizuna.base_url,
        app_id=app_id, message_id="msg-1", endpoint_id="c1", attributes={"campaign_id": "camp-7"},
    )  # fmt: skip
    answer = requests.get(body.split()[1], allow_redirects=False, headers={"User-Agent": "Mozilla/5.0"}, timeout=10)
    assert answer.status_code == 302
    assert kizuna.drain_analytics()
    assert _kpi(pinpoint, app_id, "link-clicks-grouped-by-campaign") == {"camp-7": 1.0}
    clicks = pinpoint.get_campaign_date_range_kpi(ApplicationId=app_id, CampaignId="camp-7", KpiName="clicks")
    assert clicks["CampaignDateRangeKpiResponse"]["KpiResult"]["Rows"][0]["Values"][0]["Value"] == "1.0"
