"""`make demo`'s journey in local mode: a two-week WhatsApp + SMS survey published with the Pinpoint API, answered
through the sandbox Twilio's signed inbound webhook, fast-forwarded on the journey engine's own clock, and completed,
each participant down exactly its branch; its execution metrics through the stock boto3 client and on the journey's
dashboard page."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import requests

from kizuna.clock import OffsetClock
from kizuna.local.demo_journey import PARTICIPANTS, run_journey
from kizuna.local.system import LocalKizuna

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def kizuna() -> Iterator[LocalKizuna]:
    with LocalKizuna(journey_clock=OffsetClock()) as k:
        yield k


def test_the_demo_survey_runs_two_weeks_and_each_reply_takes_its_branch(kizuna, pinpoint, app_id):
    out = io.StringIO()
    wall_clock_before = kizuna.clock.now()

    assert run_journey(kizuna, pinpoint, app_id, out) == 0, out.getvalue()

    printed = out.getvalue()
    assert "14 days on the journey clock" in printed and "→ COMPLETED" in printed
    assert "wa-aiko   whatsapp:+819012340101   day 0 ask, replied 「１」, day 1 thanks" in printed
    assert "sms-hana  +819012340107            day 0 ask, day 7 remind, day 14 last" in printed
    assert kizuna.journey_clock.now() - kizuna.clock.now() > kizuna.clock.now() - wall_clock_before  # jumped ahead
    [journey] = pinpoint.list_journeys(ApplicationId=app_id)["JourneysResponse"]["Item"]
    ids = {"ApplicationId": app_id, "JourneyId": journey["Id"]}
    # the channel split's condition (SegmentDimensions, "segmentDimensions" on the wire) comes back to boto3 whole
    condition = journey["Activities"]["channel"]["ConditionalSplit"]["Condition"]["Conditions"][0]
    assert condition["SegmentDimensions"]["Demographic"]["Channel"]["Values"] == ["WHATSAPP"]
    run = pinpoint.get_journey_execution_metrics(**ids)["JourneyExecutionMetricsResponse"]["Metrics"]
    assert (run["ENDPOINT_ENTERED"], run["ENDPOINT_LEFT"]) == (str(len(PARTICIPANTS)),) * 2

    def paths(activity_id: str) -> list[str]:
        metrics = pinpoint.get_journey_execution_activity_metrics(**ids, JourneyActivityId=activity_id)[
            "JourneyExecutionActivityMetricsResponse"
        ]["Metrics"]
        return [metrics["Branch_1"], metrics["Branch_2"], metrics["Branch_3"]]

    assert paths("waAnswer") == ["1", "1", "1"]  # はい (full-width １), いいえ, no reply
    assert paths("smsAnswer") == ["1", "1", "2"]  # はい, 2, and たぶん / no reply take the default

    link = kizuna.dashboard_url(app_id).replace("?", f"/journeys/{journey['Id']}?", 1)
    page = requests.get(link, timeout=30)
    assert page.status_code == 200
    assert "Journey activities (COMPLETED; run: ENDPOINT_ENTERED 7" in page.text
    assert "<td>smsAnswer</td><td>MULTI_CONDITIONAL_SPLIT</td><td>4</td><td>TOTAL 4</td>" in page.text
    assert "<tr><td>waRemind</td><td>MESSAGE</td><td>1</td><td>SUCCESS 1</td>" in page.text
    listing = requests.get(kizuna.dashboard_url(app_id), timeout=30).text
    assert f'/journeys/{journey["Id"]}">ご来店アンケート</a></td><td>COMPLETED</td>' in listing
