"""What participants do in answer to a journey — replies, clicks, custom events — kept where the engine's conditions
(kizuna.services.journey_conditions) read it: replies and clicks in batched reads per batch of moving participants,
custom events with one query per participant and event type.

- Replies (a two-way survey over SMS or WhatsApp): every journey message the engine queues on SMS or WhatsApp
  becomes its endpoint's latest journey message (one item per endpoint, overwritten). An inbound message that is
  not a keyword (STOP, START, HELP, ...) is linked, for each endpoint with the sender's address on the channel it
  came in on, to that endpoint's latest journey message there, and kept as a reply to it (body, time) under its
  MessageSid: the inbound path claims the sid once and the reply is kept once per sid, so a Twilio webhook retry
  changes nothing. A message keeps at most MAX_REPLIES replies. `reply_body` conditions hold when any kept reply
  matches one of the answers after NFKC normalisation, trimming and case folding (a full-width "１" is "1");
  `_SMS.REPLY` / `_WHATSAPP.REPLY` (or `.RECEIVED`) hold when the message has a reply.
- Clicks: a person's click on a tracked link of a journey message (the link names the message, its endpoint and
  the journey) keeps the message's first click; `_SMS.CLICK` / `_WHATSAPP.CLICK` then hold.
- Custom events (a split's EventCondition without MessageActivity, e.g. `EventType: ["purchase"]` with attribute
  and metric filters): PutEvents keeps an endpoint's events only of the event types that the conditions of live
  (ACTIVE or PAUSED) journeys of the app name, read from a small index in the app's partition (one query per
  PutEvents request, as the EVENT campaigns' index), each for as long as the longest evaluation wait of a split
  that reads it. A condition reads the endpoint's events of its types since the participant reached the split
  (at most MAX_EVENTS_READ, newest first) and matches them with the segment grammar's event filter. Keeping raw
  events of the named types, rather than evaluating every condition at PutEvents time, keeps the write path
  independent of how many participants wait, and the storage bounded by the named types and the waits: events
  of types no journey names are never stored, and all of them expire.

Replies and events are personal data: they are kept by endpoint, expire (the delivery records' retention for
replies and clicks), and are erased with the endpoint's user (DeleteUserEndpoints) and with the app.
Not done: a reply does not wake a waiting participant early; the split evaluates when its wait ends.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.catalog import MESSAGE_RETENTION_DAYS
from kizuna.clock import Clock
from kizuna.domain.journey_activities import activity_kind, wait_of
from kizuna.domain.journey_entry import event_start_of
from kizuna.ports import EndpointStore, JourneyStore
from kizuna.ports_journeys import Asked, EndpointEvent, EngagementStore, Reply

logger = Logger(child=True)

TWO_WAY = ("SMS", "WHATSAPP")  # the channels a reply comes back on
MAX_REPLIES = 10
MAX_REPLY_CHARS = 1600
MAX_EVENTS_READ = 50
RETENTION = timedelta(days=MESSAGE_RETENTION_DAYS)
MAX_KEEP_DAYS = 541  # a split waits at most 540 days
LIVE_STATES = ("ACTIVE", "PAUSED")  # a paused journey's participants still wait for their events


def normalized(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


# -- replies --------------------------------------------------------------------------------------------------------


def remember_asked(
    store: EngagementStore,
    app_id: str,
    journey_id: str,
    activity_id: str,
    channel: str,
    sent: Iterable[tuple[str, str]],
    now: datetime,
) -> None:
    """After the engine queued journey messages ((endpoint id, message id) pairs): each is its endpoint's latest."""
    if channel not in TWO_WAY:
        return
    asked = [Asked(endpoint_id, channel, message_id, journey_id, activity_id, now) for endpoint_id, message_id in sent]
    if asked:
        store.put_asked(app_id, asked, now + RETENTION)


def record_reply(
    store: EngagementStore,
    endpoints: EndpointStore,
    app_id: str,
    channel: str,
    sender: str,
    sid: str,
    body: str,
    now: datetime,
) -> list[Asked]:
    """Keep an inbound message as the reply to the latest journey message of each endpoint at `sender` on
    `channel`; returns the messages it answered."""
    endpoint_ids = [e["Id"] for e in endpoints.endpoints_by_address(app_id, sender) if e.get("ChannelType") == channel]
    if not endpoint_ids:
        return []
    answered = [a for a in store.get_asked(app_id, endpoint_ids).values() if a.channel == channel and a.at <= now]
    reply = Reply(sid, body[:MAX_REPLY_CHARS], now)
    for asked in answered:
        if not store.add_reply(app_id, asked.endpoint_id, asked.message_id, reply, now + RETENTION, MAX_REPLIES):
            logger.info("reply not kept (already kept, or the message has enough)", message_id=asked.message_id)
    return answered


