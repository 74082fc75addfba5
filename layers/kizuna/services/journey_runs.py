"""The journey engine: enrol a run's participants, wake the ones due, send what they reach, and say when to wake
next. Step Functions (or the local orchestrator) calls `wake_shard` for each of the 16 endpoint shards, then
`plan`, then sleeps until the `next_wake` it returns; so a journey costs one loop per wake-up, whatever its size.

- Entry: a segment-start journey enrols its segment's sendable endpoints on the run's first wake-up of each shard
  (a marker per shard and run makes it once); they start at `StartActivity` and move at once. `RefreshFrequency` and
  `RefreshOnSegmentUpdate` enrol the segment again (new members, and re-entries the limits allow:
  kizuna.domain.journey_entry), in batches of ENTRY_BATCH whose entrants, entry counts (ENDPOINT_PRODUCED, the
  members filtered out or refused) and progress are one conditional write; an entry that outlasts SHARD_BUDGET
  carries on at the next wake-up. Event-started journeys are entered from PutEvents (kizuna.services.journey_entry);
  their plans keep the run's wake record, so that an entry made while the loop sleeps wakes it in time
  (kizuna.services.journey_wakes), and they run until their end time however long no one waits.
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
- `Schedule` (kizuna.domain.journey_schedule): the first wake-up is at StartTime. With `LocalTime`, StartTime and
  EndTime are wall clocks in each participant's zone: the run wakes at the earliest zone's start, enrols everyone,
  and each participant waits until the journey opens in its zone (participants of one zone wake together, so the
  wake-ups grow with the zones, not the participants); once it has closed in a participant's zone, that participant
  neither enters nor moves, and the run ends at the latest zone's end.
- A run ends when no participant waits (the journey becomes COMPLETED), at `Schedule.EndTime`, or when the journey
  is no longer ACTIVE (a resumed journey starts its loop again on the same run, and the execution that was waiting
  when it was paused ends at its next plan instead of looping beside the new one).
- An execution never waits past `JOURNEY_EXECUTION_MAX_DAYS` after it started: a longer wait (up to 539 days) is
  cut there, and that wake-up continues as a new execution, inside Standard's one-year limit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.catalog import ENDPOINT_SHARDS, JOURNEY_EXECUTION_MAX_DAYS, JOURNEY_LOOPS_PER_EXECUTION
from kizuna.clock import Clock, iso
from kizuna.domain.journey_entry import (
    PRODUCED,
    REFUSALS,
    decide,
    enters_outside_the_loop,
    filtered_out,
    rules_of,
    segment_start_of,
)
from kizuna.domain.journey_metrics import move_counts, send_outcome
from kizuna.domain.journey_schedule import JourneyWindow, window_of
from kizuna.domain.journey_steps import Participant, Send, Step, advance_traced, entrant
from kizuna.errors import KizunaError
from kizuna.ports import AppStore, EndpointStore, JourneyStore, MessageStore, RelayQueue, SegmentStore
from kizuna.ports_campaigns import EndpointCaps
from kizuna.ports_journeys import (
    ENTRY_BATCH,
    EngagementStore,
    Enrolment,
    EntryStep,
    JourneyOrchestrator,
    Move,
    ParticipantStore,
)
from kizuna.services import journey_engagement as engagement
from kizuna.services import journey_sends, journey_wakes
from kizuna.services.journey_conditions import JourneyConditions
from kizuna.services.journeys import run_created_at
from kizuna.services.segments import resolve_shard
from kizuna.services.send_messages import MAX_RECIPIENTS, SendDeps, context_for, send_to_endpoints

logger = Logger(child=True)

DUE_BATCH = 500
# A wake-up of one shard stops taking due participants after this long (the rest are still due at the next loop).
SHARD_BUDGET = timedelta(seconds=240)
TEMPLATE_MEMBER = {
    "SMS": "SMSTemplate",
    "EMAIL": "EmailTemplate",
    "VOICE": "VoiceTemplate",
    "WHATSAPP": "WhatsAppTemplate",
}


@dataclass
class JourneyDeps:
    apps: AppStore
    endpoints: EndpointStore
    segments: SegmentStore
    journeys: JourneyStore
    participants: ParticipantStore
    send: SendDeps
    clock: Clock
    orchestrator: JourneyOrchestrator | None = None
    messages: MessageStore | None = None
    engagement: EngagementStore | None = None  # replies, clicks, custom events (journey_engagement)
    relays: RelayQueue | None = None  # CUSTOM activities' webhook deliveries (journey_sends)
    caps: EndpointCaps | None = None  # per-endpoint limits, shared with campaigns (journey_sends)
    pacing: journey_sends.Pacing = field(default_factory=dict, repr=False)  # MessagesPerSecond slots per shard


def start(deps: JourneyDeps, journey: dict[str, Any]) -> None:
    """After a journey became ACTIVE (published or resumed): start its run's wake-up loop."""
    if deps.orchestrator is not None and journey.get("RunId"):
        deps.orchestrator.start(journey["ApplicationId"], journey["Id"], journey["RunId"])


