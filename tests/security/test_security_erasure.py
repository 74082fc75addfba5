"""Erasure: after DeleteUserEndpoints, which copies of the user's personal data are gone, in every store local mode
has — every DynamoDB table and every S3 object — found by searching them all, not by asking the code that wrote them.

The user has an SMS and an e-mail endpoint; the flow writes every kind of copy Kizuna makes: delivery records and
their status events (SMS delivered, e-mail sent), a reply (inbound webhook: origination number and body), a custom
event (PutEvents: ledger, endpoint activity state, aggregates, sketches), then erases the user. Another user of the
same app is the control: their data must still be there, so the search would have found it.

What holds (docs/security.md, "Erasure"), once the erasure job DeleteUserEndpoints started has completed:
- No DynamoDB item holds the user's phone number, e-mail address, user id, message text or custom-event attributes.
- The erased endpoints' ids (the app's own pseudonymous keys) remain only where this module lists them, until those
  items expire (delivery records 100 days, analytics ledger keys and endpoint activity 91 days).
- No event-stream object in S3 holds the address, the reply text, the custom attribute, the user id or the endpoint
  ids: the job rewrote the objects that held them (kizuna.services.erase_events).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from kizuna import wiring
from kizuna.catalog import STREAMS, TABLES
from kizuna.local.sandbox_twilio import VALID_FROM
from kizuna.local.system import LocalKizuna

pytestmark = pytest.mark.e2e

USER = "user-erase-4711"
PHONE = "+819077770001"
EMAIL = "erase.me@example.jp"
REPLY = "消してほしい返事です"
NICKNAME = "はなちゃん4711"  # a custom event attribute (PutEvents): whatever the app sends about its user
ENDPOINTS = ("erase-sms", "erase-mail")
OTHER = {"user": "user-keep-4712", "phone": "+819077770002", "endpoint": "keep-sms", "nickname": "のこる4712"}
# Where the erased endpoints' ids stay until their items expire (the table's TTL attribute): see the docstring.
ENDPOINT_IDS_REMAIN_IN = {"messages", "analytics_events", "analytics"}


def _personal(phone: str) -> set[str]:
    return {phone, phone[1:], phone[3:]}


@pytest.fixture(scope="module")
def stores() -> Iterator[dict[str, Any]]:
    with LocalKizuna() as kizuna:
        app_id = _run(kizuna)
        yield {"app_id": app_id, "dynamodb": _dynamodb_items(kizuna), "s3": _s3_lines(kizuna)}


def _run(kizuna: LocalKizuna) -> str:
    client = kizuna.kizuna_client()
    app_id = client.create_app(CreateApplicationRequest={"Name": f"erase-{uuid.uuid4().hex[:8]}"})[
        "ApplicationResponse"
    ]["Id"]
    client.update_email_channel(
        ApplicationId=app_id,
        EmailChannelRequest={
            "FromAddress": "shop@kizuna.local",
            "Identity": "arn:aws:ses:us-east-1:123456789012:identity/kizuna.local",
            "Enabled": True,
        },
    )
    for endpoint_id, channel, address, user in (
        (ENDPOINTS[0], "SMS", PHONE, USER),
        (ENDPOINTS[1], "EMAIL", EMAIL, USER),
        (OTHER["endpoint"], "SMS", OTHER["phone"], OTHER["user"]),
    ):
        client.update_endpoint(
            ApplicationId=app_id,
            EndpointId=endpoint_id,
            EndpointRequest={"ChannelType": channel, "Address": address, "User": {"UserId": user}},
        )
    sms = {"SMSMessage": {"Body": "ご予約の確認です"}}
    email = {"EmailMessage": {"SimpleEmail": {"Subject": {"Data": "確認"}, "TextPart": {"Data": "本文"}}}}
    client.send_messages(
        ApplicationId=app_id,
        MessageRequest={"Endpoints": {ENDPOINTS[0]: {}, OTHER["endpoint"]: {}}, "MessageConfiguration": sms},
    )
    client.send_messages(
        ApplicationId=app_id, MessageRequest={"Endpoints": {ENDPOINTS[1]: {}}, "MessageConfiguration": email}
    )
    inbound = f"{kizuna.base_url}/webhooks/twilio/inbound?app={app_id}"
    kizuna.sandbox.simulate_inbound(to=VALID_FROM, from_=PHONE, body=REPLY, url=inbound)
    kizuna.sandbox.simulate_inbound(to=VALID_FROM, from_=OTHER["phone"], body="残る返事", url=inbound)
    now = datetime.now(UTC).isoformat()
    client.put_events(
        ApplicationId=app_id,
        EventsRequest={
            "BatchItem": {
                endpoint_id: {"Endpoint": {}, "Events": {f"ev-{endpoint_id}": {"EventType": "viewed", "Timestamp": now,
                                                                                "Attributes": {"nickname": nickname}}}}
                for endpoint_id, nickname in ((ENDPOINTS[0], NICKNAME), (OTHER["endpoint"], OTHER["nickname"]))
            }
        },
    )  # fmt: skip
    assert kizuna.drain_analytics(120)
    erased = client.delete_user_endpoints(ApplicationId=app_id, UserId=USER)["EndpointsResponse"]["Item"]
    assert sorted(e["Id"] for e in erased) == sorted(ENDPOINTS)
    assert kizuna.drain_analytics(60)
    _wait_for_erasure(client, app_id)
    return app_id


def _wait_for_erasure(client: Any, app_id: str, timeout_s: float = 60) -> None:
    """The stream's part of the erasure is a job (GetErasureJobs shows it): wait until it has completed."""
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = client.get_erasure_jobs(ApplicationId=app_id)["ErasureJobsResponse"]["Item"]
        if jobs and all(j["JobStatus"] == "COMPLETED" for j in jobs):
            assert len(jobs) == 1 and jobs[0]["FailedPieces"] == 0 and jobs[0]["ObjectsRewritten"] >= 1, jobs
            return
        assert time.monotonic() < deadline, jobs
        time.sleep(0.5)


