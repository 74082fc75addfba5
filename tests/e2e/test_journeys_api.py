"""Journeys through the stock boto3 client in local mode: Pinpoint's CRUD and state operations, the review before
publish (Kizuna's ValidateJourney) enforced on activation, and Pinpoint's rules on what can change when."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(kizuna) -> Any:
    return kizuna.kizuna_client()


@pytest.fixture(scope="module")
def template(pinpoint) -> str:
    name = f"journey-{uuid.uuid4().hex[:8]}"
    pinpoint.create_sms_template(
        TemplateName=name, SMSTemplateRequest={"Body": "{{User.UserAttributes.Name}}様、ありがとうございます"}
    )
    return name


@pytest.fixture
def segment(pinpoint, app_id) -> str:
    return pinpoint.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={"Name": "all", "Dimensions": {"Demographic": {"Channel": {"Values": ["SMS"]}}}},
    )["SegmentResponse"]["Id"]


def journey(template: str, segment: str) -> dict:
    return {
        "Name": "ご来店フォロー",
        "StartActivity": "hold",
        "StartCondition": {"SegmentStartCondition": {"SegmentId": segment}},
        "Schedule": {"StartTime": "2027-01-01T00:00:00Z", "EndTime": "2027-06-01T00:00:00Z", "Timezone": "Asia/Tokyo"},
        "QuietTime": {"Start": "21:00", "End": "09:00"},
        "Activities": {
            "hold": {"Holdout": {"Percentage": 5, "NextActivity": "wait"}},
            "wait": {"Wait": {"WaitTime": {"WaitFor": "P3D"}, "NextActivity": "thanks"}},
            "thanks": {"SMS": {"TemplateName": template}},
        },
    }


def test_a_journey_is_created_read_listed_and_deleted(pinpoint, app_id, template, segment):
    created = pinpoint.create_journey(ApplicationId=app_id, WriteJourneyRequest=journey(template, segment))
    body = created["JourneyResponse"]
    assert body["State"] == "DRAFT" and body["Name"] == "ご来店フォロー" and body["ApplicationId"] == app_id
    assert body["Activities"]["wait"]["Wait"]["WaitTime"]["WaitFor"] == "P3D"
    assert pinpoint.get_journey(ApplicationId=app_id, JourneyId=body["Id"])["JourneyResponse"] == body
    listed = pinpoint.list_journeys(ApplicationId=app_id)["JourneysResponse"]["Item"]
    assert [j["Id"] for j in listed] == [body["Id"]]
    pinpoint.delete_journey(ApplicationId=app_id, JourneyId=body["Id"])
    with pytest.raises(pinpoint.exceptions.NotFoundException, match="Journey"):
        pinpoint.get_journey(ApplicationId=app_id, JourneyId=body["Id"])


def test_the_review_names_each_problem_and_activation_refuses_until_they_are_fixed(
    pinpoint, client, app_id, template, segment
):
    broken = journey(template, segment)
    broken["Activities"]["thanks"] = {"SMS": {"TemplateName": "no-such-template", "NextActivity": "gone"}}
    broken["Activities"]["orphan"] = {"Wait": {"WaitTime": {"WaitFor": "PT1H"}}}
    del broken["QuietTime"]
    journey_id = pinpoint.create_journey(ApplicationId=app_id, WriteJourneyRequest=broken)["JourneyResponse"]["Id"]

    review = client.validate_journey(ApplicationId=app_id, JourneyId=journey_id)["JourneyReview"]
    assert review["Publishable"] is False
    assert {(e["Code"], e.get("Activity")) for e in review["Errors"]} == {
        ("UNKNOWN_TEMPLATE", "thanks"), ("UNKNOWN_ACTIVITY", "thanks"), ("UNREACHABLE", "orphan"),
    }  # fmt: skip
    assert [r["Code"] for r in review["Recommendations"]] == ["NO_QUIET_TIME"]
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="activity thanks"):
        pinpoint.update_journey_state(
            ApplicationId=app_id, JourneyId=journey_id, JourneyStateRequest={"State": "ACTIVE"}
        )
    assert pinpoint.get_journey(ApplicationId=app_id, JourneyId=journey_id)["JourneyResponse"]["State"] == "DRAFT"

    pinpoint.update_journey(ApplicationId=app_id, JourneyId=journey_id, WriteJourneyRequest=journey(template, segment))
    assert client.validate_journey(ApplicationId=app_id, JourneyId=journey_id)["JourneyReview"]["Publishable"] is True
    active = pinpoint.update_journey_state(
        ApplicationId=app_id, JourneyId=journey_id, JourneyStateRequest={"State": "ACTIVE"}
    )
    assert active["JourneyResponse"]["State"] == "ACTIVE"


def test_an_active_journey_is_not_editable_pauses_resumes_and_cancelled_is_final(pinpoint, app_id, template, segment):
    request = {**journey(template, segment), "State": "ACTIVE"}
    journey_id = pinpoint.create_journey(ApplicationId=app_id, WriteJourneyRequest=request)["JourneyResponse"]["Id"]
    edit = copy.deepcopy(request)
    edit["Name"] = "changed"
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="only a DRAFT journey can be edited"):
        pinpoint.update_journey(ApplicationId=app_id, JourneyId=journey_id, WriteJourneyRequest=edit)

    def state(target: str) -> str:
        return pinpoint.update_journey_state(
            ApplicationId=app_id, JourneyId=journey_id, JourneyStateRequest={"State": target}
        )["JourneyResponse"]["State"]

    assert [state("PAUSED"), state("ACTIVE"), state("CANCELLED")] == ["PAUSED", "ACTIVE", "CANCELLED"]
    with pytest.raises(pinpoint.exceptions.BadRequestException, match="CANCELLED and cannot become ACTIVE"):
        state("ACTIVE")
    assert (
        pinpoint.get_journey(ApplicationId=app_id, JourneyId=journey_id)["JourneyResponse"]["Name"] == "ご来店フォロー"
    )


def test_local_time_and_a_timeframe_cap_are_kept_and_a_cap_outside_pinpoints_range_is_refused(
    pinpoint, client, app_id, template, segment
):
    request = {**journey(template, segment), "LocalTime": True, "Limits": {"TimeframeCap": {"Cap": 3, "Days": 31}}}
    with pytest.raises(pinpoint.exceptions.BadRequestException, match=r"Limits\.TimeframeCap\.Days must be"):
        pinpoint.create_journey(ApplicationId=app_id, WriteJourneyRequest={**request, "State": "ACTIVE"})
    assert pinpoint.list_journeys(ApplicationId=app_id)["JourneysResponse"]["Item"] == []

    request["Limits"]["TimeframeCap"]["Days"] = 30
    body = pinpoint.create_journey(ApplicationId=app_id, WriteJourneyRequest=request)["JourneyResponse"]
    assert body["LocalTime"] is True and body["Limits"]["TimeframeCap"] == {"Cap": 3, "Days": 30}
    review = client.validate_journey(ApplicationId=app_id, JourneyId=body["Id"])["JourneyReview"]
    assert review["Publishable"] is True and review["Errors"] == []


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"Name": "   "}, "WriteJourneyRequest.Name is required"),  # boto3 itself refuses a missing Name
        ({"Name": "x", "State": "PAUSED"}, "WriteJourneyRequest.State is DRAFT or ACTIVE"),
        ({"Name": "x", "Activities": {f"a{i}": {"Wait": {}} for i in range(41)}}, "the limit is 40"),
    ],
)
def test_bad_writes_are_refused_naming_the_field_and_store_nothing(pinpoint, app_id, request_, message):
    with pytest.raises(pinpoint.exceptions.BadRequestException, match=message):
        pinpoint.create_journey(ApplicationId=app_id, WriteJourneyRequest=request_)
    assert pinpoint.list_journeys(ApplicationId=app_id)["JourneysResponse"]["Item"] == []


def test_voice_and_whatsapp_activities_are_accepted_as_kizuna_extensions(pinpoint, client, app_id, segment):
    request = {
        "Name": "survey",
        "StartActivity": "call",
        "StartCondition": {"SegmentStartCondition": {"SegmentId": segment}},
        "Activities": {
            "call": {"VOICE": {"TemplateName": "missing-voice", "NextActivity": "ask"}},
            "ask": {"WHATSAPP": {"TemplateName": "missing-whatsapp"}},
        },
    }
    journey_id = client.create_journey(ApplicationId=app_id, WriteJourneyRequest=request)["JourneyResponse"]["Id"]
    errors = client.validate_journey(ApplicationId=app_id, JourneyId=journey_id)["JourneyReview"]["Errors"]
    assert {(e["Code"], e["Activity"]) for e in errors} == {("UNKNOWN_TEMPLATE", "call"), ("UNKNOWN_TEMPLATE", "ask")}