def wake_shard(deps: JourneyDeps, app_id: str, journey_id: str, run_id: str, shard: int) -> str | None:
    """Enrol (once) and move the shard's due participants; returns the shard's next wake-up (ISO) or None."""
    journey = _active(deps, app_id, journey_id, run_id)
    if journey is None:
        return None
    now = deps.clock.now()
    window = window_of(journey)  # with LocalTime, open from the earliest zone's start to the latest zone's end
    if window.last_end and now >= window.last_end:
        return None
    if window.first_start and now < window.first_start:
        return iso(window.first_start)
    started = deps.clock.now()
    refresh_at = _enter_segment(deps, journey, run_id, shard, now, started + SHARD_BUDGET)
    while deps.clock.now() - started < SHARD_BUDGET:
        due = deps.participants.due(app_id, journey_id, shard, now, DUE_BATCH)
        if not due:
            break
        found = deps.endpoints.get_endpoints(app_id, [p.endpoint_id for p in due])
        _move(deps, journey, run_id, shard, due, found, now)
    upcoming = min((t for t in (deps.participants.next_wake(app_id, journey_id, shard), refresh_at) if t), default=None)
    return iso(upcoming) if upcoming else None


def plan(
    deps: JourneyDeps, app_id: str, journey_id: str, run_id: str, wakes: list[str | None], loops: int, started_at: str
) -> dict[str, Any]:
    """After every shard woke: done, or the next wake-up and whether the execution should continue as a new one."""
    journey = _active(deps, app_id, journey_id, run_id)
    upcoming = [_instant(w) for w in wakes if w]
    if journey is None:
        return {"done": True}
    resumed = journey.get("ResumedAt")
    if resumed and _instant(started_at) < _instant(resumed):
        return {"done": True}  # paused and resumed while this execution waited: the resumed one carries the run
    if enters_outside_the_loop(journey):
        return _plan_open(deps, journey, run_id, upcoming, loops, started_at)
    if not upcoming:
        _complete(deps, journey)
        return {"done": True}
    now = deps.clock.now()
    next_wake = max(min(upcoming), now)
    end = window_of(journey).last_end
    if end and next_wake >= end:
        _complete(deps, journey)
        return {"done": True}
    horizon = _instant(started_at) + timedelta(days=JOURNEY_EXECUTION_MAX_DAYS)
    if now >= horizon:
        return {"done": False, "next_wake": iso(next_wake), "continue": True}
    # A wait may not outlast the execution (Standard: one year): wake at the horizon, then continue as a new one.
    next_wake = min(next_wake, horizon)
    return {"done": False, "next_wake": iso(next_wake), "continue": loops >= JOURNEY_LOOPS_PER_EXECUTION}