def matches_answers(replies: Iterable[Reply], answers: Sequence[str]) -> bool:
    wanted = {normalized(a) for a in answers}
    return any(normalized(r.body) in wanted for r in replies)


# -- clicks ---------------------------------------------------------------------------------------------------------


def record_click(store: EngagementStore, link: dict[str, Any], now: datetime) -> bool:
    """A person's click on a tracked link (kizuna.services.links): kept when the link is a journey message's."""
    if not (link.get("attributes") or {}).get("journey_id") or not link.get("endpoint_id"):
        return False
    store.add_click(link["app_id"], link["endpoint_id"], link["message_id"], now, now + RETENTION)
    return True


# -- custom events --------------------------------------------------------------------------------------------------


def custom_event_conditions(journey: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """(split activity id, EventCondition) for every condition on custom events (no MessageActivity)."""
    for activity_id, activity in (journey.get("Activities") or {}).items():
        kind = activity_kind(activity)
        body = (activity.get(kind) or {}) if kind else {}
        if kind == "ConditionalSplit":
            conditions = (body.get("Condition") or {}).get("Conditions") or []
        elif kind == "MultiCondition":
            conditions = [b.get("Condition") or {} for b in body.get("Branches") or []]
        else:
            continue
        for condition in conditions:
            event = condition.get("EventCondition")
            if event and not event.get("MessageActivity"):
                yield activity_id, event


def event_types_of(event_condition: dict[str, Any]) -> list[str]:
    """The event types a custom-event condition names (an EXCLUSIVE list names none: it cannot be kept bounded)."""
    event_type = (event_condition.get("Dimensions") or {}).get("EventType") or {}
    if (event_type.get("DimensionType") or "INCLUSIVE") != "INCLUSIVE":
        return []
    return [v for v in event_type.get("Values") or [] if isinstance(v, str) and v]


def event_index_entry(journey: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The journey's entry in the custom-event index (None: no condition of it reads custom events and it is not
    event-started). An event-started journey's entry carries its EventStartCondition (`Start`), which PutEvents
    matches to enter endpoints (kizuna.services.journey_entry)."""
    types: set[str] = set()
    longest = timedelta()
    activities = journey.get("Activities") or {}
    for activity_id, condition in custom_event_conditions(journey):
        named = event_types_of(condition)
        if named:
            types.update(named)
            longest = max(longest, wait_of(activities[activity_id], now) or timedelta())
    start = event_start_of(journey)
    if not types and start is None:
        return None
    keep_days = min(MAX_KEEP_DAYS, math.ceil(longest / timedelta(days=1)) + 1)
    entry: dict[str, Any] = {"Id": journey["Id"]}
    if types:
        entry |= {"EventTypes": sorted(types), "KeepDays": keep_days}
    if start is not None:
        entry["Start"] = start
    return entry


def index_journey(journeys: JourneyStore, journey: dict[str, Any], now: datetime) -> None:
    """After a journey was written or changed state: index its custom-event types while it is live."""
    entry = event_index_entry(journey, now) if journey.get("State") in LIVE_STATES else None
    journeys.index_event_journey(journey["ApplicationId"], journey["Id"], entry)


def record_events(
    journeys: JourneyStore, store: EngagementStore, clock: Clock, app_id: str, events: Sequence[dict[str, Any]]
) -> int:
    """PutEvents' trigger: keep the accepted events (event-stream shape) of types live journeys' conditions name;
    returns how many were kept."""
    entries = journeys.event_journeys(app_id)
    if not entries or not events:
        return 0
    keep: dict[str, int] = {}
    for entry in entries:
        for event_type in entry.get("EventTypes") or []:
            keep[event_type] = max(keep.get(event_type, 0), int(entry.get("KeepDays") or 1))
    now = clock.now()
    by_days: dict[int, list[EndpointEvent]] = {}
    for event in events:
        endpoint_id = (event.get("client") or {}).get("client_id")
        if not endpoint_id or event.get("event_type") not in keep:
            continue
        kept = EndpointEvent(
            endpoint_id=endpoint_id,
            event_id=event["event_id"],
            event_type=event["event_type"],
            at=datetime.fromtimestamp(event["event_timestamp"] / 1000, tz=UTC),
            attributes={k: v for k, v in (event.get("attributes") or {}).items() if isinstance(v, str)},
            metrics={k: float(v) for k, v in (event.get("metrics") or {}).items()},
        )
        by_days.setdefault(keep[kept.event_type], []).append(kept)
    for days, kept_events in by_days.items():
        store.put_events(app_id, kept_events, now + timedelta(days=days))
    return sum(len(v) for v in by_days.values())


def forget_endpoints(store: EngagementStore | None, app_id: str, endpoint_ids: Sequence[str]) -> None:
    if store is not None and endpoint_ids:
        store.forget(app_id, endpoint_ids)
