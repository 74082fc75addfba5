"""The engine's core: one participant walked through a journey — sends, waits, splits, holdouts, reply branches —
the same way on every replay."""

from __future__ import annotations

import copy
import unicodedata
from collections import Counter
from datetime import UTC, datetime, timedelta

from kizuna.domain.journey_steps import Participant, advance, bucket, message_id_for, next_wake

T0 = datetime(2027, 1, 4, 9, tzinfo=UTC)
REPLIED = {"EventType": {"Values": ["_WHATSAPP.REPLY"]}}
SURVEY = {
    "Id": "j1",
    "StartActivity": "hold",
    "Activities": {
        "hold": {"Holdout": {"Percentage": 10, "NextActivity": "ask"}},
        "ask": {"WHATSAPP": {"TemplateName": "survey", "NextActivity": "answer"}},
        "answer": {
            "MultiCondition": {
                "EvaluationWaitTime": {"WaitFor": "P1D"},
                "Branches": [
                    {"Condition": {"EventCondition": {"MessageActivity": "ask", "Dimensions": {
                        **REPLIED, "Attributes": {"reply_body": {"Values": ["1", "はい"]}}}}}, "NextActivity": "yes"},
                    {"Condition": {"EventCondition": {"MessageActivity": "ask", "Dimensions": REPLIED}},
                     "NextActivity": "other"},
                ],
                "DefaultActivity": "remind",
            }
        },
        "yes": {"SMS": {"TemplateName": "thanks"}},
        "other": {"SMS": {"TemplateName": "sorry"}},
        "remind": {"Wait": {"WaitTime": {"WaitFor": "PT2H"}, "NextActivity": "call"}},
        "call": {"VOICE": {"TemplateName": "call"}},
    },
}  # fmt: skip


class Facts:
    """What the conditions see: replies by message id, events, segment members."""

    def __init__(self) -> None:
        self.replies: dict[str, str] = {}
        self.events: dict[str, set[str]] = {}
        self.members: set[str] = set()

    def in_segment(self, segment_id, endpoint):
        return endpoint["Id"] in self.members

    def matches_dimensions(self, dimensions, endpoint):
        return endpoint.get("ChannelType") in dimensions.get("Demographic", {}).get("Channel", {}).get("Values", [])

    def message_event(self, endpoint_id, message_id, event_types):
        return bool(self.events.get(message_id, set()) & set(event_types))

    def replied_with(self, endpoint_id, message_id, answers):
        body = unicodedata.normalize("NFKC", self.replies.get(message_id, "")).strip().casefold()
        return body in {unicodedata.normalize("NFKC", a).casefold() for a in answers}

    def endpoint_event(self, endpoint_id, dimensions, since):
        return False


def start(endpoint_id: str) -> Participant:
    return Participant(endpoint_id, SURVEY["StartActivity"], T0)


def enrolled_endpoint() -> str:
    return next(f"ep{i}" for i in range(100) if bucket("j1", f"ep{i}", "hold") >= 10)


def test_a_participant_is_asked_waits_for_its_reply_and_a_full_width_one_takes_the_yes_branch():
    facts, endpoint_id = Facts(), enrolled_endpoint()
    endpoint = {"Id": endpoint_id}
    waiting, sends = advance(SURVEY, "r1", start(endpoint_id), endpoint, T0, facts)
    assert [(s.activity_id, s.kind) for s in sends] == [("ask", "WHATSAPP")]
    assert (waiting.status, waiting.activity, waiting.wake_at) == ("WAITING", "answer", T0 + timedelta(days=1))
    assert sends[0].message_id == message_id_for("j1", "r1", endpoint_id, "ask")

    early, nothing = advance(SURVEY, "r1", waiting, endpoint, T0 + timedelta(hours=3), facts)
    assert (early, nothing) == (waiting, [])
    facts.events[sends[0].message_id] = {"_WHATSAPP.REPLY"}
    facts.replies[sends[0].message_id] = " １ "  # a full-width one, as Japanese keyboards type it
    done, after = advance(SURVEY, "r1", waiting, endpoint, T0 + timedelta(days=1), facts)
    assert [s.activity_id for s in after] == ["yes"] and done.status == "FINISHED"
    assert done.path == ("hold", "ask", "answer", "yes")