def _plan_open(
    deps: JourneyDeps, journey: dict[str, Any], run_id: str, upcoming: list[datetime], loops: int, started_at: str
) -> dict[str, Any]:
    """The plan of a journey entered while its loop sleeps (event-started, RefreshOnSegmentUpdate): it runs until its
    Schedule.EndTime (or until stopped) however long no one waits, and its wake-ups go through the run's wake record,
    which folds in the wake-ups entries asked for and ends this execution if another loop wakes first."""
    now = deps.clock.now()
    end = window_of(journey).last_end
    if end and now >= end:
        _complete(deps, journey)
        return {"done": True}
    wake = min([*upcoming, *([end] if end else [])], default=None)  # at the end time, it completes
    horizon = _instant(started_at) + timedelta(days=JOURNEY_EXECUTION_MAX_DAYS)
    continuing = now >= horizon or loops >= JOURNEY_LOOPS_PER_EXECUTION
    resumed = _instant(journey["ResumedAt"]) if journey.get("ResumedAt") else None
    me = journey_wakes.plan_name(started_at, loops)
    planned = journey_wakes.settle(
        deps.participants, journey["ApplicationId"], journey["Id"], run_id, wake, now, me, continuing, resumed, horizon
    )
    if not isinstance(planned, datetime):  # nothing to wake for (the next entry starts a loop), or another loop will
        return {"done": True}
    return {"done": False, "next_wake": iso(planned), "continue": continuing}


def run_loop(deps: JourneyDeps, app_id: str, journey_id: str, run_id: str) -> dict[str, Any]:
    """One loop of the state machine in-process (local mode, tests): every shard, then the plan."""
    wakes = [wake_shard(deps, app_id, journey_id, run_id, shard) for shard in range(ENDPOINT_SHARDS)]
    return plan(deps, app_id, journey_id, run_id, wakes, 0, iso(deps.clock.now()))


# -- moving participants ------------------------------------------------------------------------------------------


def _enter_segment(
    deps: JourneyDeps, journey: dict[str, Any], run_id: str, shard: int, now: datetime, deadline: datetime
) -> datetime | None:
    """A segment-start journey's entry into this shard: once on the run's first wake-up, and again when a refresh is
    due (RefreshFrequency) or the segment has a new Version (RefreshOnSegmentUpdate). An entry that runs out of the
    wake-up's time (`deadline`) carries on at the next wake-up, at once. Returns the next wake-up it needs."""
    segment_id = segment_start_of(journey)
    if segment_id is None:
        return None  # event-started: entered from PutEvents (kizuna.services.journey_entry)
    app_id, rules = journey["ApplicationId"], rules_of(journey)
    marker = deps.participants.enrolment(app_id, journey["Id"], run_id, shard)
    if marker is not None and marker.pending is None and not (rules.refresh or rules.on_segment_update):
        return None
    segment = deps.segments.get_segment(app_id, segment_id)
    version = int(segment["Version"]) if segment is not None and segment.get("Version") is not None else None
    started, after = now, None
    if marker is None:
        key = "segment"
    elif marker.pending is not None:  # cut by the previous wake-up's budget: the same entry, after where it stopped
        key, after, started, version = marker.pending, marker.after, marker.at or now, marker.segment_version
    else:
        due = (marker.at or run_created_at(run_id)) + rules.refresh if rules.refresh else None
        updated = rules.on_segment_update and version is not None and version != marker.segment_version
        if not (updated or (due and now >= due)):
            return due
        key = f"refresh:{iso(due)}" if due and now >= due else f"update:{version}"  # the same in a replayed wake-up
    if segment is None:
        logger.warning("journey segment is gone", extra={"journey_id": journey["Id"], "segment_id": segment_id})
        deps.participants.mark_enrolled(app_id, journey["Id"], run_id, shard, Enrolment(now, version))
    else:
        progress = Enrolment(started, version, key, after, marker.rev if marker else 0)
        if not _enrol(deps, journey, run_id, shard, segment, progress, marker, now, deadline):
            return now  # the rest of the segment at the next wake-up
    return started + rules.refresh if rules.refresh else None


