"""The simulator's own adapters, beside the production in-memory ones: a participant store that journals every change,
a sender that delivers (or not) by a deterministic rule, and the replies that answer delivered messages.

Everything that happens is appended to one `Journal`, in the order it happened, so the report reads the run back
exactly as the engine lived it.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from kizuna.adapters.memory import InMemoryMessageStore
from kizuna.adapters.memory_engagement import InMemoryEngagementStore
from kizuna.adapters.memory_participants import InMemoryParticipantStore
from kizuna.clock import VirtualClock
from kizuna.domain.journey_steps import Participant
from kizuna.domain.messages import Claim, OutboundMessage, ProviderReceipt
from kizuna.ports_journeys import EntryStep, Move
from kizuna.ports_journeys import Reply as EngagementReply
from kizuna.services import journey_engagement as engagement

# A reply from the file arrives this long after the message it answers was delivered.
REPLY_AFTER = timedelta(minutes=5)
REPLY_CHANNELS = ("SMS", "WHATSAPP")
UNDELIVERED_CODE = "30003"  # Twilio's "unreachable destination handset"


@dataclass(frozen=True)
class Change:
    """A participant written by the engine: `before` is None when it entered."""

    at: datetime
    before: Participant | None
    after: Participant
    counts: Mapping[str, int] = field(default_factory=dict)  # what the move added to the execution metrics


@dataclass(frozen=True)
class Delivery:
    """A queued message taken by the sender: delivered, undelivered, or refused by its claim as a repeat."""

    at: datetime
    message: OutboundMessage
    status: str  # delivered | undelivered | duplicate


@dataclass(frozen=True)
class Reply:
    at: datetime
    message: OutboundMessage
    body: str


@dataclass
class Journal:
    entries: list[Change | Delivery | Reply] = field(default_factory=list)


class JournalingParticipantStore(InMemoryParticipantStore):
    """The in-memory participant store, journaling each participant the engine writes (with the virtual time)."""

    def __init__(self, clock: VirtualClock, journal: Journal) -> None:
        super().__init__()
        self._clock, self._journal = clock, journal

    def put_many(self, app_id: str, journey_id: str, shard: int, participants: Sequence[Participant]) -> None:
        before = self.get_many(app_id, journey_id, shard, [p.endpoint_id for p in participants])
        super().put_many(app_id, journey_id, shard, participants)
        self._note(before, participants)

    def record_moves(
        self, app_id: str, journey_id: str, run_id: str, shard: int, moves: Sequence[Move], at: datetime
    ) -> None:
        participants = [m.participant for m in moves]
        before = self.get_many(app_id, journey_id, shard, [p.endpoint_id for p in participants])
        super().record_moves(app_id, journey_id, run_id, shard, moves, at)
        self._note(before, participants, [m.counts for m in moves])

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
        participants = [m.participant for m in moves]
        before = self.get_many(app_id, journey_id, shard, [p.endpoint_id for p in participants])
        super().record_entry(app_id, journey_id, run_id, shard, moves, entry, at)
        self._note(before, participants, [m.counts for m in moves])

    def _note(
        self,
        before: dict[str, Participant],
        participants: Sequence[Participant],
        counts: Sequence[Mapping[str, int]] | None = None,
    ) -> None:
        now = self._clock.now()
        for i, p in enumerate(participants):
            was = before.get(p.endpoint_id)
            if was is None or replace(was, rev=p.rev) != p:  # a move that changed nothing is not a step
                self._journal.entries.append(Change(now, was, p, counts[i] if counts else {}))


class SimulatedSender:
    """The send queue and the sender behind it. A message goes out when due — at once, or when the recipient's quiet
    time ends (its not_before) — through the message store's claim, as the real sender's, so a replayed send is
    refused; it is then delivered unless its endpoint is in `failing` or its hash falls outside `deliver_percent`,
    and the delivery record is written as the status callbacks would write it (splits on delivery read it).

    `replies` maps an endpoint id to a reply body (answering its first delivered SMS or WhatsApp message) or to
    {activity id: body} (answering that activity's message)."""

    def __init__(
        self,
        clock: VirtualClock,
        messages: InMemoryMessageStore,
        journal: Journal,
        engagement: InMemoryEngagementStore,
        app_id: str,
        *,
        deliver_percent: int = 100,
        failing: frozenset[str] = frozenset(),
        reply_plan: dict[str, str | dict[str, str]] | None = None,
    ) -> None:
        self._clock, self._messages, self._journal = clock, messages, journal
        self._engagement, self._app_id = engagement, app_id
        self._deliver_percent, self._failing = deliver_percent, failing
        self._reply_plan = reply_plan or {}
        self._answered: set[str] = set()
        self._due: list[tuple[datetime, int, OutboundMessage, str | None]] = []
        self._order = itertools.count()
        self.queued: dict[str, OutboundMessage] = {}

    # SendQueue
    def enqueue(self, messages: Sequence[OutboundMessage], delay_s: int = 0) -> list[str]:
        for message in messages:
            self.queued.setdefault(message.message_id, message)
            due = _instant(message.not_before or message.accepted_at) + timedelta(seconds=delay_s)
            heapq.heappush(self._due, (max(due, self._clock.now()), next(self._order), message, None))
        return []

    def run_until(self, moment: datetime) -> None:
        """Send, deliver and reply to everything due at or before `moment`, moving the clock to each."""
        while self._due and self._due[0][0] <= moment:
            at, _, message, reply = heapq.heappop(self._due)
            if at > self._clock.now():
                self._clock.advance(at - self._clock.now())
            if reply is None:
                self._send(message)
            else:
                # As the inbound webhook would keep it (kizuna.services.journey_engagement.record_reply), linked to
                # the message it answers.
                kept = EngagementReply(f"SMSIM{message.message_id[:27]}", reply, at)
                self._engagement.add_reply(
                    self._app_id, message.endpoint_id, message.message_id, kept, at + engagement.RETENTION,
                    engagement.MAX_REPLIES,
                )  # fmt: skip
                self._journal.entries.append(Reply(at, message, reply))

    def _send(self, message: OutboundMessage) -> None:
        now = self._clock.now()
        claim = self._messages.claim(message, now, 30)
        if claim.claim in (Claim.DONE, Claim.BUSY):
            self._journal.entries.append(Delivery(now, message, "duplicate"))
            return
        self._messages.record_sent(message.message_id, ProviderReceipt(f"SIM{message.message_id[:29]}", "sent"), now)
        delivered = message.endpoint_id not in self._failing and _bucket(message.message_id) < self._deliver_percent
        status = "delivered" if delivered else "undelivered"
        self._messages.advance_status(message.message_id, status, None if delivered else UNDELIVERED_CODE, now)
        self._journal.entries.append(Delivery(now, message, status))
        body = self._reply_to(message) if delivered else None
        if body is not None:
            heapq.heappush(self._due, (now + REPLY_AFTER, next(self._order), message, body))

    def _reply_to(self, message: OutboundMessage) -> str | None:
        planned = self._reply_plan.get(message.endpoint_id or "")
        if planned is None or message.channel not in REPLY_CHANNELS:
            return None
        if isinstance(planned, dict):
            return planned.get(message.attribution.get("journey_activity_id", ""))
        if message.endpoint_id in self._answered:
            return None
        self._answered.add(message.endpoint_id or "")
        return planned


def _bucket(message_id: str) -> int:
    return int.from_bytes(hashlib.sha256(message_id.encode()).digest()[:8], "big") % 100


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
