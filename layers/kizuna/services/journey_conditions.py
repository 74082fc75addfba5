"""What a journey's conditions are evaluated against during one move (kizuna.services.journey_moves.move):
segment membership and dimensions of the endpoint, the delivery records of the participant's earlier messages, and
what it did in answer (replies, clicks, custom events: kizuna.services.journey_engagement).

Reads are batched: before a batch of participants moves, `prefetch` reads, in BatchGetItem requests of 100 keys, the
delivery records and the engagement of every message that a condition the participants may evaluate in this move
names (`EventCondition.MessageActivity`), instead of one GetItem per participant when the split asks. Which
conditions a participant may evaluate is read from the journey: those of the activity it stands at and of the
activities it reaches from there without waiting. A condition asked about a message not prefetched (a Wait whose
WaitUntil already passed, say) is read then, one by one, so prefetching only ever changes how many requests a move
makes, never what a condition answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.domain.journey_activities import activity_kind
from kizuna.domain.journey_steps import Participant
from kizuna.domain.messages import DeliveryRecord
from kizuna.domain.segments import Predicate, compile_dimensions, compile_event_dimensions
from kizuna.errors import KizunaError
from kizuna.ports import MessageStore, SegmentStore
from kizuna.ports_journeys import Engagement, EngagementStore
from kizuna.services import journey_engagement as engagement
from kizuna.services.segments import is_member

logger = Logger(child=True)

# Delivery-record statuses each message event of a condition stands for.
EVENT_STATUSES = {
    "SUCCESS": {"delivered"},
    "DELIVERED": {"delivered"},
    "FAILURE": {"failed", "undelivered", "expired"},
    "FAILED": {"failed", "undelivered", "expired"},
    "SEND": {"sent", "delivered", "failed", "undelivered", "queued", "sending", "accepted"},
    "BUFFERED": {"sent", "delivered", "queued", "sending", "accepted"},
}
# Message events kept by the engagement store rather than the delivery record.
CLICK_EVENTS = frozenset({"CLICK"})
REPLY_EVENTS = frozenset({"REPLY", "RECEIVED"})


@dataclass
class _Reads:
    """What the conditions reachable from one activity (without waiting) read: message activity ids whose delivery
    record, and whose engagement (replies, clicks), they ask about."""

    delivery: set[str] = field(default_factory=set)
    engagement: set[str] = field(default_factory=set)


class JourneyConditions:
    """The engine's Conditions port (kizuna.domain.journey_steps.Conditions) for one move of one journey."""

    def __init__(
        self,
        journey: dict[str, Any],
        segments: SegmentStore,
        messages: MessageStore | None,
        engaged: EngagementStore | None,
        now: datetime,
    ) -> None:
        self._app_id, self._now = journey["ApplicationId"], now
        self._segment_store, self._messages, self._engaged_store = segments, messages, engaged
        self._reads = _reads_by_activity(journey)
        self._segments: dict[str, dict[str, Any] | None] = {}
        self._records: dict[str, DeliveryRecord | None] = {}
        self._engaged: dict[tuple[str, str], Engagement] = {}
        self._filters: dict[str, Predicate] = {}

    def prefetch(self, participants: Iterable[Participant]) -> None:
        """Read, batched, what the participants' coming conditions ask about their earlier messages."""
        records: list[str] = []
        engaged: list[tuple[str, str]] = []
        for p in participants:
            reads = self._reads.get(p.activity or "")
            if reads is None:
                continue
            records += [p.messages[a] for a in reads.delivery if a in p.messages]
            engaged += [(p.endpoint_id, p.messages[a]) for a in reads.engagement if a in p.messages]
        records = [m for m in dict.fromkeys(records) if m not in self._records]
        if records and self._messages is not None:
            found = self._messages.get_many(records)
            self._records |= {m: found.get(m) for m in records}
        engaged = [pair for pair in dict.fromkeys(engaged) if pair not in self._engaged]
        if engaged and self._engaged_store is not None:
            self._engaged |= self._engaged_store.engagement_many(self._app_id, engaged)

    def in_segment(self, segment_id: str, endpoint: dict[str, Any]) -> bool:
        if segment_id not in self._segments:
            self._segments[segment_id] = self._segment_store.get_segment(self._app_id, segment_id)
        doc = self._segments[segment_id]
        return doc is not None and is_member(self._segment_store, self._app_id, doc, endpoint, now=self._now)

    def matches_dimensions(self, dimensions: dict[str, Any], endpoint: dict[str, Any]) -> bool:
        return compile_dimensions(dimensions, self._now)(endpoint)

    def message_event(self, endpoint_id: str, message_id: str, event_types: list[str]) -> bool:
        kinds = {t.rsplit(".", 1)[-1].upper() for t in event_types}
        if kinds & (CLICK_EVENTS | REPLY_EVENTS):
            engaged = self._engagement(endpoint_id, message_id)
            if kinds & CLICK_EVENTS and engaged.clicked_at is not None:
                return True
            if kinds & REPLY_EVENTS and engaged.replies:
                return True
        wanted = set().union(*(EVENT_STATUSES.get(k, set()) for k in kinds))
        if not wanted or self._messages is None:
            return False
        if message_id not in self._records:  # not prefetched: read it now
            self._records[message_id] = self._messages.get(message_id)
        record = self._records[message_id]
        return record is not None and record.status in wanted

    def replied_with(self, endpoint_id: str, message_id: str, answers: list[str]) -> bool:
        return engagement.matches_answers(self._engagement(endpoint_id, message_id).replies, answers)

    def endpoint_event(self, endpoint_id: str, dimensions: dict[str, Any], since: datetime) -> bool:
        store = self._engaged_store
        types = engagement.event_types_of({"Dimensions": dimensions})
        if store is None or not types:
            return False
        matches = self._event_filter(dimensions)
        return any(
            matches(event.as_stream_event())
            for event_type in types
            for event in store.events_since(self._app_id, endpoint_id, event_type, since, engagement.MAX_EVENTS_READ)
        )

    def _engagement(self, endpoint_id: str, message_id: str) -> Engagement:
        """One read per message and move, whichever conditions ask (a split's branches often ask twice)."""
        key = (endpoint_id, message_id)
        if key not in self._engaged:
            store = self._engaged_store
            self._engaged[key] = store.engagement(self._app_id, *key) if store is not None else Engagement()
        return self._engaged[key]

    def _event_filter(self, dimensions: dict[str, Any]) -> Predicate:
        key = json.dumps(dimensions, sort_keys=True)
        if key not in self._filters:
            try:
                self._filters[key] = compile_event_dimensions(dimensions, "EventCondition.Dimensions")
            except KizunaError as exc:  # a filter the grammar refuses matches nothing (the participant moves on)
                logger.warning("journey event condition unreadable", extra={"reason": exc.message})
                self._filters[key] = lambda _event: False
        return self._filters[key]


