"""How one participant moves through a journey's activities: the engine's pure core.

`advance` takes a participant where it stands and walks it forward until it must wait (a Wait, a split's evaluation
wait), leaves (end of a path, held out) or has taken `MAX_STEPS` steps (a safety net: the review refuses loops that
never wait). It returns the participant's new state and the sends to make; nothing here does I/O.

Every decision is a function of (journey, endpoint, activity) and what the conditions port reports, so a retried
wake-up replays the same path: random splits and holdouts hash the endpoint, and a message's id is derived from
(journey, run, endpoint, activity), so the send path's claim on the message id makes a retried send a no-op.

A message held by the sending schedule (quiet time, open hours, closed days: `release_at` says until when) holds its
participant, as Pinpoint's journey did: it waits at the message activity until the message's release instant, and
its next activity starts then, so a Wait or a split's evaluation wait after it is measured from the send. A
participant WAITING at a message activity has sent its message already: when it wakes it only moves on.

`advance_traced` also returns the steps taken, as (activity id, metric) pairs — ENTERED on reaching an activity,
COMPLETED after a wait, HOLDOUT, Branch_<n> for the path a split chose — which the engine counts into the run's
execution metrics (kizuna.domain.journey_metrics) in the same write as the participant's new state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from kizuna.domain.journey_activities import MESSAGE_KINDS, activity_kind, wait_of

MAX_STEPS = 100
KEPT_ENTRY_KEYS = 10  # a participant remembers the keys of its latest entries (replays are recognised by them)
ParticipantStatus = Literal["ACTIVE", "WAITING", "FINISHED", "HELD_OUT"]


class Conditions(Protocol):
    """What conditions are evaluated against (adapters read the endpoint, the message records, the events)."""

    def in_segment(self, segment_id: str, endpoint: dict[str, Any]) -> bool: ...
    def matches_dimensions(self, dimensions: dict[str, Any], endpoint: dict[str, Any]) -> bool: ...
    def message_event(self, endpoint_id: str, message_id: str, event_types: list[str]) -> bool:
        """Whether the endpoint's message had one of these events (e.g. _SMS.SUCCESS, _SMS.CLICK, _WHATSAPP.REPLY)."""
        ...

    def replied_with(self, endpoint_id: str, message_id: str, answers: list[str]) -> bool:
        """Kizuna extension: whether a reply to the message matches one of `answers` (after NFKC, case-folded)."""
        ...

    def endpoint_event(self, endpoint_id: str, dimensions: dict[str, Any], since: datetime) -> bool:
        """Whether the endpoint reported a matching custom event (PutEvents) since `since`."""
        ...


@dataclass(frozen=True)
class Participant:
    endpoint_id: str
    activity: str | None  # where it stands (None: it has left)
    arrived_at: datetime  # when it reached `activity`
    status: ParticipantStatus = "ACTIVE"
    wake_at: datetime | None = None  # while WAITING
    messages: dict[str, str] = field(default_factory=dict)  # message activity id -> message id sent there
    path: tuple[str, ...] = ()  # activities passed, in order
    rev: int = 0  # writes of this participant so far: each write is conditional on the one it replaces (0: none)
    # Entry (kizuna.domain.journey_entry): how often it entered, when it last did, and the keys of its latest entries
    # (an event id, a segment refresh), so that a replayed PutEvents or wake-up does not enter it again.
    entries: int = 1
    entered_at: datetime | None = None
    entered_by: tuple[str, ...] = ()
    # LocalTime (kizuna.domain.journey_schedule): entered, and WAITING until the journey opens in its zone; it is at
    # StartActivity and has not reached it yet.
    starts_at: datetime | None = None


@dataclass(frozen=True)
class Send:
    activity_id: str
    kind: str  # SMS, EMAIL, CUSTOM, VOICE, WHATSAPP
    config: dict[str, Any]  # the activity's body: TemplateName, TemplateVersion, MessageConfig, ...
    message_id: str


def entrant(
    journey: dict[str, Any],
    endpoint_id: str,
    key: str,
    now: datetime,
    left: Participant | None = None,
    starts_at: datetime | None = None,
) -> Participant:
    """A participant entering at StartActivity by the entry `key`: a first entry, or a re-entry that replaces the
    record of the one that `left` (its revision kept, so the write is conditional on it; its entries counted).
    `starts_at` (LocalTime): the journey opens for it later, so it waits until then before its first step."""
    fresh = Participant(endpoint_id, journey.get("StartActivity"), now, entered_at=now, entered_by=(key,))
    if starts_at is not None and starts_at > now:
        fresh = replace(fresh, arrived_at=starts_at, status="WAITING", wake_at=starts_at, starts_at=starts_at)
    if left is None:
        return fresh
    keys = (*left.entered_by, key)[-KEPT_ENTRY_KEYS:]
    return replace(fresh, rev=left.rev, entries=left.entries + 1, entered_by=keys)


