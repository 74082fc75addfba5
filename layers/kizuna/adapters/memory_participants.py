"""In-memory ParticipantStore and JourneyOrchestrator with the real adapters' semantics (the due index, enrolment
markers, moves conditional on the revision they replace and counted with it; a run started once)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from kizuna.domain.journey_steps import Participant
from kizuna.ports_journeys import ENTRY_BATCH, Enrolment, EntryStep, LoopState, Move, ParticipantsMoved, Tally


class InMemoryParticipantStore:
    def __init__(self) -> None:
        self.participants: dict[tuple[str, str, int], dict[str, Participant]] = {}
        self.markers: dict[tuple[str, str, str, int], Enrolment] = {}
        self.counted: set[tuple[str, str, str, int, str]] = set()
        self.loops: dict[tuple[str, str, str], LoopState] = {}
        self.tallies: dict[tuple[str, str, str, int], Counter[str]] = {}
        self.tallied_at: dict[tuple[str, str, str, int], datetime] = {}
        self._lock = threading.Lock()

    def get_many(self, app_id: str, journey_id: str, shard: int, endpoint_ids: Sequence[str]) -> dict[str, Participant]:
        with self._lock:
            stored = self.participants.get((app_id, journey_id, shard), {})
            return {e: stored[e] for e in endpoint_ids if e in stored}

    def put_many(self, app_id: str, journey_id: str, shard: int, participants: Sequence[Participant]) -> None:
        with self._lock:
            stored = self.participants.setdefault((app_id, journey_id, shard), {})
            for p in participants:
                stored[p.endpoint_id] = p

    def due(self, app_id: str, journey_id: str, shard: int, now: datetime, limit: int) -> list[Participant]:
        with self._lock:
            waiting = [p for p in self.participants.get((app_id, journey_id, shard), {}).values() if _waits(p)]
        return sorted((p for p in waiting if p.wake_at <= now), key=lambda p: (p.wake_at, p.endpoint_id))[:limit]  # type: ignore[operator]

    def next_wake(self, app_id: str, journey_id: str, shard: int) -> datetime | None:
        with self._lock:
            waits = [p.wake_at for p in self.participants.get((app_id, journey_id, shard), {}).values() if _waits(p)]
        return min(waits, default=None)  # type: ignore[type-var]

    def mark_enrolled(
        self, app_id: str, journey_id: str, run_id: str, shard: int, enrolment: Enrolment | None = None
    ) -> None:
        self.markers[(app_id, journey_id, run_id, shard)] = enrolment or Enrolment()

    def enrolled(self, app_id: str, journey_id: str, run_id: str, shard: int) -> bool:
        return (app_id, journey_id, run_id, shard) in self.markers

    def enrolment(self, app_id: str, journey_id: str, run_id: str, shard: int) -> Enrolment | None:
        return self.markers.get((app_id, journey_id, run_id, shard))

    def count_once(
        self, app_id: str, journey_id: str, run_id: str, shard: int, key: str, counts: Mapping[str, int], at: datetime
    ) -> bool:
        with self._lock:
            if (app_id, journey_id, run_id, shard, key) in self.counted:
                return False
            self.counted.add((app_id, journey_id, run_id, shard, key))
            self.tallies.setdefault((app_id, journey_id, run_id, shard), Counter()).update(counts)
            self.tallied_at[(app_id, journey_id, run_id, shard)] = at
            return True

    def loop_state(self, app_id: str, journey_id: str, run_id: str) -> LoopState:
        with self._lock:
            return self.loops.get((app_id, journey_id, run_id), LoopState())

    def swap_loop_state(self, app_id: str, journey_id: str, run_id: str, expected: LoopState, new: LoopState) -> bool:
        with self._lock:
            if self.loops.get((app_id, journey_id, run_id), LoopState()).version != expected.version:
                return False
            self.loops[(app_id, journey_id, run_id)] = replace(new, version=expected.version + 1)
            return True

    def all_participants(self, app_id: str, journey_id: str, shard: int) -> list[Participant]:
        with self._lock:
            return list(self.participants.get((app_id, journey_id, shard), {}).values())

    def record_moves(
        self, app_id: str, journey_id: str, run_id: str, shard: int, moves: Sequence[Move], at: datetime
    ) -> None:
        if not moves:  # as DynamoDB: no transaction, nothing touched
            return
        with self._lock:
            stored = self.participants.setdefault((app_id, journey_id, shard), {})
            for move in moves:
                current = stored.get(move.participant.endpoint_id)
                if (current.rev if current else 0) != move.participant.rev:
                    raise ParticipantsMoved(f"participant {move.participant.endpoint_id} was moved meanwhile")
            tally = self.tallies.setdefault((app_id, journey_id, run_id, shard), Counter())
            for move in moves:
                stored[move.participant.endpoint_id] = replace(move.participant, rev=move.participant.rev + 1)
                tally.update(move.counts)
            self.tallied_at[(app_id, journey_id, run_id, shard)] = at

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
        if len(moves) > ENTRY_BATCH:
            raise ValueError(f"an entry batch writes at most {ENTRY_BATCH} moves, not {len(moves)}")
        key = (app_id, journey_id, run_id, shard)
        with self._lock:
            current = self.markers.get(key)
            if (current.rev if current else 0) != (entry.expected.rev if entry.expected else 0):
                raise ParticipantsMoved("the shard's entry moved on meanwhile")
            stored = self.participants.setdefault((app_id, journey_id, shard), {})
            for move in moves:
                found = stored.get(move.participant.endpoint_id)
                if (found.rev if found else 0) != move.participant.rev:
                    raise ParticipantsMoved(f"participant {move.participant.endpoint_id} was moved meanwhile")
            tally = self.tallies.setdefault(key, Counter())
            for move in moves:
                stored[move.participant.endpoint_id] = replace(move.participant, rev=move.participant.rev + 1)
                tally.update(move.counts)
            tally.update(entry.counts)
            self.markers[key] = replace(entry.new, rev=(current.rev if current else 0) + 1)
            self.tallied_at[key] = at

    def tally(self, app_id: str, journey_id: str, run_id: str) -> Tally:
        with self._lock:
            keys = [k for k in self.tallies if k[:3] == (app_id, journey_id, run_id)]
            counts: Counter[str] = sum((self.tallies[k] for k in keys), Counter())
            updated = max((self.tallied_at[k] for k in keys), default=None)
        return Tally(dict(counts), updated)


def _waits(p: Participant) -> bool:
    return p.status == "WAITING" and p.wake_at is not None


class InMemoryOrchestrator:
    """Records the runs started (`started`, once each) and every start (`starts`, with pokes for entries); tests drive
    the wake-up loop themselves (kizuna.services.journey_runs.run_loop)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, str]] = []
        self.starts: list[tuple[str, str, str]] = []

    def start(self, app_id: str, journey_id: str, run_id: str) -> None:
        self.starts.append((app_id, journey_id, run_id))
        if (app_id, journey_id, run_id) not in self.started:
            self.started.append((app_id, journey_id, run_id))
