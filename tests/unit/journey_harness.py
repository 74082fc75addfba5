"""The journey engine's test setting: an app with SMS endpoints, an all-endpoints segment and three SMS templates on
in-memory ports and a virtual clock, with the engine's deps assembled as kizuna.wiring.journey_deps assembles the
real ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kizuna.adapters.memory import InMemoryDataStore, InMemoryMessageStore, InMemorySendQueue
from kizuna.adapters.memory_journeys import InMemoryJourneyStore
from kizuna.adapters.memory_participants import InMemoryOrchestrator, InMemoryParticipantStore
from kizuna.adapters.memory_segments import InMemorySegmentStore
from kizuna.adapters.memory_templates import InMemoryTemplateStore
from kizuna.clock import VirtualClock, iso
from kizuna.services import journey_runs, journeys
from kizuna.services.apps import create_app
from kizuna.services.endpoints import update_endpoint
from kizuna.services.journeys import JourneyCatalog
from kizuna.services.segments import create_segment
from kizuna.services.send_messages import SendDeps
from kizuna.services.templates import create_template

ARN = "arn:aws:mobiletargeting:ap-northeast-1:123456789012"
START = datetime(2026, 12, 1, tzinfo=UTC)


class Setup:
    def __init__(
        self, endpoints: int = 6, participants: InMemoryParticipantStore | None = None, start: datetime = START
    ) -> None:
        self.start = start
        self.clock = VirtualClock(start)
        self.data = InMemoryDataStore()
        self.segments = InMemorySegmentStore()
        self.templates = InMemoryTemplateStore()
        self.journeys = InMemoryJourneyStore()
        self.participants = participants if participants is not None else InMemoryParticipantStore()
        self.messages = InMemoryMessageStore()
        self.queue = InMemorySendQueue()
        self.orchestrator = InMemoryOrchestrator()
        self.app_id = create_app(self.data, self.clock, ARN, {"Name": "j"}).id
        for i in range(endpoints):
            update_endpoint(
                self.data,
                self.data,
                self.clock,
                self.app_id,
                f"e{i}",
                {"ChannelType": "SMS", "Address": f"+8190{i:08d}"},
            )
        self.segment_id = create_segment(self.data, self.segments, self.clock, ARN, self.app_id, {"Name": "all"})["Id"]
        for name, body in (("welcome", "ようこそ"), ("thanks", "ありがとう"), ("again", "もう一度")):
            create_template(self.templates, self.clock, ARN, "SMS", name, {"Body": body})
        send = SendDeps(self.data, self.data, self.queue, self.clock, self.templates)
        self.deps = journey_runs.JourneyDeps(
            self.data,
            self.data,
            self.segments,
            self.journeys,
            self.participants,
            send,
            self.clock,
            self.orchestrator,
            self.messages,
        )

    def publish(self, activities: dict, start: str, **extra) -> dict:
        request = {
            "Name": "j",
            "StartActivity": start,
            "Activities": activities,
            "State": "ACTIVE",
            "StartCondition": {"SegmentStartCondition": {"SegmentId": self.segment_id}},
            "Schedule": {"EndTime": iso(self.start + timedelta(days=540))},
            **extra,
        }
        catalog = JourneyCatalog(self.templates, self.segments, self.app_id)
        return journeys.create_journey(
            self.data,
            self.journeys,
            catalog,
            self.clock,
            ARN,
            self.app_id,
            request,
            lambda j: journey_runs.start(self.deps, j),
        )

    def loops_until_done(self, journey_id: str, limit: int = 100) -> int:
        [(_, _, run_id)] = self.orchestrator.started
        for loop in range(1, limit):
            result = journey_runs.run_loop(self.deps, self.app_id, journey_id, run_id)
            if result["done"]:
                return loop
            self.clock.advance(journey_runs._instant(result["next_wake"]) - self.clock.now())
        raise AssertionError("the journey never finished")

    def sent(self) -> list:
        return [m for m, _ in self.queue.messages]


def sms(template: str, next_activity: str | None = None) -> dict:
    return {"SMS": {"TemplateName": template, **({"NextActivity": next_activity} if next_activity else {})}}