def test_another_reply_and_no_reply_take_their_branches_and_a_wait_chains_to_a_call():
    endpoint_id = enrolled_endpoint()
    for reply, expected in (("いいえ", ["other"]), (None, [])):
        facts = Facts()
        waiting, sends = advance(SURVEY, "r1", start(endpoint_id), {"Id": endpoint_id}, T0, facts)
        if reply:
            facts.events[sends[0].message_id] = {"_WHATSAPP.REPLY"}
            facts.replies[sends[0].message_id] = reply
        moved, after = advance(SURVEY, "r1", waiting, {"Id": endpoint_id}, T0 + timedelta(days=1), facts)
        assert [s.activity_id for s in after] == expected
        if reply is None:  # no reply: the default branch waits two hours, then calls
            assert (moved.activity, moved.wake_at) == ("remind", T0 + timedelta(days=1, hours=2))
            called, calls = advance(SURVEY, "r1", moved, {"Id": endpoint_id}, moved.wake_at, facts)
            assert [(s.activity_id, s.kind) for s in calls] == [("call", "VOICE")] and called.status == "FINISHED"


def test_a_replayed_wake_up_takes_the_same_path_and_the_same_message_ids():
    facts, endpoint_id = Facts(), enrolled_endpoint()
    first = advance(SURVEY, "r1", start(endpoint_id), {"Id": endpoint_id}, T0, facts)
    again = advance(SURVEY, "r1", start(endpoint_id), {"Id": endpoint_id}, T0, facts)
    assert first == again
    other_run = advance(SURVEY, "r2", start(endpoint_id), {"Id": endpoint_id}, T0, facts)[1]
    assert other_run[0].message_id != first[1][0].message_id  # a re-entry (new run) is a new message


def test_holdout_and_random_split_shares_are_close_to_their_percentages_and_stable():
    journey = copy.deepcopy(SURVEY)
    branches = [{"Percentage": 30, "NextActivity": "yes"}, {"Percentage": 70, "NextActivity": "other"}]
    journey["Activities"]["ask"] = {"RandomSplit": {"Branches": branches}}
    outcomes = Counter()
    for i in range(10_000):
        moved, sends = advance(journey, "r1", start(f"ep{i}"), {"Id": f"ep{i}"}, T0, Facts())
        outcomes[moved.status if moved.status == "HELD_OUT" else sends[0].activity_id] += 1
    assert abs(outcomes["HELD_OUT"] / 10_000 - 0.10) < 0.02
    assert abs(outcomes["yes"] / (10_000 - outcomes["HELD_OUT"]) - 0.30) < 0.02
    assert outcomes == Counter(
        moved.status if moved.status == "HELD_OUT" else sends[0].activity_id
        for moved, sends in (
            advance(journey, "r1", start(f"ep{i}"), {"Id": f"ep{i}"}, T0, Facts()) for i in range(10_000)
        )
    )


def test_segment_conditions_and_next_wake():
    journey = {
        "Id": "j2",
        "StartActivity": "vip",
        "Activities": {
            "vip": {"ConditionalSplit": {"Condition": {"Conditions": [{"SegmentCondition": {"SegmentId": "s"}}]},
                                         "TrueActivity": "gift", "FalseActivity": "later"}},
            "gift": {"SMS": {"TemplateName": "gift"}},
            "later": {"Wait": {"WaitTime": {"WaitUntil": "2027-02-01T00:00:00Z"}, "NextActivity": "gift"}},
        },
    }  # fmt: skip
    facts = Facts()
    facts.members = {"a"}
    a, a_sends = advance(journey, "r", Participant("a", "vip", T0), {"Id": "a"}, T0, facts)
    b, b_sends = advance(journey, "r", Participant("b", "vip", T0), {"Id": "b"}, T0, facts)
    assert [s.activity_id for s in a_sends] == ["gift"] and a.status == "FINISHED"
    assert b_sends == [] and b.wake_at == datetime(2027, 2, 1, tzinfo=UTC)
    assert next_wake([a, b]) == datetime(2027, 2, 1, tzinfo=UTC)
