"""The journey engine's test world: in-memory ports on a virtual clock, an app with six SMS endpoints, a segment
of them all and three templates; the inbound path (replies) and tracked links beside it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from kizuna.adapters.memory import InMemoryDataStore, InMemoryEventSink, InMemoryMessageStore, InMemorySendQueue
from kizuna.adapters.memory_analytics import InMemoryLinkStore
from kizuna.adapters.memory_engagement import InMemoryEngagementStore
from kizuna.adapters.memory_journeys import InMemoryJourneyStore
from kizuna.adapters.memory_participants import InMemoryOrchestrator, InMemoryParticipantStore
from kizuna.adapters.memory_segments import InMemorySegmentStore
from kizuna.adapters.memory_sending import InMemoryChannelStore, InMemoryConsentStore
from kizuna.adapters.memory_templates import InMemoryTemplateStore
from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import VirtualClock, iso
from kizuna.services import journey_runs, journeys
from kizuna.services.apps import create_app
from kizuna.services.endpoints import update_endpoint
from kizuna.services.inbound import InboundDeps, InboundResult, handle_inbound
from kizuna.services.journeys import JourneyCatalog
from kizuna.services.segments import create_segment
from kizuna.services.send_messages import LinkTracking, SendDeps
from kizuna.services.templates import create_template

ARN = "arn:aws:mobiletargeting:ap-northeast-1:123456789012"
START = datetime(2026, 12, 1, tzinfo=UTC)
KIZUNA_NUMBER = "+815012345678"
LINKS_BASE = "https://hooks.kizuna.example.jp"


class SeenSids:
    """The inbound ledger (the messages table in AWS): each MessageSid is claimed once, released when handling
    failed so that Twilio's retry is handled in full."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def claim_inbound(self, provider_id: str, now: datetime) -> bool:
        if provider_id in self.seen:
            return False
        self.seen.add(provider_id)
        return True

    def release_inbound(self, provider_id: str) -> None:
        self.seen.discard(provider_id)


class NoRelays:
    def enqueue_relays(self, relays, delay_s: int = 0) -> None:
        assert not relays

    def dead_letter(self, relay, reason: str) -> None:
        raise AssertionError("inbound handling never dead-letters")


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
        self.channels = InMemoryChannelStore()
        self.consent = InMemoryConsentStore()
        self.links = InMemoryLinkStore()
        self.events = InMemoryEventSink()
        self.engagement = InMemoryEngagementStore()
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
        links = LinkTracking(self.links, LINKS_BASE)
        send = SendDeps(
            self.data, self.data, self.queue, self.clock, self.templates, self.channels, self.consent, links
        )
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
            self.engagement,
        )
        self.ledger = SeenSids()
        self.inbound = InboundDeps(
            self.data, self.channels, self.consent, self.ledger, NoRelays(), self.events, self.clock, self.engagement
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

    def run_id(self) -> str:
        return self.orchestrator.started[0][2]

    def first_loop(self, journey_id: str) -> datetime:
        """The run's first wake-up (entry); returns when it wakes next."""
        return journey_runs._instant(
            journey_runs.run_loop(self.deps, self.app_id, journey_id, self.run_id())["next_wake"]
        )

    def webhook(self, endpoint: int, body: str, sid: str | None = None) -> dict[str, str]:
        """Twilio's inbound-message form for a message from endpoint `e<endpoint>`'s number."""
        sid = sid or "SM" + uuid.uuid4().hex
        return {"MessageSid": sid, "SmsMessageSid": sid, "From": f"+8190{endpoint:08d}", "To": KIZUNA_NUMBER,
                "Body": body, "NumSegments": "1"}  # fmt: skip

    def reply(self, form: dict[str, str]) -> InboundResult:
        return handle_inbound(self.inbound, self.app_id, "SMS", form)

    def follow_ups(self, skip: int) -> dict[str, list[str]]:
        """Endpoint id -> bodies of the messages sent after the first `skip`."""
        found: dict[str, list[str]] = {}
        for m in self.sent()[skip:]:
            found.setdefault(m.endpoint_id, []).append(m.body)
        return found

    def participant(self, journey_id: str, endpoint_id: str):
        return next(
            p
            for shard in range(ENDPOINT_SHARDS)
            for p in self.participants.all_participants(self.app_id, journey_id, shard)
            if p.endpoint_id == endpoint_id
        )


def sms(template: str, next_activity: str | None = None) -> dict:
    return {"SMS": {"TemplateName": template, **({"NextActivity": next_activity} if next_activity else {})}}
