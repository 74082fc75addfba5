"""Ports of the journey engine (kizuna.services.journey_runs): where participants are kept, what orchestrates the
wake-ups (Step Functions in AWS, the local scheduler locally), and where what participants did (replies, clicks,
custom events) is kept for conditions (kizuna.services.journey_engagement)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from kizuna.domain.journey_steps import Participant


@dataclass(frozen=True)
class Move:
    """A participant's new state (carrying the `rev` of the state it replaces) and what the move adds to the run's
    execution metrics (kizuna.domain.journey_metrics.move_counts)."""

    participant: Participant
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Tally:
    """A run's execution counters summed over its shards, and when they last changed (None: never)."""

    counts: dict[str, int]
    updated_at: datetime | None


# The moves one batch of a segment entry writes in one transaction, with the shard's tally and enrolment marker
# (DynamoDB's 100 actions per transaction).
ENTRY_BATCH = 98


@dataclass(frozen=True)
class Enrolment:
    """A shard's latest segment entry for a run: when it happened and the segment Version it read (None: unknown,
    a marker written before these were kept). `pending`: the key of an entry cut by the wake-up's time budget, which
    the next wake-up carries on after endpoint id `after`. `rev`: writes of the marker by entry batches (0: none),
    which each batch's write is conditional on."""

    at: datetime | None = None
    segment_version: int | None = None
    pending: str | None = None
    after: str | None = None
    rev: int = 0


@dataclass(frozen=True)
class EntryStep:
    """One batch of a segment entry (ParticipantStore.record_entry): what it adds to the run's counters besides its
    entrants' moves (the members it produced, those filtered out or refused), and the shard's enrolment marker it
    replaces and writes. The write is conditional on `expected`, so a batch counts once even when no one entered."""

    counts: Mapping[str, int]
    expected: Enrolment | None
    new: Enrolment


@dataclass(frozen=True)
class LoopState:
    """A run's wake record (kizuna.services.journey_wakes), for journeys that gain participants while their loop
    sleeps: when a loop of the run plans to wake next and which plan said so, and the earliest wake-up that entries
    made outside the loop asked for. `version` is what a swap is conditional on (0: never written)."""

    wake_at: datetime | None = None
    by: str | None = None
    want: datetime | None = None
    version: int = 0


class ParticipantsMoved(RuntimeError):
    """A participant's stored state is not the one the move started from: another wake-up moved it meanwhile (a
    resumed run's second loop, a retried invocation). Nothing of the refused chunk was written; the wake-up is retried
    and reads the participants again."""


class ParticipantStore(Protocol):
    """A journey's participants, partitioned by endpoint shard. Waiting participants are indexed by wake-up time,
    so a wake-up reads only the participants due, never the whole journey."""

    def get_many(
        self, app_id: str, journey_id: str, shard: int, endpoint_ids: Sequence[str]
    ) -> dict[str, Participant]: ...
    def put_many(self, app_id: str, journey_id: str, shard: int, participants: Sequence[Participant]) -> None:
        """Upsert (batched); a WAITING participant is indexed at its wake_at, any other one leaves the index."""
        ...

    def due(self, app_id: str, journey_id: str, shard: int, now: datetime, limit: int) -> list[Participant]:
        """Waiting participants whose wake_at is at or before `now`, earliest first."""
        ...

    def next_wake(self, app_id: str, journey_id: str, shard: int) -> datetime | None: ...
    def mark_enrolled(
        self, app_id: str, journey_id: str, run_id: str, shard: int, enrolment: Enrolment | None = None
    ) -> None: ...
    def enrolled(self, app_id: str, journey_id: str, run_id: str, shard: int) -> bool: ...
    def enrolment(self, app_id: str, journey_id: str, run_id: str, shard: int) -> Enrolment | None:
        """The shard's latest segment entry for the run (None: none yet)."""
        ...

    def all_participants(self, app_id: str, journey_id: str, shard: int) -> list[Participant]:
        """Every participant of a shard (the simulator, tests; not on the wake-up path)."""
        ...

    def record_moves(
        self, app_id: str, journey_id: str, run_id: str, shard: int, moves: Sequence[Move], at: datetime
    ) -> None:
        """Write the participants' new states (rev + 1, each conditional on the rev it replaces) and add their counts
        to the run's counters of this shard, all or nothing per chunk: a count exists exactly when the state write
        that records its move does. Raises ParticipantsMoved when a condition fails."""
        ...

    def record_entry(
        self,
        app_id: str,
        journey_id: str,
        run_id: str,
        shard: int,
        moves: Sequence[Move],
        entry: EntryStep,
        at: datetime,
    ) -> None:
        """`record_moves` of at most ENTRY_BATCH entrants, with the entry batch's counts and the shard's new enrolment
        marker, in one transaction conditional on the marker being `entry.expected`. Raises ParticipantsMoved when a
        condition fails (another wake-up took the batch)."""
        ...

    def tally(self, app_id: str, journey_id: str, run_id: str) -> Tally:
        """The run's counters over every shard (one read per shard, whatever the number of participants)."""
        ...

    def count_once(
        self, app_id: str, journey_id: str, run_id: str, shard: int, key: str, counts: Mapping[str, int], at: datetime
    ) -> bool:
        """Add counts that no participant write carries (refused entries) to the shard's counters, once per `key`:
        False when that key was counted already (a replayed PutEvents request or wake-up)."""
        ...

    def loop_state(self, app_id: str, journey_id: str, run_id: str) -> LoopState:
        """The run's wake record, read consistently (LoopState() when none was written)."""
        ...

    def swap_loop_state(self, app_id: str, journey_id: str, run_id: str, expected: LoopState, new: LoopState) -> bool:
        """Write `new` if the record is still `expected` (its version); False: it changed meanwhile."""
        ...


