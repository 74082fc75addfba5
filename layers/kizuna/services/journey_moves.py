"""Moving a journey's participants: walk each through its steps until it must wait or leaves, send what it reached,
and write its new state with what the move counts. A wake-up (kizuna.services.journey_runs), a segment entry
(kizuna.services.journey_segment_entry) and an entry from PutEvents (kizuna.services.journey_entry) all move
participants here.

- Moving: `kizuna.domain.journey_steps.advance` walks each due participant until it must wait or leaves. Its sends
  go out before its new state is written, with message ids derived from (journey, run, endpoint, activity): a
  wake-up that crashes between the two replays the same sends, which the sender's claim turns into no-ops.
- Counting: what each move adds to the run's execution metrics (kizuna.domain.journey_metrics: entries, exits,
  activities reached, split paths, send outcomes) is written in the same conditional write as the participant's new
  state (ParticipantStore.record_moves), so a replayed wake-up counts once and metrics never scan participants.
- Sends use the messaging path (consent, quiet time, throttling) with `priority="bulk"` and the attribution the
  analytics aggregates count journey KPIs by (`journey_id`, `journey_activity_id`); a journey's `QuietTime`
  replaces the app's, and holds every message of the journey whatever its MessageType (as Pinpoint's did). Before
  that, kizuna.services.journey_sends applies the journey's sending schedule (QuietTime, OpenHours, ClosedDays in
  the participant's zone), its limits (DailyCap, TotalCap, the app's caps shared with campaigns) and its
  MessagesPerSecond; a CUSTOM activity is posted to the customer's webhook through the relay queue.
- A message the sending schedule holds holds its participant: it waits at the message activity until the message's
  release instant, and its next activity starts then (a held message the send path refuses holds no one).
- Conditions (kizuna.services.journey_conditions, batched per batch of moving participants) read the endpoint
  (segments, dimensions), the delivery records of the participant's messages (delivered, failed), and what the
  participant did (kizuna.services.journey_engagement): replies and clicks to
  its messages, custom events since it reached the split. Each SMS/WhatsApp message queued becomes its endpoint's
  latest journey message, the one an inbound reply is linked to.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.domain.journey_entry import PRODUCED
from kizuna.domain.journey_metrics import move_counts, send_outcome
from kizuna.domain.journey_schedule import JourneyWindow, window_of
from kizuna.domain.journey_steps import Participant, Send, Step, advance_traced
from kizuna.errors import KizunaError
from kizuna.ports_journeys import EntryStep, Move
from kizuna.services import journey_engagement as engagement
from kizuna.services import journey_sends
from kizuna.services.journey_conditions import JourneyConditions
from kizuna.services.journey_deps import JourneyDeps
from kizuna.services.send_messages import MAX_RECIPIENTS, context_for, send_to_endpoints

logger = Logger(child=True)

TEMPLATE_MEMBER = {
    "SMS": "SMSTemplate",
    "EMAIL": "EmailTemplate",
    "VOICE": "VoiceTemplate",
    "WHATSAPP": "WhatsAppTemplate",
}


def entry_time(window: JourneyWindow, endpoint: dict[str, Any], now: datetime) -> datetime | None:
    """When an endpoint entering now takes its first step: now, or with LocalTime the journey's start in its zone
    (it waits until then); None when the journey has closed in its zone (it does not enter)."""
    if not window.local:
        return now
    zone = journey_sends.recipient_zone(endpoint, window.zone)
    if window.ended_for(zone, now):
        return None
    return max(window.start_for(zone) or now, now)


def enter(
    deps: JourneyDeps,
    journey: dict[str, Any],
    run_id: str,
    shard: int,
    entrants: list[Participant],
    endpoints: dict[str, dict[str, Any]],
    now: datetime,
) -> list[Participant]:
    """Entrants from outside the loop (kizuna.services.journey_entry) move through their first steps at once, as a
    wake-up moves them (each counted as an ENDPOINT_PRODUCED with its entry); returns their new states."""
    return move(deps, journey, run_id, shard, entrants, endpoints, now, entering=True, each={PRODUCED: 1})


def move(
    deps: JourneyDeps,
    journey: dict[str, Any],
    run_id: str,
    shard: int,
    participants: list[Participant],
    endpoints: dict[str, dict[str, Any]],
    now: datetime,
    entering: bool = False,
    entry: EntryStep | None = None,
    each: Mapping[str, int] | None = None,
) -> list[Participant]:
    """Move the participants (or enter them, `entering`) and write their new states — with `entry`, in the same
    transaction as the segment entry's progress and counts; `each` adds to every move's counts; returns those
    states."""
    conditions = JourneyConditions(journey, deps.segments, deps.messages, deps.engagement, now)
    conditions.prefetch(participants)
    release = journey_sends.release_at(deps.apps.get_settings(journey["ApplicationId"]) or {}, journey, now)

    def release_at(kind: str, endpoint: dict[str, Any]) -> datetime | None:  # CUSTOM deliveries are not held
        return release(kind, endpoint) if kind in TEMPLATE_MEMBER else None

    moved: dict[str, tuple[Participant, Participant, list[Step]]] = {}
    window = window_of(journey)
    outcomes: dict[str, dict[str, str]] = defaultdict(dict)  # endpoint id -> message activity -> send outcome
    walking = participants
    while walking:
        sends: dict[str, list[tuple[dict[str, Any], Send]]] = defaultdict(list)
        for participant in walking:
            before, _, earlier = moved.get(participant.endpoint_id, (participant, participant, []))
            endpoint = endpoints.get(participant.endpoint_id)
            if endpoint is None:  # deleted (or erased) meanwhile: it leaves the journey
                gone = replace(participant, activity=None, status="FINISHED", wake_at=None)
                moved[participant.endpoint_id] = (before, gone, earlier)
                continue
            if window.local and window.ended_for(journey_sends.recipient_zone(endpoint, window.zone), now):
                # LocalTime: the journey has closed in its zone; it stays where it is until the run ends for everyone
                stays = replace(participant, status="WAITING", wake_at=window.last_end)
                moved[participant.endpoint_id] = (before, stays, earlier)
                continue
            after, made, steps = advance_traced(journey, run_id, participant, endpoint, now, conditions, release_at)
            moved[participant.endpoint_id] = (before, after, earlier + steps)
            for send in made:
                sends[send.activity_id].append((endpoint, send))
        for activity_id, items in sends.items():
            for endpoint_id, outcome in _send(deps, journey, run_id, activity_id, items).items():
                outcomes[endpoint_id][activity_id] = outcome
        # A participant held with a message the send path then refused (opted out, capped...) waits for nothing:
        # it moves on now, and its next messages go out in the next round.
        walking = [
            replace(after, wake_at=now)
            for _, after, _ in moved.values()
            if after.status == "WAITING"
            and after.activity in outcomes.get(after.endpoint_id, {})
            and outcomes[after.endpoint_id][after.activity] != "SUCCESS"
            and (after.wake_at or now) > now
        ]
    moves = [
        Move(
            after,
            move_counts(None if entering else before, after, steps, outcomes.get(after.endpoint_id, {}))
            + Counter(each or {}),
        )
        for before, after, steps in moved.values()
    ]
    # After the sends: a crash in between replays them with the same ids, which the sender refuses to repeat; the
    # moves' counts are written with the states, so the replay counts them once.
    app_id = journey["ApplicationId"]
    if entry is None:
        deps.participants.record_moves(app_id, journey["Id"], run_id, shard, moves, now)
    else:
        deps.participants.record_entry(app_id, journey["Id"], run_id, shard, moves, entry, now)
    return [move.participant for move in moves]


def message_request(kind: str, config: dict[str, Any]) -> dict[str, Any] | None:
    """The MessageRequest a message activity sends (None: not one of the send path's, e.g. CUSTOM)."""
    if kind not in TEMPLATE_MEMBER:
        return None
    template = {"Name": config.get("TemplateName")}
    if config.get("TemplateVersion"):
        template["Version"] = config["TemplateVersion"]
    request: dict[str, Any] = {"TemplateConfiguration": {TEMPLATE_MEMBER[kind]: template}}
    message_config = {k: v for k, v in (config.get("MessageConfig") or {}).items() if v is not None}
    member = {"SMS": "SMSMessage", "EMAIL": "EmailMessage", "VOICE": "VoiceMessage"}.get(kind)
    if member and message_config:
        request["MessageConfiguration"] = {member: message_config}
    return request


def _send(
    deps: JourneyDeps, journey: dict[str, Any], run_id: str, activity_id: str, items: list[tuple[dict, Send]]
) -> dict[str, str]:
    """Send one activity's messages; returns each endpoint's outcome (SUCCESS, OPT_OUT, PERMANENT_FAILURE, CAPPED,
    QUIET_TIME, ...)."""
    kind, config = items[0][1].kind, items[0][1].config
    not_sent = {endpoint["Id"]: "PERMANENT_FAILURE" for endpoint, _ in items}
    settings = deps.apps.get_settings(journey["ApplicationId"]) or {}
    if kind == "CUSTOM":
        now = deps.clock.now()
        return journey_sends.deliver_custom(deps.relays, deps.caps, settings, journey, run_id, activity_id, items, now)
    request = message_request(kind, config)
    if request is None:
        logger.warning("journey activity kind not sent", extra={"kind": kind, "activity": activity_id})
        return not_sent
    attribution = {"journey_id": journey["Id"], "journey_activity_id": activity_id, "journey_run_id": run_id}
    try:
        ctx = context_for(deps.send, journey["ApplicationId"], request, "bulk", attribution, None)
    except KizunaError as exc:  # e.g. the template was deleted after publishing: the participants move on
        logger.warning("journey send refused", extra={"activity": activity_id, "reason": exc.message})
        return not_sent
    # Quiet time (the journey's, else the app's) holds every journey message whatever its MessageType, as Pinpoint's;
    # the gate decides it with the open hours and closed days, so the send path does not apply quiet time again.
    gated = journey_sends.gate(deps.caps, settings, deps.pacing, journey, run_id, kind, items, ctx.now)
    ctx = replace(ctx, quiet_time={})
    outcomes: dict[str, str] = dict(gated.refused)
    items = gated.items
    for begin in range(0, len(items), MAX_RECIPIENTS):
        chunk = items[begin : begin + MAX_RECIPIENTS]
        ids = {endpoint["Id"]: send.message_id for endpoint, send in chunk}
        held = {e: at for e, at in gated.not_before.items() if e in ids}
        results = send_to_endpoints(deps.send, replace(ctx, message_ids=ids, not_before=held), [e for e, _ in chunk])
        if any(r.get("StatusCode") == 503 for r in results.values()):
            raise RuntimeError("the send queue refused journey messages; the wake-up is retried")
        if deps.engagement is not None:  # what a reply from these endpoints will answer
            queued = [(e, ids[e]) for e, r in results.items() if r.get("StatusCode") == 202 and e in ids]
            engagement.remember_asked(
                deps.engagement, journey["ApplicationId"], journey["Id"], activity_id, kind, queued, deps.clock.now()
            )
        outcomes |= {endpoint_id: send_outcome(result) for endpoint_id, result in results.items()}
    return outcomes
