"""`kizuna migrate apply` against local mode: the fixture Pinpoint stack recreated through the API (checked with the
stock boto3 client), a second apply that finds everything and changes nothing, and the migrated campaign running —
first as the IMMEDIATE campaign apply created, then to endpoints imported from a Pinpoint export file, whose opt-out
is kept."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from kizuna import cli
from kizuna.local.system import REGION
from kizuna.migrate.apply_steps import MARKER
from tests.e2e.support import until

pytestmark = pytest.mark.e2e

FIXTURE = Path(__file__).parents[1] / "fixtures" / "pinpoint_stack.yaml"
PROJECT = f"shop{uuid.uuid4().hex[:6]}"  # template names are account-wide: unique per run of this module
STACK = f"e2e-{PROJECT}"
WELCOME = "様、ご登録ありがとうございます"


@pytest.fixture(scope="module")
def api(kizuna) -> Iterator[list[str]]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KIZUNA_ACCESS_KEY_ID", kizuna.credentials.access_key_id)
        env.setenv("KIZUNA_SECRET_ACCESS_KEY", kizuna.credentials.secret_access_key)
        yield ["--endpoint-url", kizuna.base_url, "--region", REGION]


def apply(api: list[str], report: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    """`api` may carry more arguments (--journey FILE)."""
    code = cli.main(
        ["migrate", "apply", str(FIXTURE), *api, "--stack-name", STACK, "--report", str(report),
         "--parameter", f"ProjectName={PROJECT}", "--parameter", "AWS::AccountId=123456789012",
         "--parameter", "EventsStream.Arn=arn:aws:kinesis:us-east-1:123456789012:stream/shop-events",
         "--parameter", "EventsRole.Arn=arn:aws:iam::123456789012:role/shop-events"]
    )  # fmt: skip
    return code, {r["logical_id"]: r for r in json.loads(report.read_text(encoding="utf-8"))["resources"]}


@pytest.fixture(scope="module")
def first(api, tmp_path_factory) -> tuple[int, dict[str, dict[str, Any]]]:
    return apply(api, tmp_path_factory.mktemp("migrate") / "report.json")


def test_apply_recreates_the_stack_through_the_api(pinpoint, first):
    code, report = first
    app_id = report["App"]["id"]

    assert code == 2  # the push channel and the in-app template cannot move
    skipped = {lid for lid, r in report.items() if r["outcome"] == "skipped"}
    assert skipped == {"Push", "Banner", "EmailConfigurationSet"}
    assert not report["EmailConfigurationSet"]["blocking"]  # SES's own resource: a decision, not a blocker
    assert all(r["outcome"] in ("created", "updated") for r in report.values() if r["outcome"] != "skipped")
    app = pinpoint.get_app(ApplicationId=app_id)["ApplicationResponse"]
    assert app["Name"] == PROJECT and app["tags"] == {"team": "growth", MARKER: f"{STACK}/App"}
    settings = pinpoint.get_application_settings(ApplicationId=app_id)["ApplicationSettingsResource"]
    assert settings["QuietTime"] == {"Start": "22:00", "End": "07:00"} and settings["Limits"]["Daily"] == 3
    assert pinpoint.get_sms_channel(ApplicationId=app_id)["SMSChannelResponse"]["SenderId"] == "SHOP"
    email = pinpoint.get_email_channel(ApplicationId=app_id)["EmailChannelResponse"]
    assert (email["FromAddress"], email["ConfigurationSet"]) == ("news@kizuna.local", "kizuna-email")
    stream = pinpoint.get_event_stream(ApplicationId=app_id)["EventStream"]
    assert stream["DestinationStreamArn"] == "arn:aws:kinesis:us-east-1:123456789012:stream/shop-events"
    sms = pinpoint.get_sms_template(TemplateName=f"{PROJECT}-welcome")["SMSTemplateResponse"]
    assert sms["Body"] == "{{Attributes.Name}}" + WELCOME
    assert pinpoint.get_email_template(TemplateName=f"{PROJECT}-newsletter")["EmailTemplateResponse"]["Subject"]
    [segment] = pinpoint.get_segments(ApplicationId=app_id)["SegmentsResponse"]["Item"]
    assert (segment["Id"], segment["Name"]) == (report["Regulars"]["id"], "regulars")
    [campaign] = pinpoint.get_campaigns(ApplicationId=app_id)["CampaignsResponse"]["Item"]
    assert campaign["Id"] == report["Welcome"]["id"] and campaign["SegmentId"] == segment["Id"]
    assert campaign["TemplateConfiguration"] == {"SMSTemplate": {"Name": f"{PROJECT}-welcome"}}
    assert campaign["Schedule"]["Timezone"] == "UTC+09" and campaign["Priority"] == 3  # IsShop is false here


def test_a_second_apply_finds_everything_and_changes_nothing(pinpoint, api, first, tmp_path):
    _, before = first

    code, again = apply(api, tmp_path / "again.json")

    assert code == 2
    moved = {lid for lid, r in before.items() if r["outcome"] != "skipped"}
    assert {lid: again[lid]["outcome"] for lid in moved} == dict.fromkeys(moved, "unchanged")
    assert {lid: again[lid]["id"] for lid in moved} == {lid: before[lid]["id"] for lid in moved}
    apps = pinpoint.get_apps(PageSize="1000")["ApplicationsResponse"]["Item"]
    assert [a["Id"] for a in apps if a["tags"].get(MARKER) == f"{STACK}/App"] == [before["App"]["id"]]
    app_id = before["App"]["id"]
    assert len(pinpoint.get_segments(ApplicationId=app_id)["SegmentsResponse"]["Item"]) == 1
    [campaign] = pinpoint.get_campaigns(ApplicationId=app_id)["CampaignsResponse"]["Item"]
    assert campaign["Version"] == 1
    versions = pinpoint.list_template_versions(TemplateName=f"{PROJECT}-welcome", TemplateType="SMS")
    assert len(versions["TemplateVersionsResponse"]["Item"]) == 1


def completed(pinpoint: Any, app_id: str, campaign_id: str) -> list[dict[str, Any]]:
    runs = pinpoint.get_campaign_activities(ApplicationId=app_id, CampaignId=campaign_id)["ActivitiesResponse"]
    return [a for a in runs["Item"] if a["State"] == "COMPLETED"]


def test_the_migrated_campaign_runs_and_reaches_imported_endpoints_except_opted_out_ones(
    kizuna, pinpoint, api, first, tmp_path
):
    _, report = first
    app_id, campaign_id = report["App"]["id"], report["Welcome"]["id"]
    # The IMMEDIATE campaign ran when apply created it, before any endpoint was imported.
    assert until(lambda: completed(pinpoint, app_id, campaign_id), 90)

    # A Pinpoint endpoint export (JSON lines, as CreateExportJob wrote it) imports as it is, opt-outs included.
    exported = [
        {"Id": "p1", "ChannelType": "SMS", "Address": "+819012340001", "OptOut": "NONE", "Attributes": {
            "Tier": ["gold"], "Name": ["佐藤"]}, "ApplicationId": "pinpoint-app", "CohortId": "12",
         "CreationDate": "2024-05-01T00:00:00.000Z", "EffectiveDate": "2024-05-01T00:00:00.000Z",
         "EndpointStatus": "ACTIVE", "Demographic": {"Timezone": "Asia/Tokyo"}, "User": {"UserId": "u1"}},
        {"Id": "p2", "ChannelType": "SMS", "Address": "+819012340002", "OptOut": "ALL", "Attributes": {
            "Tier": ["silver"], "Name": ["鈴木"]}, "ApplicationId": "pinpoint-app", "CohortId": "40",
         "EndpointStatus": "ACTIVE"},
        {"Id": "p3", "ChannelType": "SMS", "Address": "+819012340003", "OptOut": "NONE", "Attributes": {
            "Tier": ["bronze"], "Name": ["高橋"]}, "ApplicationId": "pinpoint-app", "EndpointStatus": "ACTIVE"},
    ]  # fmt: skip
    export = tmp_path / "pinpoint-export.json"
    export.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in exported), encoding="utf-8")
    boto3.client("s3", endpoint_url=kizuna.aws_endpoint, region_name=REGION).create_bucket(Bucket="migrate")
    imported = cli.main(["endpoints", "import", str(export), "--bucket", "migrate", "--app", app_id,
                         "--s3-endpoint-url", kizuna.aws_endpoint, *api])  # fmt: skip
    assert imported == 0
    assert pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="p2")["EndpointResponse"]["OptOut"] == "ALL"

    # Run it again now that its audience is there: the gold endpoint gets the rendered template, the opted-out
    # silver one nothing, the bronze one is outside the segment.
    pinpoint.update_campaign(
        ApplicationId=app_id,
        CampaignId=campaign_id,
        WriteCampaignRequest={"Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE", "Timezone": "UTC+09"}},
    )
    runs = until(lambda: (done := completed(pinpoint, app_id, campaign_id)) and len(done) == 2 and done)
    assert runs, "the migrated campaign's second run did not complete"
    assert kizuna.drain(30)
    assert runs[0]["TotalEndpointCount"] == runs[0]["SuccessfulEndpointCount"] == 1
    assert until(lambda: kizuna.sandbox.count("+819012340001", "佐藤" + WELCOME) == 1)
    assert not [m for m in kizuna.sandbox.messages.values() if m.to in ("+819012340002", "+819012340003")]


def test_a_journey_file_moves_with_the_template_publishes_and_reaches_the_segment(
    kizuna, pinpoint, api, first, tmp_path
):
    """CloudFormation had no journey type: a journey kept as JSON moves with `--journey`, its SegmentId naming the
    template's segment by logical id and its template by `Ref`. Runs after the campaign test imported the audience."""
    _, report = first
    app_id = report["App"]["id"]
    tokyo = datetime.now(ZoneInfo("Asia/Tokyo"))
    # The app's quiet time (22:00-07:00) holds journey messages of every type; the journey's own quiet time, two
    # hours from now, replaces it so that the message goes out now at any hour this test runs.
    quiet = {"Start": f"{(tokyo.hour + 2) % 24:02d}:00", "End": f"{(tokyo.hour + 3) % 24:02d}:00"}
    journey_file = tmp_path / "welcome-journey.json"
    journey_file.write_text(
        json.dumps(
            {
                "Name": "welcome journey",
                "State": "ACTIVE",
                "StartActivity": "hello",
                "StartCondition": {"SegmentStartCondition": {"SegmentId": "Regulars"}},
                "Activities": {"hello": {"SMS": {"TemplateName": {"Ref": "WelcomeSms"}}}},
                "QuietTime": quiet,
                "Schedule": {"EndTime": (tokyo + timedelta(days=30)).isoformat(), "Timezone": "Asia/Tokyo"},
            }
        ),
        encoding="utf-8",
    )
    journey_args = ["--journey", str(journey_file)]

    code, moved = apply([*api, *journey_args], tmp_path / "with-journey.json")
    journey = moved["WelcomeJourney"]
    assert (journey["outcome"], journey["reason"]) == ("created", "published")
    stored = pinpoint.get_journey(ApplicationId=app_id, JourneyId=journey["id"])["JourneyResponse"]
    segment_id = report["Regulars"]["id"]
    assert stored["StartCondition"]["SegmentStartCondition"]["SegmentId"] == segment_id
    assert stored["Activities"]["hello"]["SMS"]["TemplateName"] == f"{PROJECT}-welcome"
    # The campaign sent the gold endpoint one welcome; the journey sends it a second, the opted-out one nothing.
    assert until(lambda: kizuna.sandbox.count("+819012340001", "佐藤" + WELCOME) == 2, 90)
    assert kizuna.drain(30)
    assert not [m for m in kizuna.sandbox.messages.values() if m.to in ("+819012340002", "+819012340003")]

    code, again = apply([*api, *journey_args], tmp_path / "again-with-journey.json")
    assert again["WelcomeJourney"]["outcome"] == "unchanged" and again["WelcomeJourney"]["id"] == journey["id"]
    [listed] = pinpoint.list_journeys(ApplicationId=app_id)["JourneysResponse"]["Item"]
    assert listed["Id"] == journey["id"]
