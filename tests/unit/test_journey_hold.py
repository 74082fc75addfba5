"""A message held by the sending schedule holds its participant (as Pinpoint's journey did): the participant waits
with its message at the message activity, and its next activity starts at the message's release instant, so a Wait
or a split's evaluation wait after it is measured from the send. On the engine with in-memory ports and the virtual
clock; no extra execution and no extra wake-up per participant."""

from __future__ import annotations

from datetime import UTC, datetime

from kizuna.clock import iso
from kizuna.domain.messages import DeliveryRecord
from kizuna.services import journey_runs
from kizuna.services.endpoints import update_endpoint
from kizuna.services.templates import delete_template
from tests.unit.journey_harness import Setup, sms

QUIET = {"Start": "22:00", "End": "08:00"}
LATE_EVENING_TOKYO = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # 23:00 JST: quiet until 08:00 JST (23:00 UTC)
EIGHT_IN_TOKYO = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
NINE_IN_TOKYO = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


def in_tokyo(s: Setup, count: int) -> None:
    for i in range(count):
        update_endpoint(
            s.data, s.data, s.clock, s.app_id, f"e{i}", {"ChannelType": "SMS", "Address": f"+8190123456{i:02d}"}
        )


def sent_at(s: Setup, loops: int) -> list[tuple[str, datetime]]:
    """Run `loops` loops, advancing the clock to each next wake-up; returns (template body, wake-up) per message."""
    sent: list[tuple[str, datetime]] = []
    for _ in range(loops):
        before = len(s.sent())
        result = journey_runs.run_loop(s.deps, s.app_id, s.journey_id, s.run_id())
        sent += [(m.body, s.clock.now()) for m in s.sent()[before:]]
        if result["done"]:
            break
        s.clock.advance(journey_runs._instant(result["next_wake"]) - s.clock.now())
    return sent


def test_a_wait_after_a_held_sms_starts_when_the_sms_goes_not_when_the_participant_reached_it():
    s = Setup(endpoints=1, start=LATE_EVENING_TOKYO)
    in_tokyo(s, 1)
    activities = {
        "hello": sms("welcome", "hour"),
        "hour": {"Wait": {"WaitTime": {"WaitFor": "PT1H"}, "NextActivity": "bye"}},
        "bye": sms("thanks"),
    }
    s.journey_id = s.publish(activities, "hello", QuietTime=QUIET)["Id"]

    assert sent_at(s, 1) == [("ようこそ", LATE_EVENING_TOKYO)]  # queued at once, held by the sender until 08:00
    assert s.sent()[0].not_before == iso(EIGHT_IN_TOKYO)
    held = s.participant(s.journey_id, "e0")
    assert (held.status, held.activity, held.wake_at) == ("WAITING", "hello", EIGHT_IN_TOKYO)

    later = sent_at(s, 5)
    assert later == [("ありがとう", NINE_IN_TOKYO)]  # 08:00 + 1 hour, not 23:00 + 1 hour (still quiet at 00:00)
    assert s.participant(s.journey_id, "e0").status == "FINISHED"
    counts = s.participants.tally(s.app_id, s.journey_id, s.run_id()).counts
    assert counts["hello|SUCCESS"] == counts["hour|COMPLETED"] == counts["bye|SUCCESS"] == 1  # each once


def test_a_delivered_condition_after_a_held_sms_evaluates_its_wait_from_the_send():
    s = Setup(endpoints=2, start=LATE_EVENING_TOKYO)
    in_tokyo(s, 2)
    activities = {
        "hello": sms("welcome", "check"),
        "check": {
            "ConditionalSplit": {
                "Condition": {
                    "Conditions": [
                        {
                            "EventCondition": {
                                "MessageActivity": "hello",
                                "Dimensions": {"EventType": {"Values": ["_SMS.SUCCESS"]}},
                            }
                        }
                    ]
                },
                "EvaluationWaitTime": {"WaitFor": "PT1H"},
                "TrueActivity": "yes",
                "FalseActivity": "no",
            }
        },  # fmt: skip
        "yes": sms("thanks"),
        "no": sms("again"),
    }
    s.journey_id = s.publish(activities, "hello", QuietTime=QUIET)["Id"]
    sent_at(s, 1)  # both held until 08:00
    s.clock.advance(EIGHT_IN_TOKYO - s.clock.now())
    journey_runs.run_loop(s.deps, s.app_id, s.journey_id, s.run_id())  # the release: both reach the split at 08:00
    assert {s.participant(s.journey_id, e).wake_at for e in ("e0", "e1")} == {NINE_IN_TOKYO}
    # e0's message is delivered at 08:30, inside the hour the split waits from the send (not from 23:00, when the
    # participant reached the message: that wait would have ended at 00:00, before anything was sent).
    first = next(m for m in s.sent() if m.endpoint_id == "e0")
    s.messages.records[first.message_id] = _delivered(s, first.message_id)
    s.clock.advance(NINE_IN_TOKYO - s.clock.now())
    journey_runs.run_loop(s.deps, s.app_id, s.journey_id, s.run_id())
    follow_ups = {m.endpoint_id: m.body for m in s.sent()[2:]}
    assert follow_ups == {"e0": "ありがとう", "e1": "もう一度"}


def test_a_held_message_that_the_send_path_refuses_holds_no_one():
    s = Setup(endpoints=1, start=LATE_EVENING_TOKYO)
    in_tokyo(s, 1)
    activities = {"hello": sms("welcome", "hour"), "hour": {"Wait": {"WaitTime": {"WaitFor": "PT1H"}}}}
    s.journey_id = s.publish(activities, "hello", QuietTime=QUIET)["Id"]
    delete_template(s.templates, "SMS", "welcome", None)  # after publishing: the send path refuses the message
    journey_runs.run_loop(s.deps, s.app_id, s.journey_id, s.run_id())
    moved = s.participant(s.journey_id, "e0")
    assert (moved.activity, moved.wake_at) == ("hour", datetime(2026, 12, 1, 15, 0, tzinfo=UTC))  # an hour from now
    assert s.sent() == []
    assert s.participants.tally(s.app_id, s.journey_id, s.run_id()).counts["hello|PERMANENT_FAILURE"] == 1


def _delivered(s: Setup, message_id: str) -> DeliveryRecord:
    return DeliveryRecord(message_id=message_id, app_id=s.app_id, status="delivered")