def _reads_by_activity(journey: dict[str, Any]) -> dict[str, _Reads]:
    """For each activity a participant can stand at when it moves, what the conditions it may then evaluate read:
    its own (a split whose wait ends) and those of the activities it reaches from there before the next wait."""
    activities: dict[str, dict[str, Any]] = journey.get("Activities") or {}
    own = {activity_id: _own_reads(activity) for activity_id, activity in activities.items()}
    found: dict[str, _Reads] = {}
    for start in activities:
        reads, seen, stack = _Reads(), set(), [start]
        while stack:
            activity_id = stack.pop()
            if activity_id in seen or activity_id not in activities:
                continue
            seen.add(activity_id)
            if activity_id != start and _waits(activities[activity_id]):
                continue  # its conditions are evaluated after its wait, at a later move
            reads.delivery |= own[activity_id].delivery
            reads.engagement |= own[activity_id].engagement
            stack += _next_of(activities[activity_id])
        if reads.delivery or reads.engagement:
            found[start] = reads
    return found


def _own_reads(activity: dict[str, Any]) -> _Reads:
    reads = _Reads()
    for condition in _conditions_of(activity):
        event = condition.get("EventCondition") or {}
        source = event.get("MessageActivity")
        if not source:
            continue
        dimensions = event.get("Dimensions") or {}
        kinds = {str(t).rsplit(".", 1)[-1].upper() for t in (dimensions.get("EventType") or {}).get("Values") or []}
        if kinds & (CLICK_EVENTS | REPLY_EVENTS) or (dimensions.get("Attributes") or {}).get("reply_body"):
            reads.engagement.add(source)
        if kinds & EVENT_STATUSES.keys():
            reads.delivery.add(source)
    return reads


def _conditions_of(activity: dict[str, Any]) -> Sequence[dict[str, Any]]:
    kind = activity_kind(activity)
    body = (activity.get(kind) or {}) if kind else {}
    if kind == "ConditionalSplit":
        return (body.get("Condition") or {}).get("Conditions") or []
    if kind == "MultiCondition":
        return [b.get("Condition") or {} for b in body.get("Branches") or []]
    return []


def _waits(activity: dict[str, Any]) -> bool:
    kind = activity_kind(activity)
    body = (activity.get(kind) or {}) if kind else {}
    return kind == "Wait" or (kind in ("ConditionalSplit", "MultiCondition") and bool(body.get("EvaluationWaitTime")))


def _next_of(activity: dict[str, Any]) -> list[str]:
    kind = activity_kind(activity)
    body = (activity.get(kind) or {}) if kind else {}
    ids = [body.get(k) for k in ("NextActivity", "TrueActivity", "FalseActivity", "DefaultActivity")]
    ids += [b.get("NextActivity") for b in body.get("Branches") or []]
    return [i for i in ids if i]
