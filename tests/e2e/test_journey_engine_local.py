"""The journey engine in local mode: publishing a journey through the stock boto3 client starts its run on the
local orchestrator (the state machine's loop), which enrols the segment, sends through the sandbox Twilio, sleeps
through the wait and sends the next step; the journey then completes. A two-way survey branches on the replies
the sandbox Twilio posts to the signed inbound webhook, a replayed webhook changing nothing. An event-started journey
sends its first SMS within seconds of PutEvents, once however often the SDK retries the event, and its next step
after a wait that the entry woke the run's loop for."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
import requests
from twilio.request_validator import RequestValidator

from kizuna.local.sandbox_twilio import VALID_FROM
from tests.e2e.support import until

pytestmark = pytest.mark.e2e


def test_a_published_journey_sends_waits_and_sends_again_then_completes(
    kizuna, pinpoint, app_id, sms_endpoints, sms_segment
):
    numbers = sms_endpoints("j", "+8190444", 3)
    hello, bye = f"hello-{uuid.uuid4().hex[:6]}", f"bye-{uuid.uuid4().hex[:6]}"
    pinpoint.create_sms_template(TemplateName=hello, SMSTemplateRequest={"Body": "ご登録ありがとうございます"})
    pinpoint.create_sms_template(TemplateName=bye, SMSTemplateRequest={"Body": "その後いかがですか"})
    started = time.monotonic()
    journey = pinpoint.create_journey(
        ApplicationId=app_id,
        WriteJourneyRequest={
            "Name": "ようこそ",
            "State": "ACTIVE",
            "StartActivity": "hello",
            "StartCondition": {"SegmentStartCondition": {"SegmentId": sms_segment}},
            "Activities": {
                "hello": {"SMS": {"TemplateName": hello, "NextActivity": "wait"}},
                "wait": {"Wait": {"WaitTime": {"WaitFor": "PT3S"}, "NextActivity": "bye"}},
                "bye": {"SMS": {"TemplateName": bye}},
            },
        },
    )["JourneyResponse"]
    assert "RunId" not in journey

    assert until(lambda: all(kizuna.sandbox.count(n, "ご登録ありがとうございます") == 1 for n in numbers), 90)
    assert until(lambda: all(kizuna.sandbox.count(n, "その後いかがですか") == 1 for n in numbers), 90)
    assert time.monotonic() - started >= 3  # the second step waited
    state = until(
        lambda: (
            pinpoint.get_journey(ApplicationId=app_id, JourneyId=journey["Id"])["JourneyResponse"]["State"]
            == "COMPLETED"
        ),
        90,
    )
    assert state
    assert kizuna.drain(30)
    assert all(kizuna.sandbox.count(n, "ご登録ありがとうございます") == 1 for n in numbers)  # nothing sent twice


def test_a_survey_journey_branches_on_the_replies_posted_to_the_inbound_webhook(
    kizuna, pinpoint, app_id, sms_endpoints, sms_segment
):
    numbers = sms_endpoints("s", "+8190555", 3)  # A answers はい, B answers 2, C does not answer
    texts = {
        "ask": "ご満足いただけましたか？ 1: はい 2: いいえ",
        "yes": "ありがとうございます！",
        "no": "ご意見をお聞かせください",
        "silent": "ご回答をお待ちしています",
    }
    names = {key: f"{key}-{uuid.uuid4().hex[:6]}" for key in texts}
    for key, body in texts.items():
        pinpoint.create_sms_template(TemplateName=names[key], SMSTemplateRequest={"Body": body})

    def answered(values: list[str]) -> dict:
        return {
            "EventCondition": {
                "MessageActivity": "ask",
                "Dimensions": {
                    "EventType": {"Values": ["_SMS.REPLY"]},
                    "Attributes": {"reply_body": {"Values": values}},
                },
            }
        }

    pinpoint.create_journey(
        ApplicationId=app_id,
        WriteJourneyRequest={
            "Name": "満足度調査",
            "State": "ACTIVE",
            "StartActivity": "ask",
            "StartCondition": {"SegmentStartCondition": {"SegmentId": sms_segment}},
            "Activities": {
                "ask": {"SMS": {"TemplateName": names["ask"], "NextActivity": "answer"}},
                "answer": {
                    "MultiCondition": {
                        "EvaluationWaitTime": {"WaitFor": "PT20S"},
                        "Branches": [
                            {"Condition": answered(["1", "はい"]), "NextActivity": "yes"},
                            {"Condition": answered(["2", "いいえ"]), "NextActivity": "no"},
                        ],
                        "DefaultActivity": "silent",
                    }
                },
                "yes": {"SMS": {"TemplateName": names["yes"]}},
                "no": {"SMS": {"TemplateName": names["no"]}},
                "silent": {"SMS": {"TemplateName": names["silent"]}},
            },
        },
    )
    assert until(lambda: all(kizuna.sandbox.count(n, texts["ask"]) == 1 for n in numbers), 90)

    url = f"{kizuna.base_url}/webhooks/twilio/inbound?app={app_id}"
    form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": numbers[0], "To": VALID_FROM, "Body": "はい"}
    signature = RequestValidator(kizuna.sandbox.auth_token).compute_signature(url, form)
    for _ in range(2):  # Twilio retries a webhook it did not see answered: the second changes nothing
        assert requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10).ok
    assert kizuna.sandbox.simulate_inbound(to=VALID_FROM, from_=numbers[1], body="2", url=url).status_code == 200

    expected = {numbers[0]: "yes", numbers[1]: "no", numbers[2]: "silent"}
    assert until(lambda: all(kizuna.sandbox.count(n, texts[k]) == 1 for n, k in expected.items()), 60)
    assert kizuna.drain(30)
    for number, key in expected.items():  # each went down exactly one branch, once
        assert [kizuna.sandbox.count(number, texts[k]) for k in ("yes", "no", "silent")] == [
            int(k == key) for k in ("yes", "no", "silent")
        ]


def test_a_finished_journeys_run_and_execution_metrics_through_the_stock_client(
    kizuna, pinpoint, app_id, sms_endpoints, sms_segment
):
    numbers = sms_endpoints("m", "+8190556", 4)
    a, b = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    pinpoint.create_sms_template(TemplateName=a, SMSTemplateRequest={"Body": "クーポンA"})
    pinpoint.create_sms_template(TemplateName=b, SMSTemplateRequest={"Body": "クーポンB"})
    journey_id = pinpoint.create_journey(
        ApplicationId=app_id,
        WriteJourneyRequest={
            "Name": "ABテスト",
            "State": "ACTIVE",
            "StartActivity": "split",
            "StartCondition": {"SegmentStartCondition": {"SegmentId": sms_segment}},
            "Activities": {
                "split": {
                    "RandomSplit": {
                        "Branches": [{"Percentage": 50, "NextActivity": "a"}, {"Percentage": 50, "NextActivity": "b"}]
                    }
                },
                "a": {"SMS": {"TemplateName": a}},
                "b": {"SMS": {"TemplateName": b}},
            },
        },
    )["JourneyResponse"]["Id"]
    ids = {"ApplicationId": app_id, "JourneyId": journey_id}
    assert until(lambda: pinpoint.get_journey(**ids)["JourneyResponse"]["State"] == "COMPLETED", 90)

    [run] = pinpoint.get_journey_runs(**ids)["JourneyRunsResponse"]["Item"]
    assert run["Status"] == "COMPLETED" and run["RunId"]
    metrics = pinpoint.get_journey_execution_metrics(**ids)["JourneyExecutionMetricsResponse"]
    assert metrics["JourneyId"] == journey_id and metrics["LastEvaluatedTime"]
    assert (metrics["Metrics"]["ENDPOINT_ENTERED"], metrics["Metrics"]["ENDPOINT_LEFT"]) == ("4", "4")
    split = pinpoint.get_journey_execution_activity_metrics(**ids, JourneyActivityId="split")[
        "JourneyExecutionActivityMetricsResponse"
    ]
    assert split["ActivityType"] == "RANDOM_SPLIT"
    paths = [int(split["Metrics"]["Branch_1"]), int(split["Metrics"]["Branch_2"])]
    assert sum(paths) == int(split["Metrics"]["TOTAL"]) == 4
    sent = pinpoint.get_journey_execution_activity_metrics(**ids, JourneyActivityId="a")[
        "JourneyExecutionActivityMetricsResponse"
    ]
    assert sent["ActivityType"] == "MESSAGE" and int(sent["Metrics"]["SUCCESS"]) == paths[0]
    # SUCCESS counts a message once it is queued; the sender may hand it to the sandbox a moment later.
    until(lambda: sum(kizuna.sandbox.count(n, "クーポンA") for n in numbers) >= paths[0], 30)
    assert sum(kizuna.sandbox.count(n, "クーポンA") for n in numbers) == paths[0]
    by_run = pinpoint.get_journey_run_execution_metrics(**ids, RunId=run["RunId"])
    assert by_run["JourneyRunExecutionMetricsResponse"]["Metrics"] == metrics["Metrics"]
    run_split = pinpoint.get_journey_run_execution_activity_metrics(
        **ids, RunId=run["RunId"], JourneyActivityId="split"
    )
    assert run_split["JourneyRunExecutionActivityMetricsResponse"]["Metrics"] == split["Metrics"]
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_journey_run_execution_metrics(**ids, RunId="r20000101T000000")
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_journey_execution_activity_metrics(**ids, JourneyActivityId="nope")
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="page-size"):
        pinpoint.get_journey_execution_metrics(**ids, PageSize="lots")


def test_an_event_started_journey_sends_its_first_sms_within_seconds_of_put_events_once_per_event(
    kizuna, pinpoint, app_id, sms_endpoints
):
    numbers = sms_endpoints("ev", "+8190557", 2)
    hello, later = f"hello-{uuid.uuid4().hex[:6]}", f"later-{uuid.uuid4().hex[:6]}"
    pinpoint.create_sms_template(TemplateName=hello, SMSTemplateRequest={"Body": "ご購入ありがとうございます"})
    pinpoint.create_sms_template(TemplateName=later, SMSTemplateRequest={"Body": "商品はいかがでしたか"})
    journey_id = pinpoint.create_journey(
        ApplicationId=app_id,
        WriteJourneyRequest={
            "Name": "購入のお礼",
            "State": "ACTIVE",
            "StartActivity": "hello",
            "StartCondition": {
                "EventStartCondition": {
                    "EventFilter": {
                        "FilterType": "ENDPOINT",
                        "Dimensions": {
                            "EventType": {"DimensionType": "INCLUSIVE", "Values": ["purchase"]},
                            "Attributes": {"category": {"AttributeType": "INCLUSIVE", "Values": ["shoes"]}},
                        },
                    }
                }
            },
            "Activities": {
                "hello": {"SMS": {"TemplateName": hello, "NextActivity": "wait"}},
                "wait": {"Wait": {"WaitTime": {"WaitFor": "PT3S"}, "NextActivity": "later"}},
                "later": {"SMS": {"TemplateName": later}},
            },
        },
    )["JourneyResponse"]["Id"]
    time.sleep(2)  # the run's first loop finds no one and ends: the entry must start the next one

    def put(endpoint_id: str, event_id: str, category: str) -> None:
        stamp = datetime.now(UTC).isoformat()
        events = {event_id: {"EventType": "purchase", "Timestamp": stamp, "Attributes": {"category": category}}}
        answer = pinpoint.put_events(
            ApplicationId=app_id, EventsRequest={"BatchItem": {endpoint_id: {"Endpoint": {}, "Events": events}}}
        )
        assert answer["EventsResponse"]["Results"][endpoint_id]["EventsItemResponse"][event_id]["StatusCode"] == 202

    sent_at = time.monotonic()
    put("ev0", "order-1", "shoes")
    assert until(lambda: kizuna.sandbox.count(numbers[0], "ご購入ありがとうございます") == 1, 10)
    assert time.monotonic() - sent_at < 10
    put("ev0", "order-1", "shoes")  # an SDK retry of the same event: no second entry
    put("ev1", "order-2", "bags")  # the attribute filter does not match
    # The entrant's next step, 3 s later, is woken by the execution its entry started.
    assert until(lambda: kizuna.sandbox.count(numbers[0], "商品はいかがでしたか") == 1, 60)
    assert time.monotonic() - sent_at >= 3
    assert kizuna.drain(30)
    assert [kizuna.sandbox.count(numbers[0], t) for t in ("ご購入ありがとうございます", "商品はいかがでしたか")] == [
        1,
        1,
    ]
    assert kizuna.sandbox.count(numbers[1], "ご購入ありがとうございます") == 0
    metrics = pinpoint.get_journey_execution_metrics(ApplicationId=app_id, JourneyId=journey_id)
    counted = metrics["JourneyExecutionMetricsResponse"]["Metrics"]
    assert (counted["ENDPOINT_ENTERED"], counted["ENDPOINT_LEFT"]) == ("1", "1")
    state = pinpoint.get_journey(ApplicationId=app_id, JourneyId=journey_id)["JourneyResponse"]["State"]
    assert state == "ACTIVE"  # an event-started journey without an end time stays open for entries
