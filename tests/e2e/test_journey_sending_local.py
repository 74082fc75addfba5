"""A journey's CUSTOM activity and limits in local mode, through the stock boto3 client: each participant is posted to
the customer's webhook (signed, a busy answer retried with the same delivery id) with the journey's ids, the DailyCap
the delivery used up keeps the next SMS from going, and the activity metrics say so."""

from __future__ import annotations

import boto3
import pytest

from kizuna.local.system import REGION
from tests.e2e.support import until
from tests.e2e.test_campaigns_api import CustomChannel

pytestmark = pytest.mark.e2e


def test_a_custom_activity_posts_signed_deliveries_and_counts_into_the_journeys_daily_cap(
    kizuna, pinpoint, app_id, sms_endpoints, sms_segment
):
    numbers = sms_endpoints("c", "+8190555", 3)
    pinpoint.create_sms_template(TemplateName="capped-followup", SMSTemplateRequest={"Body": "上限で送られない"})
    secrets = boto3.client("secretsmanager", endpoint_url=kizuna.aws_endpoint, region_name=REGION)
    channel = CustomChannel(
        secrets.get_secret_value(SecretId=kizuna.resources.secrets["webhook_signing"])["SecretString"]
    )
    try:
        journey = pinpoint.create_journey(
            ApplicationId=app_id,
            WriteJourneyRequest={
                "Name": "クーポン",
                "State": "ACTIVE",
                "StartActivity": "hook",
                "StartCondition": {"SegmentStartCondition": {"SegmentId": sms_segment}},
                "Limits": {"DailyCap": 1},
                "Activities": {
                    "hook": {
                        "CUSTOM": {
                            "DeliveryUri": channel.url,
                            "EndpointTypes": ["SMS"],
                            "MessageConfig": {"Data": '{"coupon": "WINTER"}'},
                            "NextActivity": "followup",
                        }
                    },
                    "followup": {"SMS": {"TemplateName": "capped-followup"}},
                },
            },
        )["JourneyResponse"]
        done = until(
            lambda: (
                pinpoint.get_journey(ApplicationId=app_id, JourneyId=journey["Id"])["JourneyResponse"]["State"]
                == "COMPLETED"
            ),
            90,
        )
        assert done
        assert until(lambda: sum(len(p["Endpoints"]) for _, p in channel.deliveries) >= 3, 60)
        assert kizuna.drain(60)

        received = [e for _, p in channel.deliveries for e in p["Endpoints"]]
        assert sorted(received) == ["c0", "c1", "c2"]  # each once, the busy answer's batch retried
        assert {(p["JourneyId"], p["JourneyActivityId"], p["Data"]) for _, p in channel.deliveries} == {
            (journey["Id"], "hook", '{"coupon": "WINTER"}')
        }
        assert channel.refusals == 0 and channel.busy == 0
        assert sum(kizuna.sandbox.count(n, "上限で送られない") for n in numbers) == 0  # over the DailyCap

        def metrics(activity: str) -> dict[str, str]:
            return pinpoint.get_journey_execution_activity_metrics(
                ApplicationId=app_id, JourneyId=journey["Id"], JourneyActivityId=activity
            )["JourneyExecutionActivityMetricsResponse"]["Metrics"]

        assert metrics("hook")["SUCCESS"] == "3" and metrics("followup")["CAPPED"] == "3"
    finally:
        channel.close()
