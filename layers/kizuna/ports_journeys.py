"""Ports of the journey engine (kizuna.services.journey_runs): where participants are kept, and what orchestrates
the wake-ups (Step Functions in AWS, the local scheduler locally)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

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
    def mark_enrolled(self, app_id: str, journey_id: str, run_id: str, shard: int) -> None: ...
    def enrolled(self, app_id: str, journey_id: str, run_id: str, shard: int) -> bool: ...
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

    def tally(self, app_id: str, journey_id: str, run_id: str) -> Tally:
        """The run's counters over every shard (one read per shard, whatever the number of participants)."""
        ...


class JourneyOrchestrator(Protocol):
    def start(self, app_id: str, journey_id: str, run_id: str) -> None:
        """Start the run's wake-up loop (idempotent per run: starting it again does nothing)."""
        ...
