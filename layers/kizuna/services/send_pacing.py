"""Pacing one batch of sends: book each message a slot in its sender's shared bucket, then hold each send until
its slot, so the provider sees the booked spacing however long each request takes.

A thread can wake well after its slot (a busy process, a reservation that took longer than the lead). Sent then,
it would land among later slots and break the rate, so it takes a fresh slot. Lateness is rarely one thread's:
when the process stalls, every batch-mate whose slot has passed is late too. So the first late thread re-books all
of them in one reservation per bucket, and the others find their new slot when they take the lock; a stalled batch
costs one extra write, not one per message. A message is re-booked once: late again after that (a process too busy
to keep any slot), it goes when it wakes, rather than spend the bucket's slots on re-booking it again and again.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from kizuna.clock import Clock
from kizuna.domain.messages import OutboundMessage
from kizuna.domain.throttle import HORIZON_S, Throttle
from kizuna.ports import RateLimiter

SLOT_LEAD_S = 0.25
# A send that wakes this much after its slot books another (a slot at 50/s is 20 ms wide).
LATE_TOLERANCE_S = 0.01
LATE_LEAD_S = 0.05
# A re-booked message is claimed and charged already: it may wait longer in-process than a fresh batch books ahead.
REBOOK_HORIZON_S = 10.0


@dataclass(frozen=True, slots=True)
class Slot:
    at: float | None  # epoch second it may be sent at; None: no slot within its priority's horizon
    wait_s: float = 0.0  # when not booked: seconds until the bucket frees up


@dataclass
class BatchPacer:
    limiter: RateLimiter | None
    throttle_of: Callable[[OutboundMessage], Throttle]
    clock: Clock
    slots: dict[str, Slot] = field(default_factory=dict)
    rebooks: int = 0  # reservations made for late messages
    _messages: dict[str, OutboundMessage] = field(default_factory=dict)
    _rebooked: set[str] = field(default_factory=set)
    _released: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def book(
        self, messages: Sequence[OutboundMessage], lead_s: float = SLOT_LEAD_S, horizon_s: float | None = None
    ) -> None:
        """One reservation per (bucket, priority) for `messages`, starting `lead_s` from now, within `horizon_s`
        (the priority's horizon when None)."""
        self._messages.update({m.message_id: m for m in messages})
        start = self.clock.now() + timedelta(seconds=lead_s)
        if self.limiter is None:
            self.slots.update({m.message_id: Slot(start.timestamp()) for m in messages})
            return
        groups: dict[tuple[str, float, str], list[tuple[OutboundMessage, float]]] = defaultdict(list)
        for message in messages:
            throttle = self.throttle_of(message)
            groups[(throttle.key, throttle.rate_per_s, message.priority)].append((message, throttle.cost))
        for (key, rate, priority), members in groups.items():
            offsets, wait = self.limiter.reserve(
                key, rate, [c for _, c in members], horizon_s or HORIZON_S[priority], start
            )
            for (message, _), offset in zip(members, offsets, strict=True):
                at = None if offset is None else start.timestamp() + offset
                self.slots[message.message_id] = Slot(at, wait)

    def wait_turn(self, message: OutboundMessage) -> Slot | None:
        """Sleep until `message` may go. None: send it now. A Slot without `at`: it has no slot (the bucket is
        booked beyond the horizon); wait `wait_s` off the clock."""
        message_id = message.message_id
        while True:
            slot = self.slots[message_id]
            if slot.at is None:
                return slot
            pause = slot.at - self.clock.now().timestamp()
            if pause > 0:
                self.clock.sleep(pause)
            with self._lock:
                if self.slots[message_id] != slot:
                    continue  # a batch-mate re-booked it while it slept
                now = self.clock.now().timestamp()
                if self.limiter is None or now - slot.at <= LATE_TOLERANCE_S or message_id in self._rebooked:
                    self._released.add(message_id)
                    return None
                due = self._due(now)
                self._rebooked.update(m.message_id for m in due)
                self.rebooks += 1
                self.book(due, LATE_LEAD_S, REBOOK_HORIZON_S)

    def _due(self, now: float) -> list[OutboundMessage]:
        """Booked, neither sent nor re-booked yet, and at or past their slot: late, or about to be."""
        settled = self._released | self._rebooked
        return [
            self._messages[message_id]
            for message_id, slot in self.slots.items()
            if message_id not in settled and slot.at is not None and slot.at <= now + LATE_TOLERANCE_S
        ]