def message_id_for(journey_id: str, run_id: str, endpoint_id: str, activity_id: str, entry: int = 1) -> str:
    """The message's id; a participant's second and later entries (re-entry) send under ids of their own."""
    again = f"|{entry}" if entry > 1 else ""
    digest = hashlib.sha256(f"{journey_id}|{run_id}|{endpoint_id}|{activity_id}{again}".encode()).hexdigest()
    return f"j{digest[:31]}"


def bucket(journey_id: str, endpoint_id: str, activity_id: str) -> int:
    """0..99, the same for an endpoint at an activity on every evaluation (random splits and holdouts)."""
    digest = hashlib.sha256(f"{journey_id}|{endpoint_id}|{activity_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


Step = tuple[str, str]  # (activity id, the execution metric it adds one to: ENTERED, COMPLETED, Branch_2, ...)
# When a message of this kind to this endpoint, reaching the send path now, would go if the sending schedule holds it
# (None: at once, or not held).
ReleaseAt = Callable[[str, dict[str, Any]], datetime | None]


def advance(
    journey: dict[str, Any],
    run_id: str,
    participant: Participant,
    endpoint: dict[str, Any],
    now: datetime,
    conditions: Conditions,
) -> tuple[Participant, list[Send]]:
    after, sends, _ = advance_traced(journey, run_id, participant, endpoint, now, conditions)
    return after, sends


def advance_traced(
    journey: dict[str, Any],
    run_id: str,
    participant: Participant,
    endpoint: dict[str, Any],
    now: datetime,
    conditions: Conditions,
    release_at: ReleaseAt | None = None,
) -> tuple[Participant, list[Send], list[Step]]:
    """`advance`, also returning the steps taken (what they add to the execution metrics); `release_at` holds the
    participant with its held message."""
    activities: dict[str, dict[str, Any]] = journey.get("Activities") or {}
    sends: list[Send] = []
    steps: list[Step] = []
    if participant.starts_at is not None:  # LocalTime: waiting for the journey to open in its zone
        if now < participant.starts_at:
            return participant, sends, steps
        participant = replace(participant, status="ACTIVE", wake_at=None, starts_at=None)
    for _ in range(MAX_STEPS):
        activity_id = participant.activity
        if activity_id is None or activity_id not in activities:
            return replace(participant, activity=None, status="FINISHED", wake_at=None), sends, steps
        activity = activities[activity_id]
        kind = activity_kind(activity) or ""
        body = activity.get(kind) or {}
        waited = participant.status == "WAITING" and participant.wake_at is not None
        if waited and now < participant.wake_at:  # woken early (another participant's wake-up): keep waiting
            return participant, sends, steps
        if not waited:  # a waiting participant was counted when it arrived
            steps.append((activity_id, "ENTERED"))
        if kind in MESSAGE_KINDS and not waited:
            message_id = message_id_for(
                journey["Id"], run_id, participant.endpoint_id, activity_id, participant.entries
            )
            sends.append(Send(activity_id, kind, body, message_id))
            participant = replace(participant, messages={**participant.messages, activity_id: message_id})
            held = release_at(kind, endpoint) if release_at is not None else None
            if held is not None and held > now:  # it waits with its message, and moves on when that goes
                return replace(participant, status="WAITING", wake_at=held, arrived_at=now), sends, steps
            next_id = body.get("NextActivity")
        elif kind in MESSAGE_KINDS:  # its held message went at wake_at: its next activity starts then
            next_id = body.get("NextActivity")
        elif kind == "Holdout":
            if bucket(journey["Id"], participant.endpoint_id, activity_id) < int(body.get("Percentage") or 0):
                steps.append((activity_id, "HOLDOUT"))
                return _left(participant, "HELD_OUT"), sends, steps
            steps.append((activity_id, "COMPLETED"))
            next_id = body.get("NextActivity")
        elif kind == "RandomSplit":
            branch, next_id = _random_branch(journey["Id"], participant.endpoint_id, activity_id, body)
            steps += _took(activity_id, branch)
        elif kind in ("Wait", "ConditionalSplit", "MultiCondition"):
            wait = wait_of(activity, participant.arrived_at)
            if wait and not waited:
                return replace(participant, status="WAITING", wake_at=participant.arrived_at + wait), sends, steps
            if kind == "Wait":
                steps.append((activity_id, "COMPLETED"))
                next_id = body.get("NextActivity")
            else:
                branch, next_id = _split(kind, body, participant, endpoint, conditions)
                steps += _took(activity_id, branch)
        else:  # the review refuses unknown kinds before activation; a participant meeting one leaves
            return _left(participant, "FINISHED"), sends, steps
        participant = replace(
            participant,
            activity=next_id,
            arrived_at=participant.wake_at if waited and participant.wake_at else now,
            status="ACTIVE",
            wake_at=None,
            path=(*participant.path, activity_id),
        )
    return participant, sends, steps  # MAX_STEPS: continue at the next wake-up


def _took(activity_id: str, branch: int | None) -> list[Step]:
    """A split's steps: TOTAL (it chose a path) and Branch_<n>, n counting its paths from 1."""
    return [(activity_id, "TOTAL"), (activity_id, f"Branch_{branch}")] if branch is not None else []


def _left(participant: Participant, status: ParticipantStatus) -> Participant:
    path = (*participant.path, participant.activity) if participant.activity else participant.path
    return replace(participant, activity=None, status=status, wake_at=None, path=path)


def _random_branch(
    journey_id: str, endpoint_id: str, activity_id: str, body: dict[str, Any]
) -> tuple[int | None, str | None]:
    """(path number from 1, its next activity); (None, None) when the percentages leave the point uncovered."""
    point, total = bucket(journey_id, endpoint_id, activity_id), 0
    for number, branch in enumerate(body.get("Branches") or [], start=1):
        total += int(branch.get("Percentage") or 0)
        if point < total:
            return number, branch.get("NextActivity")
    return None, None


def _split(
    kind: str, body: dict[str, Any], participant: Participant, endpoint: dict[str, Any], conditions: Conditions
) -> tuple[int, str | None]:
    """(path number from 1, its next activity): a yes/no split's yes path is 1 and no is 2; a multivariate split's
    default (else) path comes after its branches."""
    if kind == "ConditionalSplit":
        condition = body.get("Condition") or {}
        results = [_simple(c, participant, endpoint, conditions) for c in condition.get("Conditions") or []]
        met = all(results) if (condition.get("Operator") or "ALL") == "ALL" else any(results)
        return (1, body.get("TrueActivity")) if met and results else (2, body.get("FalseActivity"))
    branches = body.get("Branches") or []
    for number, branch in enumerate(branches, start=1):
        if _simple(branch.get("Condition") or {}, participant, endpoint, conditions):
            return number, branch.get("NextActivity")
    return len(branches) + 1, body.get("DefaultActivity")


def _simple(
    condition: dict[str, Any], participant: Participant, endpoint: dict[str, Any], conditions: Conditions
) -> bool:
    """One SimpleCondition: every part it holds must hold."""
    checks: list[bool] = []
    if segment := (condition.get("SegmentCondition") or {}).get("SegmentId"):
        checks.append(conditions.in_segment(segment, endpoint))
    if dimensions := condition.get("SegmentDimensions"):
        checks.append(conditions.matches_dimensions(dimensions, endpoint))
    if event := condition.get("EventCondition"):
        checks.append(_event(event, participant, conditions))
    return bool(checks) and all(checks)


def _event(event: dict[str, Any], participant: Participant, conditions: Conditions) -> bool:
    dimensions = event.get("Dimensions") or {}
    source = event.get("MessageActivity")
    if not source:  # a custom event the endpoint reported since it entered the split's wait
        return conditions.endpoint_event(participant.endpoint_id, dimensions, participant.arrived_at)
    message_id = participant.messages.get(source)
    if message_id is None:  # the participant never passed that message activity
        return False
    event_type = dimensions.get("EventType") or {}
    values = list(event_type.get("Values") or [])
    endpoint_id = participant.endpoint_id
    matched = conditions.message_event(endpoint_id, message_id, values) if values else False
    if answers := (dimensions.get("Attributes") or {}).get("reply_body", {}).get("Values"):
        matched = conditions.replied_with(endpoint_id, message_id, list(answers))
    return not matched if event_type.get("DimensionType") == "EXCLUSIVE" else matched


def next_wake(participants: list[Participant]) -> datetime | None:
    """When the journey must next wake up for these participants (None: nobody waits)."""
    waits = [p.wake_at for p in participants if p.status == "WAITING" and p.wake_at is not None]
    return min(waits, default=None)
