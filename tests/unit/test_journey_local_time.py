"""A journey's Schedule in each participant's local time (`LocalTime: true`), on the virtual clock: participants in
Tokyo, London and New York start at 09:00 on their own wall clocks (with daylight saving in New York), the wake-ups
follow the zones and not the participants, a participant does not move once the journey has closed in its zone, an
event after the end in an endpoint's zone enters no one, and the participant record keeps its local start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kizuna.adapters.dynamo_participants import participant_doc, participant_of
from kizuna.domain.journey_metrics import journey_metrics
from kizuna.domain.journey_schedule import window_of
from kizuna.domain.journey_steps import entrant
from kizuna.services import journey_metrics as journey_metrics_service
from kizuna.services import journey_runs
from kizuna.services.endpoints import update_endpoint
from tests.unit.journey_harness import Setup, sms
from tests.unit.test_journey_entry import post, signup, stamped
from tests.unit.test_journey_metrics import metrics_deps
from tests.unit.test_journey_review_sending import findings

TOKYO, LONDON, NEW_YORK = "+819012345678", "+447700900123", "+12125550123"


def add(s: Setup, endpoint_id: str, address: str, zone: str | None = None) -> None:
    request: dict = {"ChannelType": "SMS", "Address": address}
    if zone:
        request["Demographic"] = {"Timezone": zone}
    update_endpoint(s.data, s.data, s.clock, s.app_id, endpoint_id, request)


def world(**per_zone: int) -> Setup:
    """An app whose endpoints are `tokyo` (zone from the +81 number), `london` (Demographic.Timezone) and `ny`
    (+1 212), `n` of each, named tokyo0, tokyo1, ..."""
    s = Setup(endpoints=0, start=datetime(2026, 12, 1, tzinfo=UTC))
    for i in range(per_zone.get("tokyo", 1)):
        add(s, f"tokyo{i}", TOKYO[:-2] + f"{i:02d}")
    for i in range(per_zone.get("london", 1)):
        add(s, f"london{i}", LONDON[:-2] + f"{i:02d}", "Europe/London")
    for i in range(per_zone.get("ny", 1)):
        add(s, f"ny{i}", NEW_YORK[:-2] + f"{i:02d}")
    return s


def run(s: Setup, journey_id: str) -> tuple[dict[str, list[datetime]], list[datetime]]:
    """Loop the run to its end: when each endpoint's messages were queued, and the instant of every wake-up."""
    sent: dict[str, list[datetime]] = {}
    wakes: list[datetime] = []
    seen = 0
    for _ in range(50):
        wakes.append(s.clock.now())
        result = journey_runs.run_loop(s.deps, s.app_id, journey_id, s.run_id())
        for message in s.sent()[seen:]:
            sent.setdefault(message.endpoint_id, []).append(s.clock.now())
        seen = len(s.sent())
        if result["done"]:
            return sent, wakes
        s.clock.advance(journey_runs._instant(result["next_wake"]) - s.clock.now())
    raise AssertionError("the journey never finished")


def local_schedule(start: str, end: str, timezone: str | None = None) -> dict:
    return {"LocalTime": True, "Schedule": {"StartTime": start, "EndTime": end} | ({"Timezone": timezone} if timezone
                                                                                  else {})}  # fmt: skip


def test_participants_start_at_nine_on_their_own_wall_clock_and_each_zone_wakes_once():
    s = world(tokyo=3, london=3, ny=3)
    # As boto3 sends it: an instant in UTC, read in Schedule.Timezone (UTC+09) as 09:00 on 5 December.
    journey = s.publish({"hello": sms("welcome")}, "hello",
                        **local_schedule("2026-12-05T00:00:00Z", "2026-12-20T00:00:00Z", "UTC+09"))  # fmt: skip
    sent, wakes = run(s, journey["Id"])

    at = {zone: {times[0] for e, times in sent.items() if e.startswith(zone)} for zone in ("tokyo", "london", "ny")}
    assert at == {
        "tokyo": {datetime(2026, 12, 5, 0, tzinfo=UTC)},  # 09:00 JST
        "london": {datetime(2026, 12, 5, 9, tzinfo=UTC)},  # 09:00 GMT
        "ny": {datetime(2026, 12, 5, 14, tzinfo=UTC)},  # 09:00 EST
    }
    assert len(sent) == 9 and all(len(times) == 1 for times in sent.values())
    # Published on 1 December; enrolment when 09:00 first happens anywhere (UTC+14), then one wake-up per zone.
    assert wakes == [
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2026, 12, 4, 19, tzinfo=UTC),
        datetime(2026, 12, 5, 0, tzinfo=UTC),
        datetime(2026, 12, 5, 9, tzinfo=UTC),
        datetime(2026, 12, 5, 14, tzinfo=UTC),
    ]
    metrics = journey_metrics(s.participants.tally(s.app_id, journey["Id"], s.run_id()).counts, "COMPLETED")
    assert metrics["ENDPOINT_ENTERED"] == metrics["ENDPOINT_LEFT"] == "9"


