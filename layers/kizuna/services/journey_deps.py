"""What the journey engine works with (kizuna.services.journey_runs, journey_segment_entry, journey_moves), built by
wiring_journeys.journey_deps (real adapters), the simulator, or tests (in-memory stores)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kizuna.clock import Clock
from kizuna.ports import AppStore, EndpointStore, JourneyStore, MessageStore, RelayQueue, SegmentStore
from kizuna.ports_campaigns import EndpointCaps
from kizuna.ports_journeys import EngagementStore, JourneyOrchestrator, ParticipantStore
from kizuna.services import journey_sends
from kizuna.services.send_messages import SendDeps


@dataclass
class JourneyDeps:
    apps: AppStore
    endpoints: EndpointStore
    segments: SegmentStore
    journeys: JourneyStore
    participants: ParticipantStore
    send: SendDeps
    clock: Clock
    orchestrator: JourneyOrchestrator | None = None
    messages: MessageStore | None = None
    engagement: EngagementStore | None = None  # replies, clicks, custom events (journey_engagement)
    relays: RelayQueue | None = None  # CUSTOM activities' webhook deliveries (journey_sends)
    caps: EndpointCaps | None = None  # per-endpoint limits, shared with campaigns (journey_sends)
    pacing: journey_sends.Pacing = field(default_factory=dict, repr=False)  # MessagesPerSecond slots per shard
