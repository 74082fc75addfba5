"""The journey engine in local mode: publishing a journey through the stock boto3 client starts its run on the
local orchestrator (the state machine's loop), which enrols the segment, sends through the sandbox Twilio, sleeps
through the wait and sends the next step; the journey then completes."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.e2e.support import until

pytestmark = pytest.mark.e2e


def test_a_published_journey_sends_waits_and_sends_again_then_completes(kizuna, pinpoint, app_id):
    numbers = [f"+8190444{i:05d}" for i in range(3)]
    pinpoint.update_endpoints_batch(
        ApplicationId=app_id,
        EndpointBatchRequest={
            "Item": [{"Id": f"j{i}", "ChannelType": "SMS", "Address": n} for i, n in enumerate(numbers)]
        },
    )
    segment = pinpoint.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={"Name": "all", "Dimensions": {"Demographic": {"Channel": {"Values": ["SMS"]}}}},
    )["SegmentResponse"]["Id"]
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
            "StartCondition": {"SegmentStartCondition": {"SegmentId": segment}},
            "Activities": {
                "hello": {"SMS": {"TemplateName": hello, "NextActivity": "wait"}},
                "wait": {"Wait": {"WaitTime": {"WaitFor": "PT3S"}, "NextActivity": "bye"}},
                "bye": {"SMS": {"TemplateName": bye}},
            },
        },
    )["JourneyResponse"]
    assert "RunId" not in journey

    assert until(lambda: all(kizuna.sandbox.count(n, "ご登録ありがとうございます") == 1 for n in numbers), 20)
    assert until(lambda: all(kizuna.sandbox.count(n, "その後いかがですか") == 1 for n in numbers), 30)
    assert time.monotonic() - started >= 3  # the second step waited
    state = until(
        lambda: (
            pinpoint.get_journey(ApplicationId=app_id, JourneyId=journey["Id"])["JourneyResponse"]["State"]
            == "COMPLETED"
        ),
        20,
    )
    assert state
    assert kizuna.drain(30)
    assert all(kizuna.sandbox.count(n, "ご登録ありがとうございます") == 1 for n in numbers)  # nothing sent twice


def test_a_finished_journeys_run_and_execution_metrics_through_the_stock_client(kizuna, pinpoint, app_id):
    numbers = [f"+8190555{i:05d}" for i in range(4)]
    pinpoint.update_endpoints_batch(
        ApplicationId=app_id,
        EndpointBatchRequest={
            "Item": [{"Id": f"m{i}", "ChannelType": "SMS", "Address": n} for i, n in enumerate(numbers)]
        },
    )
    segment = pinpoint.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={"Name": "all", "Dimensions": {"Demographic": {"Channel": {"Values": ["SMS"]}}}},
    )["SegmentResponse"]["Id"]
    a, b = f"a-{uuid.uuid4().hex[:6]}", f"b-{uuid.uuid4().hex[:6]}"
    pinpoint.create_sms_template(TemplateName=a, SMSTemplateRequest={"Body": "クーポンA"})
    pinpoint.create_sms_template(TemplateName=b, SMSTemplateRequest={"Body": "クーポンB"})
    journey_id = pinpoint.create_journey(
        ApplicationId=app_id,
        WriteJourneyRequest={
            "Name": "ABテスト",
            "State": "ACTIVE",
            "StartActivity": "split",
            "StartCondition": {"SegmentStartCondition": {"SegmentId": segment}},
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
    assert until(lambda: pinpoint.get_journey(**ids)["JourneyResponse"]["State"] == "COMPLETED", 30)

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
