"""Ports of the journey engine (kizuna.services.journey_runs): where participants are kept, and what orchestrates
the wake-ups (Step Functions in AWS, the local scheduler locally)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from kizuna.domain.journey_steps import Participant


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
        """Every participant of a shard (execution metrics and the simulator; not on the wake-up path)."""
        ...


class ReplyStore(Protocol):
    """Inbound replies linked to the outbound message they answer (reply-based journey splits)."""

    def replies_to(self, app_id: str, message_id: str) -> list[str]:
        """The bodies of the replies to the message so far, oldest first."""
        ...


class JourneyOrchestrator(Protocol):
    def start(self, app_id: str, journey_id: str, run_id: str) -> None:
        """Start the run's wake-up loop (idempotent per run: starting it again does nothing)."""
        ...
