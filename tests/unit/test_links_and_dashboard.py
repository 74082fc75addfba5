"""Link tracking, dashboard tokens, and the dashboard page's charts."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kizuna.adapters.memory import InMemoryDataStore, InMemoryEventSink
from kizuna.adapters.memory_analytics import InMemoryAggregateStore, InMemoryLinkStore
from kizuna.adapters.memory_journeys import InMemoryJourneyStore
from kizuna.adapters.memory_participants import InMemoryParticipantStore
from kizuna.auth import dashboard_tokens
from kizuna.auth.access_keys import AccessKey, KeyStatus
from kizuna.clock import VirtualClock
from kizuna.domain.analytics_events import StreamEvent
from kizuna.domain.apps import App
from kizuna.domain.channels import ChannelRules
from kizuna.domain.messages import OutboundMessage, WhatsAppTemplate
from kizuna.errors import Forbidden
from kizuna.services.dashboard import DashboardView, dashboard_view
from kizuna.services.journey_metrics import ActivityRow
from kizuna.services.links import follow_link, rewrite_links, track_message_links
from kizuna.sms_segments import count_segments
from kizuna.web.charts import Series, bar_chart, line_chart
from kizuna.web.dashboard_page import render

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
BASE = "https://hooks.example.jp/prod"


def _rewrite(store, body, message_id="m1"):
    return rewrite_links(
        body, store, VirtualClock(NOW), base_url=BASE, app_id="app1", message_id=message_id, endpoint_id="ep1",
        attributes={"campaign_id": "c1", "destination_phone_number": "+819012345678"},
    )  # fmt: skip


def test_links_are_rewritten_to_the_stacks_domain_and_trailing_punctuation_stays():
    store = InMemoryLinkStore()
    body = "ご予約はこちら https://shop.example.jp/r?id=1&x=2。詳細: http://a.example.com/p, 以上"
    rewritten = _rewrite(store, body)
    codes = re.findall(rf"{re.escape(BASE)}/l/([0-9A-Za-z]{{10}})", rewritten)
    assert len(codes) == 2 and rewritten.endswith(", 以上") and "。詳細" in rewritten
    assert {store.links[c]["url"] for c in codes} == {"https://shop.example.jp/r?id=1&x=2", "http://a.example.com/p"}
    assert store.links[codes[0]]["attributes"] == {"campaign_id": "c1"}  # no phone number carried


def _message(message_id: str, body: str, channel: str = "SMS", **more) -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id, app_id="app1", channel=channel, to="+819012345678", body=body, request_id="r",
        accepted_at=NOW.isoformat(), country="JP", segments=1, **more,
    )  # fmt: skip


def test_a_batch_of_sends_is_rewritten_with_its_segments_recounted_and_one_write_of_its_links():
    store = InMemoryLinkStore()
    long_link = "https://shop.example.jp/" + "a" * 60
    messages = [
        _message("m1", "セールのご案内です。詳細は " + long_link, attribution={"campaign_id": "c1"}),
        _message("m2", "no links here"),
        _message("m3", "voice https://x.example.jp/v", channel="VOICE"),
        _message("m4", "", channel="WHATSAPP", whatsapp_template=WhatsAppTemplate(content_sid="HX" + "0" * 32)),
        _message("m5", "wa https://x.example.jp/w", channel="WHATSAPP"),
    ]
    rewritten = track_message_links(messages, store, VirtualClock(NOW), BASE, ChannelRules())
    assert set(rewritten) == {"m1", "m5"}
    first = rewritten["m1"]
    assert long_link not in first.body and first.body.startswith("セールのご案内です。詳細は " + BASE + "/l/")
    assert count_segments(messages[0].body).segments == 2 and first.segments == 1  # UCS-2: 70 characters a segment
    assert first.cost_usd == ChannelRules().estimated_cost("SMS", "JP", 1)
    assert {link["message_id"] for link in store.links.values()} == {"m1", "m5"}
    assert store.links[first.body.rsplit("/", 1)[1]]["attributes"] == {"campaign_id": "c1"}


def test_rewriting_the_same_message_again_gives_the_same_codes_and_leaves_own_links_alone():
    store = InMemoryLinkStore()
    first = _rewrite(store, "see https://shop.example.jp/a")
    assert _rewrite(store, "see https://shop.example.jp/a") == first
    assert _rewrite(store, first) == first
    assert _rewrite(store, "see https://shop.example.jp/a", message_id="m2") != first
    assert _rewrite(store, "no links here") == "no links here"


def test_a_click_records_an_event_and_a_preview_does_not():
    store, sink = InMemoryLinkStore(), InMemoryEventSink()
    code = _rewrite(store, "https://shop.example.jp/a").rsplit("/", 1)[1]
    clock = VirtualClock(NOW)
    assert follow_link(store, sink, clock, code, "Mozilla/5.0 (iPhone)") == "https://shop.example.jp/a"
    assert follow_link(store, sink, clock, code, "WhatsApp/2.23.20 A") == "https://shop.example.jp/a"
    (event,) = sink.events
    parsed = StreamEvent.model_validate(event)
    assert parsed.event_type == "_SMS.CLICK" and parsed.client.client_id == "ep1"
    assert parsed.attributes == {"message_id": "m1", "link": "https://shop.example.jp/a", "campaign_id": "c1"}
    assert follow_link(store, sink, clock, "nosuchcode", "") is None
    assert follow_link(store, sink, clock, "../../etc", "") is None


def _keys(active=True, apps=None):
    key = AccessKey("KZABCDEFGHIJKLMNOPQR", apps, NOW, KeyStatus.ACTIVE if active else KeyStatus.INACTIVE)
    return (lambda k: "s3cret" if k == key.access_key_id else None), (lambda k: key if k == key.access_key_id else None)


def test_dashboard_token_verifies_for_its_app_until_it_expires():
    secret_for, key_for = _keys()
    token = dashboard_tokens.mint("KZABCDEFGHIJKLMNOPQR", "s3cret", "app1", int(NOW.timestamp()) + 600)
    assert dashboard_tokens.verify(token, "app1", NOW, secret_for, key_for).access_key_id == "KZABCDEFGHIJKLMNOPQR"
    for app, now in (("app2", NOW), ("app1", NOW + timedelta(minutes=11))):
        with pytest.raises(Forbidden):
            dashboard_tokens.verify(token, app, now, secret_for, key_for)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: t.replace(".app1.", ".app9."),  # app changed
        lambda t: t.split(".")[0] + "." + t.split(".", 1)[1].replace("KZ", "KY", 1),  # key changed
        lambda t: "",
        lambda t: "kzd1.x.y.z.w",
    ],
)
def test_tampered_dashboard_tokens_are_refused(mutate):
    secret_for, key_for = _keys()
    token = dashboard_tokens.mint("KZABCDEFGHIJKLMNOPQR", "s3cret", "app1", int(NOW.timestamp()) + 600)
    with pytest.raises(Forbidden):
        dashboard_tokens.verify(mutate(token), "app1", NOW, secret_for, key_for)


def test_a_scoped_or_deactivated_key_cannot_open_other_dashboards():
    token = dashboard_tokens.mint("KZABCDEFGHIJKLMNOPQR", "s3cret", "app1", int(NOW.timestamp()) + 600)
    secret_for, key_for = _keys(apps=frozenset({"app2"}))
    with pytest.raises(Forbidden):
        dashboard_tokens.verify(token, "app1", NOW, secret_for, key_for)
    secret_for, _ = _keys()
    with pytest.raises(Forbidden):
        dashboard_tokens.verify(token, "app1", NOW, secret_for, lambda k: None)
    too_long = dashboard_tokens.mint("KZABCDEFGHIJKLMNOPQR", "s3cret", "app1", int(NOW.timestamp()) + 13 * 3600)
    with pytest.raises(Forbidden):
        dashboard_tokens.verify(too_long, "app1", NOW, *_keys())


def test_charts_draw_one_mark_per_value_and_scale_to_the_largest():
    svg = bar_chart("x", ["a", "b", "c"], [Series("s", "#123456", [1, None, 40]), Series("t", "#654321", [2, 3, 0])])
    assert svg.count('fill="#123456"') == 2 and svg.count('fill="#654321"') == 2
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" fill="#123456"', svg)]
    assert heights[1] == pytest.approx(heights[0] * 40, rel=0.01)
    line = line_chart("rate", ["a", "b"], [Series("r", "#00aa00", [0.5, 1.0])], percent=True)
    assert line.count("<circle") == 2 and "100%" in line


def test_the_page_escapes_names_and_draws_every_section():
    view = DashboardView(
        "app1", "<script>alert(1)</script>", "app", None, "s", "e", ["2026-11-19", "2026-11-20"],
        totals={"sent": 3, "delivered": 2, "failed": 1, "clicks": 1},
        daily={"sent": [1, 2], "delivered": [1, 1], "failed": [0, 1], "delivery_rate": [1.0, 0.5], "clicks": [None, 1],
               "active": [None, None], "sessions": [None, None]},
        errors={"30003": 1},
    )  # fmt: skip
    page = render(view, "/prod/dashboard/apps/app1")
    assert "<script>" not in page and "&lt;script&gt;" in page
    for title in ("Delivery funnel", "Messages per day", "Delivery rate", "Engagement per day", "Failures by error"):
        assert title in page
    assert "30003" in page and "(66.7%)" in page


def test_a_campaign_page_shows_each_treatments_results():
    view = DashboardView(
        "app1", "demo", "campaign", "c1", "s", "e", ["2026-11-20"],
        totals={"sent": 3, "delivered": 3, "failed": 0, "clicks": 0},
        daily={"sent": [3], "delivered": [3], "failed": [0], "delivery_rate": [1.0], "clicks": [None]},
        treatments={"0": (2.0, 2.0), "1": (4.0, 1.0)},
    )  # fmt: skip
    page = render(view, "/prod/dashboard/apps/app1/campaigns/c1")
    assert "Treatments (A/B" in page
    assert "<td>1</td><td>4</td><td>1</td><td>25.0%</td>" in page


SURVEY = {
    "Id": "j1",
    "ApplicationId": "app1",
    "Name": "満足度調査",
    "State": "COMPLETED",
    "RunId": "r20261201T000000",
    "StartActivity": "ask",
    "Activities": {
        "thanks": {"SMS": {"TemplateName": "thanks"}},  # listed before the start: the page follows the paths
        "ask": {"SMS": {"TemplateName": "ask", "NextActivity": "answer"}},
        "answer": {
            "MultiCondition": {
                "EvaluationWaitTime": {"WaitFor": "P1D"},
                "Branches": [{"Condition": {"SegmentCondition": {"SegmentId": "s"}}, "NextActivity": "thanks"}],
                "DefaultActivity": "remind",
            }
        },
        "remind": {"SMS": {"TemplateName": "remind"}},
        "orphan": {"Wait": {"WaitTime": {"WaitFor": "P1D"}}},
    },
}


def _journey_stores(counts: dict[str, int]) -> tuple[InMemoryDataStore, InMemoryJourneyStore, InMemoryParticipantStore]:
    apps = InMemoryDataStore()
    apps.put_app(App("app1", "shop", "arn", "2026-01-01T00:00:00.000Z", {}))
    journeys = InMemoryJourneyStore()
    assert journeys.put_journey("app1", {**SURVEY, "Version": 1}, None)
    assert journeys.put_journey("app1", {"Id": "j0", "Name": "ようこそ", "State": "DRAFT", "Version": 1}, None)
    participants = InMemoryParticipantStore()
    participants.tallies[("app1", "j1", SURVEY["RunId"], 3)] = Counter(counts)
    participants.tallied_at[("app1", "j1", SURVEY["RunId"], 3)] = datetime(2026, 12, 2, tzinfo=UTC)
    return apps, journeys, participants


def test_a_journeys_page_reads_each_activitys_execution_metrics_in_path_order():
    counts = {"ENDPOINT_ENTERED": 3, "ENDPOINT_LEFT": 3, "ask|ENTERED": 3, "ask|SUCCESS": 3, "answer|ENTERED": 3,
              "answer|TOTAL": 3, "answer|Branch_1": 1, "answer|Branch_2": 2, "thanks|ENTERED": 1,
              "thanks|SUCCESS": 1, "remind|ENTERED": 2, "remind|SUCCESS": 1, "remind|OPT_OUT": 1}  # fmt: skip
    apps, journeys, participants = _journey_stores(counts)
    clock = VirtualClock(datetime(2026, 12, 3, tzinfo=UTC))

    view = dashboard_view(apps, InMemoryAggregateStore(), clock, "app1", "journey", "j1", 7, journeys, participants)

    assert view.journey == {"Name": "満足度調査", "State": "COMPLETED"}
    assert view.run_metrics["ENDPOINT_ENTERED"] == "3" and view.run_metrics["ENDPOINT_LEFT"] == "3"
    assert [(r.activity_id, r.activity_type) for r in view.activities] == [
        ("ask", "MESSAGE"), ("answer", "MULTI_CONDITIONAL_SPLIT"), ("thanks", "MESSAGE"), ("remind", "MESSAGE"),
        ("orphan", "WAIT"),
    ]  # fmt: skip
    answer = view.activities[1].metrics
    assert (answer["TOTAL"], answer["Branch_1"], answer["Branch_2"]) == ("3", "1", "2")
    assert view.activities[3].metrics["OPT_OUT"] == "1"

    app_view = dashboard_view(apps, InMemoryAggregateStore(), clock, "app1", "app", None, 7, journeys, participants)
    assert sorted(app_view.journeys) == [("j0", "ようこそ", "DRAFT"), ("j1", "満足度調査", "COMPLETED")]


def test_the_journey_page_tables_its_activities_and_the_app_page_links_its_journeys():
    base = dict(start="s", end="e", dates=["2026-12-01"])
    daily = {"sent": [3], "delivered": [3], "failed": [0], "delivery_rate": [1.0], "clicks": [None]}
    journey = DashboardView(
        "app1", "shop", "journey", "j1", **base, totals={"sent": 3, "delivered": 3, "failed": 0, "clicks": 0},
        daily=daily, journey={"Name": "満足度<調査>", "State": "COMPLETED"},
        run_metrics={"ENDPOINT_ENTERED": "3", "ENDPOINT_ACTIVE": "0", "ENDPOINT_LEFT": "3"},
        activities=[
            ActivityRow("ask", "MESSAGE", {"ENTERED": "3", "SUCCESS": "3", "OPT_OUT": "0"}),
            ActivityRow("answer", "MULTI_CONDITIONAL_SPLIT",
                        {"ENTERED": "3", "TOTAL": "3", "Branch_1": "1", "Branch_2": "0", "Branch_3": "2"}),
        ],
    )  # fmt: skip
    page = render(journey, "/prod/dashboard/apps/app1/journeys/j1")
    assert "満足度&lt;調査&gt;" in page and "Journey activities (COMPLETED; run: ENDPOINT_ENTERED 3" in page
    assert "<tr><td>ask</td><td>MESSAGE</td><td>3</td><td>SUCCESS 3</td><td></td></tr>" in page
    assert "<td>answer</td><td>MULTI_CONDITIONAL_SPLIT</td><td>3</td><td>TOTAL 3</td>" in page
    assert "Branch_1 1 · Branch_2 0 · Branch_3 2" in page

    app = DashboardView(
        "app1", "shop", "app", None, **base, totals={"sent": 0, "delivered": 0, "failed": 0, "clicks": 0},
        daily={**daily, "active": [None], "sessions": [None]}, journeys=[("j1", "満足度調査", "ACTIVE")],
    )  # fmt: skip
    listed = render(app, "/prod/dashboard/apps/app1")
    assert '<a href="/prod/dashboard/apps/app1/journeys/j1">満足度調査</a></td><td>ACTIVE</td>' in listed
    assert "No journeys yet" in render(replace(app, journeys=[]), "/prod/dashboard/apps/app1")