def test_the_wake_ups_grow_with_the_zones_not_the_participants():
    few, many = world(), world(tokyo=20, london=20, ny=20)
    schedule = local_schedule("2026-12-05T09:00:00", "2026-12-20T09:00:00")
    runs = []
    for s in (few, many):
        journey = s.publish({"hello": sms("welcome")}, "hello", **schedule)
        runs.append(run(s, journey["Id"]))
    (few_sent, few_wakes), (many_sent, many_wakes) = runs
    assert (len(few_sent), len(many_sent)) == (3, 60)
    assert few_wakes == many_wakes and len(many_wakes) == 5  # publication, enrolment, and one per zone


def test_new_york_starts_at_nine_eastern_daylight_time_in_summer():
    s = Setup(endpoints=0, start=datetime(2027, 7, 1, tzinfo=UTC))
    add(s, "ny0", NEW_YORK)
    add(s, "tokyo0", TOKYO, "Asia/Tokyo")  # Japan keeps no daylight saving
    journey = s.publish({"hello": sms("welcome")}, "hello",
                        **local_schedule("2027-07-05T09:00:00Z", "2027-07-20T09:00:00Z"))  # fmt: skip
    sent, _ = run(s, journey["Id"])
    assert sent == {"tokyo0": [datetime(2027, 7, 5, 0, tzinfo=UTC)], "ny0": [datetime(2027, 7, 5, 13, tzinfo=UTC)]}


def test_once_the_journey_has_closed_in_a_participants_zone_it_moves_no_further():
    s = world()
    activities = {
        "hello": sms("welcome", "until"),
        "until": {"Wait": {"WaitTime": {"WaitUntil": "2026-12-06T05:00:00Z"}, "NextActivity": "bye"}},
        "bye": sms("thanks"),
    }
    # Closes at 09:30 on 6 December in each zone: 00:30Z in Tokyo (before the wait ends at 14:00 JST), 09:30Z in
    # London and 14:30Z in New York (after it ends, at 05:00 GMT and 00:00 EST).
    journey = s.publish(activities, "hello", **local_schedule("2026-12-05T09:00:00", "2026-12-06T09:30:00"))
    sent, wakes = run(s, journey["Id"])

    assert {e: len(times) for e, times in sent.items()} == {"tokyo0": 1, "london0": 2, "ny0": 2}
    assert s.participant(journey["Id"], "tokyo0").activity == "until"  # still waiting there when it closed
    # Tokyo's participant waits, unmoved, for the end in the last zone (09:30 at UTC-12); nobody else waits, so the
    # run completes at that last wake-up rather than sleeping until then.
    assert s.participant(journey["Id"], "tokyo0").wake_at == datetime(2026, 12, 6, 21, 30, tzinfo=UTC)
    assert wakes[-1] == datetime(2026, 12, 6, 5, tzinfo=UTC)
    assert s.journeys.get_journey(s.app_id, journey["Id"])["State"] == "COMPLETED"
    metrics = journey_metrics(s.participants.tally(s.app_id, journey["Id"], s.run_id()).counts, "COMPLETED")
    assert (metrics["ENDPOINT_LEFT"], metrics["ENDED"]) == ("2", "1")


def test_an_event_after_the_end_in_the_endpoints_zone_enters_no_one_with_daylight_saving_in_new_york():
    s = Setup(endpoints=0, start=datetime(2027, 7, 1, tzinfo=UTC))
    for endpoint_id, address in (("tokyo0", TOKYO), ("london0", LONDON), ("ny0", NEW_YORK)):
        add(s, endpoint_id, address)
    journey = s.publish(
        {"hello": sms("welcome")}, "hello",
        StartCondition={"EventStartCondition": {"EventFilter": {"FilterType": "ENDPOINT", "Dimensions": {
            "EventType": {"DimensionType": "INCLUSIVE", "Values": ["signup"]}}}}},
        **local_schedule("2027-07-01T00:00:00", "2027-07-05T09:00:00"),
    )  # fmt: skip
    journey_runs.run_loop(s.deps, s.app_id, journey["Id"], s.run_id())

    # 12:30Z on 5 July: past 09:00 in Tokyo (00:00Z) and London (08:00Z, BST), 08:30 EDT in New York.
    s.clock.advance(datetime(2027, 7, 5, 12, 30, tzinfo=UTC) - s.clock.now())
    post(s, stamped(s, {e: {f"{e}-1": signup()} for e in ("tokyo0", "london0", "ny0")}))
    assert [m.endpoint_id for m in s.sent()] == ["ny0"]
    # 13:30Z is 09:30 EDT: closed in New York too (in winter it would still be 08:30 EST).
    s.clock.advance(timedelta(hours=1))
    add(s, "ny1", NEW_YORK[:-1] + "9")
    post(s, stamped(s, {"ny1": {"ny1-1": signup()}}))
    assert [m.endpoint_id for m in s.sent()] == ["ny0"]


