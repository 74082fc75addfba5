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