def _enrol(
    deps: JourneyDeps,
    journey: dict[str, Any],
    run_id: str,
    shard: int,
    segment: dict[str, Any],
    progress: Enrolment,
    marker: Enrolment | None,
    now: datetime,
    deadline: datetime,
) -> bool:
    """Enter the shard's sendable members of the segment by the entry key (`progress.pending`), after
    `progress.after`, as the entry rules allow, in batches of ENTRY_BATCH: each batch's entrants, what it produced,
    filtered out and refused, and the entry's progress are one write, conditional on the marker it replaces (so a
    batch counts once, and a replayed or concurrent wake-up cannot take it twice). Returns False when the deadline
    came first (the marker says where to carry on)."""
    app_id, rules, key = journey["ApplicationId"], rules_of(journey), progress.pending or ""
    members = resolve_shard(  # every member, to count those not sendable as ENDPOINT_OPT_OUT / ENDPOINT_INACTIVE
        deps.endpoints,
        deps.segments,
        app_id,
        segment,
        shard,
        now=now,
        include_inactive=True,
        start_after=progress.after,
    )
    window = window_of(journey)
    for index, batch in enumerate(_batches(members, ENTRY_BATCH)):
        if index and deps.clock.now() >= deadline:  # (each wake-up takes one batch at least: the entry ends)
            return False
        known = deps.participants.get_many(app_id, journey["Id"], shard, [e["Id"] for e in batch])
        entering, counts = [], Counter({PRODUCED: len(batch)})
        for endpoint in batch:
            if reason := filtered_out(endpoint):
                counts[reason] += 1
                continue
            decision = decide(rules, known.get(endpoint["Id"]), key, now)
            if decision == "ENTER":
                starts_at = entry_time(window, endpoint, now)
                if starts_at is None:  # LocalTime: the journey has closed in its zone, it was not produced for it
                    counts[PRODUCED] -= 1
                else:
                    entering.append(entrant(journey, endpoint["Id"], key, now, known.get(endpoint["Id"]), starts_at))
            elif decision in REFUSALS:
                counts[REFUSALS[decision]] += 1
        taken = replace(progress, after=batch[-1]["Id"])
        step = EntryStep(counts, marker, taken)
        _move(deps, journey, run_id, shard, entering, {e["Id"]: e for e in batch}, now, entering=True, entry=step)
        marker = replace(taken, rev=(marker.rev if marker else 0) + 1)
    done = Enrolment(progress.at, progress.segment_version)
    deps.participants.record_entry(app_id, journey["Id"], run_id, shard, [], EntryStep({}, marker, done), now)
    return True


def _batches(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


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
    return _move(deps, journey, run_id, shard, entrants, endpoints, now, entering=True, each={PRODUCED: 1})


def _move(
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


def _active(deps: JourneyDeps, app_id: str, journey_id: str, run_id: str) -> dict[str, Any] | None:
    journey = deps.journeys.get_journey(app_id, journey_id)
    if journey is None or journey.get("State") != "ACTIVE" or journey.get("RunId") != run_id:
        return None
    return journey


def _complete(deps: JourneyDeps, journey: dict[str, Any]) -> None:
    done = {
        **journey,
        "State": "COMPLETED",
        "Version": journey["Version"] + 1,
        "LastModifiedDate": iso(deps.clock.now()),
    }
    if not deps.journeys.put_journey(journey["ApplicationId"], done, journey["Version"]):
        logger.info("journey changed meanwhile; not marked completed", extra={"journey_id": journey["Id"]})
        return
    engagement.index_journey(deps.journeys, done, deps.clock.now())  # its custom events are kept no longer


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