class JourneyOrchestrator(Protocol):
    def start(self, app_id: str, journey_id: str, run_id: str) -> None:
        """Start an execution of the run's wake-up loop now: on publishing or resuming, and when an entry outside the
        loop needs a wake-up sooner than the sleeping one (kizuna.services.journey_wakes). A start repeated at once
        (a retry) is the same execution."""
        ...


@dataclass(frozen=True)
class Asked:
    """The latest journey message sent to an endpoint on a two-way channel (SMS, WhatsApp): the one a reply from
    its address answers."""

    endpoint_id: str
    channel: str
    message_id: str
    journey_id: str
    activity_id: str
    at: datetime


@dataclass(frozen=True)
class Reply:
    sid: str  # Twilio's MessageSid: a message is kept once however often its webhook is delivered
    body: str
    at: datetime


@dataclass(frozen=True)
class Engagement:
    """What a participant did in answer to one journey message."""

    replies: tuple[Reply, ...] = ()
    clicked_at: datetime | None = None


@dataclass(frozen=True)
class EndpointEvent:
    """A custom event (PutEvents) an endpoint reported, kept for journey conditions in the event stream's shape."""

    endpoint_id: str
    event_id: str
    event_type: str
    at: datetime  # the event's own timestamp
    attributes: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def as_stream_event(self) -> dict[str, Any]:
        """The shape kizuna.domain.segments.compile_event_dimensions matches."""
        return {"event_type": self.event_type, "attributes": self.attributes, "metrics": self.metrics}


class EngagementStore(Protocol):
    """What journey participants did that conditions read: replies and clicks per journey message, custom events
    per endpoint, and the latest journey message per endpoint (which a reply is linked to). Everything is keyed by
    endpoint, expires, and is erased with the endpoint's user."""

    def put_asked(self, app_id: str, asked: Sequence[Asked], expires: datetime) -> None:
        """Upsert (batched): each endpoint's latest journey message."""
        ...

    def get_asked(self, app_id: str, endpoint_ids: Sequence[str]) -> dict[str, Asked]: ...
    def add_reply(
        self, app_id: str, endpoint_id: str, message_id: str, reply: Reply, expires: datetime, keep: int
    ) -> bool:
        """Keep the reply unless one with its sid is kept already or `keep` replies are (False)."""
        ...

    def add_click(self, app_id: str, endpoint_id: str, message_id: str, at: datetime, expires: datetime) -> None:
        """The message's first click is kept; later ones change nothing."""
        ...

    def engagement(self, app_id: str, endpoint_id: str, message_id: str) -> Engagement: ...
    def engagement_many(self, app_id: str, messages: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Engagement]:
        """`engagement` for many (endpoint id, message id) pairs at once (batched reads); every pair is answered."""
        ...

    def put_events(self, app_id: str, events: Sequence[EndpointEvent], expires: datetime) -> None:
        """Upsert (batched, keyed by event id: a replayed PutEvents request writes the same items)."""
        ...

    def events_since(
        self, app_id: str, endpoint_id: str, event_type: str, since: datetime, limit: int
    ) -> list[EndpointEvent]:
        """The endpoint's events of that type at or after `since`, newest first, at most `limit`."""
        ...

    def forget(self, app_id: str, endpoint_ids: Sequence[str]) -> None:
        """Erasure: drop everything kept for these endpoints."""
        ...