def _dynamodb_items(kizuna: LocalKizuna) -> dict[str, list[str]]:
    ddb = wiring.aws("dynamodb")
    items: dict[str, list[str]] = {}
    for key in TABLES:
        name = kizuna.resources.tables[key]
        pages = ddb.get_paginator("scan").paginate(TableName=name)
        # Binary attributes (KMS ciphertexts, distinct-count sketches of hashed endpoint ids) are searched as hex.
        items[key] = [
            json.dumps(i, ensure_ascii=False, default=lambda b: bytes(b).hex())
            for page in pages
            for i in page.get("Items", [])
        ]
    return items


def _s3_lines(kizuna: LocalKizuna) -> list[str]:
    kizuna.firehose_buffer.flush()
    s3 = wiring.aws("s3")
    lines: list[str] = []
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read()
                lines += body.decode("utf-8", "replace").splitlines()
    return lines


def _escaped(needles: set[str]) -> set[str]:
    """Each needle as written, and as it reads inside JSON written with ensure_ascii (once or twice nested)."""
    once = {json.dumps(n)[1:-1] for n in needles}
    return set(needles) | once | {json.dumps(n)[1:-1] for n in once}


def _tables_holding(stores: dict[str, Any], needles: set[str]) -> dict[str, int]:
    needles = _escaped(needles)
    found = {}
    for table, items in stores["dynamodb"].items():
        hits = sum(1 for item in items if any(n in item for n in needles))
        if hits:
            found[table] = hits
    return found


def _s3_holding(stores: dict[str, Any], needles: set[str]) -> list[str]:
    needles = _escaped(needles)
    return [line[:200] for line in stores["s3"] if any(n in line for n in needles)]


# --- the control: the search finds what is there ---------------------------------------------------------------


def test_the_other_users_data_is_still_found(stores):
    # The same kinds of copies exist for the user who was not erased, so a search that finds nothing means gone.
    assert "data" in _tables_holding(stores, _personal(OTHER["phone"]) | {OTHER["user"]})
    assert {"data"} | ENDPOINT_IDS_REMAIN_IN <= set(_tables_holding(stores, {OTHER["endpoint"]}))
    assert "analytics_events" in _tables_holding(stores, {OTHER["nickname"]})
    assert _s3_holding(stores, _personal(OTHER["phone"]))
    assert _s3_holding(stores, {"残る返事"})
    assert _s3_holding(stores, {OTHER["nickname"]}) and _s3_holding(stores, {f'"{OTHER["endpoint"]}"'})


# --- DynamoDB ----------------------------------------------------------------------------------------------------


def test_no_table_holds_the_erased_users_phone_number(stores):
    assert _tables_holding(stores, _personal(PHONE)) == {}


def test_no_table_holds_the_erased_users_email_address(stores):
    assert _tables_holding(stores, {EMAIL}) == {}


def test_no_table_holds_the_erased_user_id(stores):
    assert _tables_holding(stores, {USER}) == {}


def test_no_table_holds_the_erased_users_reply(stores):
    assert _tables_holding(stores, {REPLY}) == {}


def test_the_erased_endpoint_ids_remain_only_where_documented_until_they_expire(stores):
    holding = _tables_holding(stores, set(ENDPOINTS))
    assert set(holding) <= ENDPOINT_IDS_REMAIN_IN, holding
    for table in holding:
        assert TABLES[table].ttl_attribute, f"{table} keeps erased endpoint ids and never expires them"


def test_the_erasure_record_holds_no_personal_data(stores):
    records = [i for i in stores["dynamodb"]["data"] if "ERASURE#" in i]
    assert len(records) == 1
    assert "HMAC-SHA256" in records[0]
    for needle in (*_personal(PHONE), EMAIL, USER, *ENDPOINTS):
        assert needle not in records[0]


def test_no_table_holds_the_erased_users_custom_event_attributes(stores):
    assert _tables_holding(stores, {NICKNAME}) == {}


# --- the event stream in S3 --------------------------------------------------------------------------------------


def test_the_event_stream_bucket_is_where_the_raw_events_are(stores):
    assert STREAMS["events"].expire_days == 400  # docs/security.md names this figure
    assert _s3_holding(stores, {'"_SMS.SUCCESS"'})


def test_event_stream_objects_no_longer_hold_the_erased_users_data(stores):
    assert _s3_holding(stores, _personal(PHONE) | {EMAIL, REPLY, NICKNAME, USER, *ENDPOINTS}) == []