def test_an_endpoint_without_a_zone_of_its_own_is_read_in_the_schedules_timezone():
    s = Setup(endpoints=0)
    add(s, "freephone", "+80012345678")  # an international freephone number implies no zone
    journey = s.publish({"hello": sms("welcome")}, "hello",
                        **local_schedule("2026-12-05T09:00:00", "2026-12-20T09:00:00", "UTC-03"))  # fmt: skip
    sent, _ = run(s, journey["Id"])
    assert sent == {"freephone": [datetime(2026, 12, 5, 12, tzinfo=UTC)]}


def test_without_local_time_the_schedule_is_one_instant_for_everyone():
    s = world()
    journey = s.publish({"hello": sms("welcome")}, "hello",
                        Schedule={"StartTime": "2026-12-05T09:00:00Z", "EndTime": "2026-12-20T09:00:00Z"})  # fmt: skip
    sent, wakes = run(s, journey["Id"])
    assert set(sent) == {"tokyo0", "london0", "ny0"}
    assert {t for times in sent.values() for t in times} == {datetime(2026, 12, 5, 9, tzinfo=UTC)}
    assert len(wakes) == 2  # publication, and the start


def test_a_participant_waiting_for_its_local_start_keeps_it_through_the_participants_table():
    journey = {"Id": "j", "StartActivity": "hello", **local_schedule("2026-12-05T09:00:00", "2026-12-20T09:00:00")}
    now = window_of(journey).first_start
    assert now == datetime(2026, 12, 4, 19, tzinfo=UTC)  # 09:00 at UTC+14
    waiting = entrant(journey, "ny0", "segment", now, starts_at=datetime(2026, 12, 5, 14, tzinfo=UTC))
    assert (waiting.status, waiting.wake_at, waiting.activity) == ("WAITING", waiting.starts_at, "hello")
    assert participant_of(participant_doc(waiting)) == waiting
    started = entrant(journey, "tokyo0", "segment", now, starts_at=now)  # open already in its zone: moves at once
    assert (started.status, started.starts_at) == ("ACTIVE", None)


def test_the_run_is_scheduled_until_the_journey_starts_in_the_earliest_zone():
    s = world()
    journey = s.publish({"hello": sms("welcome")}, "hello",
                        **local_schedule("2026-12-05T09:00:00", "2026-12-20T09:00:00"))  # fmt: skip

    def status() -> str:
        [run] = journey_metrics_service.get_journey_runs(metrics_deps(s), s.app_id, journey["Id"], None, None)["Item"]
        return run["Status"]

    s.clock.advance(datetime(2026, 12, 4, 18, 59, tzinfo=UTC) - s.clock.now())
    assert status() == "SCHEDULED"
    s.clock.advance(timedelta(minutes=1))  # 09:00 at UTC+14
    assert status() == "RUNNING"


# -- the review ---------------------------------------------------------------------------------------------------


def test_local_time_without_a_schedule_start_or_end_is_a_recommendation():
    found = findings("RECOMMENDATION", LocalTime=True, Schedule={"Timezone": "Asia/Tokyo"})
    assert "LOCAL_TIME_WITHOUT_SCHEDULE" in [code for code, _, _ in found]
    assert "LOCAL_TIME_WITHOUT_SCHEDULE" not in [code for code, _, _ in findings("RECOMMENDATION", LocalTime=True)]


def test_an_end_time_has_passed_only_once_it_has_in_every_zone():
    # 23:00 on 30 November, an hour before the review (00:00Z on 1 December): passed in UTC, not yet at UTC-12.
    schedule = {"StartTime": "2026-11-01T00:00:00", "EndTime": "2026-11-30T23:00:00"}
    assert ("BAD_SCHEDULE", "Schedule.EndTime has passed") in [(c, m) for c, m, _ in findings(Schedule=schedule)]
    assert findings(Schedule=schedule, LocalTime=True) == []
    gone = {"StartTime": "2026-11-01T00:00:00", "EndTime": "2026-11-30T11:00:00"}  # 23:00Z at UTC-12
    assert [(c, m) for c, m, _ in findings(Schedule=gone, LocalTime=True)] == [
        ("BAD_SCHEDULE", "Schedule.EndTime has passed in every time zone")
    ]


def test_local_time_reads_an_end_before_its_start_on_the_wall_clock():
    # Both at 09:00 on 5 December in Tokyo: one written as an instant (00:00Z), one as a wall clock.
    schedule = {"StartTime": "2026-12-05T00:00:00Z", "EndTime": "2026-12-05T09:00:00", "Timezone": "Asia/Tokyo"}
    assert ("BAD_SCHEDULE", "Schedule.EndTime is before its StartTime") in [
        (c, m) for c, m, _ in findings(Schedule=schedule, LocalTime=True)
    ]
