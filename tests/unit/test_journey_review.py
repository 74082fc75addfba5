"""Review before publish: each fatal error and recommendation, named by activity; a sound journey has no errors."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from kizuna.domain.journey_review import Catalog, review_journey

NOW = datetime(2026, 12, 1, tzinfo=UTC)
CATALOG = Catalog(
    template_exists=lambda name, kind: (name, kind) in {("welcome", "SMS"), ("survey", "WHATSAPP"), ("call", "VOICE")},
    segment_exists=lambda segment_id: segment_id == "seg1",
)
REPLIED = {"EventType": {"DimensionType": "INCLUSIVE", "Values": ["_WHATSAPP.REPLY"]}}
# A WhatsApp survey: ask, wait for the reply, branch on it; a holdout first.
SOUND = {
    "Name": "survey",
    "StartActivity": "hold",
    "StartCondition": {"SegmentStartCondition": {"SegmentId": "seg1"}},
    "Schedule": {"StartTime": "2026-12-02T00:00:00Z", "EndTime": "2027-03-01T00:00:00Z", "Timezone": "Asia/Tokyo"},
    "QuietTime": {"Start": "21:00", "End": "09:00"},
    "Activities": {
        "hold": {"Holdout": {"Percentage": 10, "NextActivity": "ask"}},
        "ask": {"WHATSAPP": {"TemplateName": "survey", "NextActivity": "reply"}},
        "reply": {
            "ConditionalSplit": {
                "Condition": {"Conditions": [{"EventCondition": {"MessageActivity": "ask", "Dimensions": REPLIED}}]},
                "EvaluationWaitTime": {"WaitFor": "P1D"},
                "TrueActivity": "thanks",
                "FalseActivity": "remind",
            }
        },
        "thanks": {"SMS": {"TemplateName": "welcome"}},
        "remind": {"VOICE": {"TemplateName": "call"}},
    },
}  # fmt: skip


def codes(journey: dict, severity: str = "ERROR") -> set[tuple[str, str | None]]:
    review = review_journey(journey, CATALOG, NOW)
    found = review.errors if severity == "ERROR" else review.recommendations
    return {(f.code, f.activity) for f in found}


def changed(**activities: dict | None) -> dict:
    journey = copy.deepcopy(SOUND)
    for activity_id, activity in activities.items():
        if activity is None:
            del journey["Activities"][activity_id]
        else:
            journey["Activities"][activity_id] = activity
    return journey


def test_a_sound_journey_has_no_errors_and_no_recommendations():
    assert codes(SOUND) == set()
    assert codes(SOUND, "RECOMMENDATION") == set()


def test_a_missing_next_activity_and_what_it_orphans_are_named():
    journey = changed(remind=None)
    assert codes(journey) == {("UNKNOWN_ACTIVITY", "reply")}
    orphan = changed(extra={"SMS": {"TemplateName": "welcome"}})
    assert codes(orphan) == {("UNREACHABLE", "extra")}


def test_a_loop_that_never_waits_is_fatal_and_one_that_waits_needs_an_end_time():
    spin = changed(thanks={"SMS": {"TemplateName": "welcome", "NextActivity": "again"}},
                   again={"SMS": {"TemplateName": "welcome", "NextActivity": "thanks"}})  # fmt: skip
    assert ("LOOP_WITHOUT_WAIT", "thanks") in codes(spin)
    waits = changed(thanks={"SMS": {"TemplateName": "welcome", "NextActivity": "pause"}},
                    pause={"Wait": {"WaitTime": {"WaitFor": "P7D"}, "NextActivity": "thanks"}})  # fmt: skip
    assert codes(waits) == set()
    del waits["Schedule"]["EndTime"]
    assert codes(waits) == {("LOOP_WITHOUT_END", None)}


def test_more_than_540_days_is_fatal_by_schedule_by_one_wait_or_by_the_longest_path():
    long_schedule = copy.deepcopy(SOUND)
    long_schedule["Schedule"]["EndTime"] = "2028-06-30T00:00:00Z"
    assert ("TOO_LONG", None) in codes(long_schedule)
    one_wait = changed(thanks={"Wait": {"WaitTime": {"WaitFor": "P541D"}}})
    assert ("TOO_LONG", "thanks") in codes(one_wait)
    path = changed(thanks={"Wait": {"WaitTime": {"WaitFor": "P300D"}, "NextActivity": "later"}},
                   later={"Wait": {"WaitTime": {"WaitFor": "P300D"}}})  # fmt: skip
    assert ("TOO_LONG", None) in codes(path)


def test_more_than_40_activities_is_fatal():
    chain = {f"a{i}": {"SMS": {"TemplateName": "welcome", "NextActivity": f"a{i + 1}"}} for i in range(40)}
    chain["a40"] = {"SMS": {"TemplateName": "welcome"}}
    journey = {**copy.deepcopy(SOUND), "Activities": chain, "StartActivity": "a0"}
    assert ("TOO_MANY_ACTIVITIES", None) in codes(journey)


@pytest.mark.parametrize(
    ("activity", "code"),
    [
        ({"SMS": {"TemplateName": "nope"}}, "UNKNOWN_TEMPLATE"),
        ({"SMS": {"TemplateName": "survey"}}, "UNKNOWN_TEMPLATE"),  # a WhatsApp template is not an SMS template
        ({"EMAIL": {}}, "NO_TEMPLATE"),
        ({"PUSH": {"TemplateName": "x"}}, "UNSUPPORTED_ACTIVITY"),
        ({"SMS": {"TemplateName": "welcome"}, "Wait": {"WaitTime": {"WaitFor": "P1D"}}}, "NO_KIND"),
        ({"Wait": {"WaitTime": {"WaitFor": "one day"}}}, "BAD_WAIT"),
        ({"Wait": {}}, "NO_WAIT"),
        ({"Holdout": {"Percentage": 0}}, "BAD_HOLDOUT"),
        ({"RandomSplit": {"Branches": [{"Percentage": 50}, {"Percentage": 40}]}}, "BAD_PERCENTAGES"),
        ({"RandomSplit": {"Branches": [{"Percentage": 10}] * 6 + [{"Percentage": 40}]}}, "BAD_BRANCHES"),
        ({"MultiCondition": {"Branches": [{"Condition": {"SegmentCondition": {"SegmentId": "seg1"}}}] * 5}},
         "BAD_BRANCHES"),
        ({"ConditionalSplit": {"Condition": {"Conditions": [{"SegmentCondition": {"SegmentId": "gone"}}]},
                               "TrueActivity": "ask"}}, "UNKNOWN_SEGMENT"),
        ({"ConditionalSplit": {"Condition": {"Conditions": [{"EventCondition": {"MessageActivity": "hold"}}]},
                               "TrueActivity": "ask"}}, "BAD_MESSAGE_CONDITION"),
        ({"ConditionalSplit": {"Condition": {"Conditions": [{"EventCondition": {"Dimensions": {"EventType": {
            "DimensionType": "EXCLUSIVE", "Values": ["purchase"]}}}}]}, "TrueActivity": "ask"}}, "NO_EVENT_TYPE"),
    ],
)  # fmt: skip
def test_each_malformed_activity_is_named(activity, code):
    journey = changed(thanks=activity)
    assert (code, "thanks") in codes(journey)


def test_start_conditions_must_name_a_known_segment_or_an_event_type():
    journey = copy.deepcopy(SOUND)
    journey["StartCondition"] = {"SegmentStartCondition": {"SegmentId": "gone"}}
    assert codes(journey) == {("UNKNOWN_SEGMENT", None)}
    journey["StartCondition"] = {"EventStartCondition": {"EventFilter": {"Dimensions": {}}}}
    assert codes(journey) == {("NO_EVENT_TYPE", None)}
    del journey["StartCondition"]
    assert codes(journey) == {("NO_START_CONDITION", None)}
    journey["StartActivity"] = "nowhere"
    assert ("UNKNOWN_ACTIVITY", None) in codes(journey)


def test_recommendations_name_what_is_missing_without_blocking():
    journey = copy.deepcopy(SOUND)
    del journey["Schedule"]["EndTime"], journey["QuietTime"]
    journey["Activities"]["hold"] = {"SMS": {"TemplateName": "welcome", "NextActivity": "ask"}}
    assert codes(journey) == set()
    assert {c for c, _ in codes(journey, "RECOMMENDATION")} == {"NO_END_TIME", "NO_QUIET_TIME", "NO_HOLDOUT"}
