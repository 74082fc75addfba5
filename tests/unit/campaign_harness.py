"""Campaigns over in-memory ports on a virtual clock: the scheduler fires what is due, the jobs queue is worked
until idle (delayed pieces wait for the clock), and every queued message is recorded with the instant it was
queued, so tests can say when each endpoint's message left."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kizuna.adapters.memory import InMemoryDataStore, InMemorySendQueue
from kizuna.adapters.memory_campaigns import InMemoryCampaignStore, InMemoryEndpointCaps, InMemoryRunScheduler
from kizuna.adapters.memory_jobs import InMemoryJobQueue, InMemoryJobStore
from kizuna.adapters.memory_segments import InMemorySegmentStore
from kizuna.clock import VirtualClock
from kizuna.domain.jobs import CampaignPiece, CampaignRun, JobEnvelope
from kizuna.domain.messages import RelayRequest
from kizuna.services import campaigns as campaign_service
from kizuna.services.apps import create_app
from kizuna.services.campaign_runs import CampaignDeps, run_piece, start_run
from kizuna.services.endpoints import update_endpoint
from kizuna.services.segments import create_segment
from kizuna.services.send_messages import SendDeps

ARN = "arn:aws:mobiletargeting:ap-northeast-1:123456789012"


class ClockedQueue(InMemorySendQueue):
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock
        self.queued_at: list[datetime] = []

    def enqueue(self, messages, delay_s: int = 0):  # type: ignore[no-untyped-def]
        failed = super().enqueue(messages, delay_s)
        self.queued_at.extend(self.clock.now() for m in messages if m.message_id not in failed)
        return failed


class RecordingRelays:
    """The relay queue: CUSTOM deliveries queued for the relay function, in order."""

    def __init__(self) -> None:
        self.queued: list[RelayRequest] = []

    def enqueue_relays(self, relays: Sequence[RelayRequest], delay_s: int = 0) -> None:
        self.queued.extend(relays)

    def dead_letter(self, relay: RelayRequest, reason: str) -> None:
        raise AssertionError("campaigns never dead-letter")


@dataclass
class Harness:
    clock: VirtualClock
    data: InMemoryDataStore = field(default_factory=InMemoryDataStore)
    segments: InMemorySegmentStore = field(default_factory=InMemorySegmentStore)
    jobs: InMemoryJobStore = field(default_factory=InMemoryJobStore)
    jobs_queue: InMemoryJobQueue = field(default_factory=InMemoryJobQueue)
    scheduler: InMemoryRunScheduler = field(default_factory=InMemoryRunScheduler)
    store: InMemoryCampaignStore = field(default_factory=InMemoryCampaignStore)
    caps: InMemoryEndpointCaps = field(default_factory=InMemoryEndpointCaps)
    held: list = field(default_factory=list)  # delayed pieces waiting for the clock
    relays: RecordingRelays = field(default_factory=lambda: RecordingRelays())

    def __post_init__(self) -> None:
        self.send_queue = ClockedQueue(self.clock)
        send = SendDeps(self.data, self.data, self.send_queue, self.clock)
        self.deps = CampaignDeps(
            self.data, self.data, self.segments, self.store, self.jobs, self.jobs_queue, self.scheduler, self.clock,
            send, self.caps, ARN, self.relays,
        )  # fmt: skip
        self.app_id = create_app(self.data, self.clock, ARN, {"Name": "demo"}).id

    # -- audience --------------------------------------------------------------------------------------------------

    def endpoint(self, endpoint_id: str, address: str, timezone: str | None = None, **attributes: str) -> None:
        request: dict[str, Any] = {"ChannelType": "SMS", "Address": address}
        if timezone:
            request["Demographic"] = {"Timezone": timezone}
        if attributes:
            request["Attributes"] = {k: [v] for k, v in attributes.items()}
        update_endpoint(self.data, self.data, self.clock, self.app_id, endpoint_id, request)

    def segment(self, dimensions: dict[str, Any] | None = None) -> str:
        request = {"Name": "everyone", **({"Dimensions": dimensions} if dimensions else {})}
        return create_segment(self.data, self.segments, self.clock, ARN, self.app_id, request)["Id"]

    # -- campaigns -------------------------------------------------------------------------------------------------

    def create(self, **request: Any) -> dict[str, Any]:
        return campaign_service.create_campaign(self.deps, self.app_id, request)

    def work(self) -> int:
        """Fire due schedules and handle every job message that is due; returns how many were handled."""
        handled = 0
        while True:
            now = self.clock.now()
            due = [JobEnvelope.model_validate(body).message for body in self.scheduler.due(now)]
            ready, self.held = [m for m in self.held if _due(m, now)], [m for m in self.held if not _due(m, now)]
            batch = due + ready + self.jobs_queue.take()
            if not batch:
                return handled
            for message in batch:
                if not _due(message, now):
                    self.held.append(message)
                    continue
                handled += 1
                if isinstance(message, CampaignRun):
                    start_run(self.deps, message)
                elif isinstance(message, CampaignPiece):
                    run_piece(self.deps, message)

    def next_due(self) -> datetime | None:
        """The next instant anything is waiting for: a pending schedule or a held piece."""
        instants = [at for at, _ in self.scheduler.pending.values()]
        instants += [datetime.fromisoformat(m.not_before) for m in self.held if m.not_before]
        return min(instants) if instants else None

    def run_until(self, end: datetime) -> None:
        self.work()
        while (at := self.next_due()) is not None and at <= end:
            if at > self.clock.now():
                self.clock.advance(at - self.clock.now())
            self.work()

    def sent(self) -> list[tuple[Any, datetime]]:
        return [(m, at) for (m, _), at in zip(self.send_queue.messages, self.send_queue.queued_at, strict=True)]


def _due(message: Any, now: datetime) -> bool:
    return not (
        isinstance(message, CampaignPiece) and message.not_before and datetime.fromisoformat(message.not_before) > now
    )
