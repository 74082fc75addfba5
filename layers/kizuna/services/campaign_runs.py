"""Campaign runs: when they happen, and what one run does.

- Scheduling: after every write a campaign's next run gets one one-time schedule (RunScheduler) that puts a
  CampaignRun message on the jobs queue at the run's instant (for IsLocalTime: when its wall clock first happens on
  Earth, UTC+14). A run due now is enqueued at once. Each run schedules the one after it, so a recurring campaign
  holds exactly one pending schedule; pausing or deleting it cancels that schedule, EndTime ends the chain.
- A run is a job in the JobStore (type "RUN#<campaign>", id from the run's wall clock): starting it twice (a
  redelivered message) starts it once, and its 16 pieces, one per endpoint shard, are counted once each.
- A piece resolves its shard of the segment, puts each endpoint in its treatment or the holdout
  (kizuna.domain.campaigns), counts it against the frequency caps and sends through the same path as
  SendMessages (consent, quiet time, throttling), with message ids derived from (campaign, run, endpoint): a piece
  resumed after a crash re-sends nothing the first attempt queued, and caps are not counted twice.
- IsLocalTime: a piece sends the endpoints whose local wall clock is due and queues one delayed piece per later
  wave (endpoints of the zones sharing an instant), which re-resolves the shard for those zones only.
- EVENT campaigns are not scheduled: PutEvents hands its accepted events to `on_events`, which sends to each
  matching endpoint that is in the segment at once, and drops a message that cannot go out within 5 minutes.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.clock import Clock, iso
from kizuna.domain import campaigns as rules
from kizuna.domain.campaign_schedule import (
    CampaignSchedule,
    earliest_wave_instant,
    local_time_waves,
    parse_schedule,
    run_instant,
    run_key_after,
)
from kizuna.domain.channels import PHONE_CHANNELS
from kizuna.domain.endpoint_caps import counters_for
from kizuna.domain.jobs import PROCESSING, CampaignPiece, CampaignRun, JobEnvelope, PieceOutcome
from kizuna.domain.segments import Predicate, compile_event_dimensions
from kizuna.errors import BadRequest, KizunaError, NotFound
from kizuna.ports import AppStore, EndpointStore, JobQueue, JobStore, RelayQueue, SegmentStore
from kizuna.ports_campaigns import CampaignStore, EndpointCaps, RunScheduler
from kizuna.services import custom_delivery
from kizuna.services.endpoints import estimated_timezone
from kizuna.services.job_progress import count_piece
from kizuna.services.segments import is_member, resolve_shard
from kizuna.services.send_messages import MAX_RECIPIENTS, SendDeps, context_for, send_messages, send_to_endpoints

logger = Logger(child=True)

RUN_JOB_TYPE = "CAMPAIGN_RUN"
# Waves due within this margin are sent by the piece that finds them rather than by a delayed piece.
WAVE_MARGIN = timedelta(seconds=60)
# Wave pieces are numbered after the 16 shard pieces: 16 + shard * MAX_WAVES + wave (105 distinct UTC offsets).
MAX_WAVES = 128
MAX_DELAY_S = 900  # SQS's longest delay; a piece due later hops until it is due
# A piece sends its shard in chunks and hands the rest to a continuation piece once it has run this long, so a shard
# of any size finishes inside the jobs function's 300 s timeout (a redelivered part resumes from its own cursor).
PIECE_BUDGET_S = 120.0
CHUNK = 1000
PART_STRIDE = 10_000  # continuation k of piece p is numbered p + k * PART_STRIDE (p < 16 + 16 * MAX_WAVES)
EVENT_SEND_WINDOW = timedelta(minutes=5)  # Pinpoint dropped an event-triggered message it could not send in 5 min


@dataclass
class CampaignDeps:
    apps: AppStore
    endpoints: EndpointStore
    segments: SegmentStore
    campaigns: CampaignStore
    jobs: JobStore
    jobs_queue: JobQueue
    scheduler: RunScheduler
    clock: Clock
    send: SendDeps
    caps: EndpointCaps | None = None
    arn_prefix: str = "arn:aws:mobiletargeting:local:000000000000"
    relays: RelayQueue | None = None  # CUSTOM deliveries


def run_type(campaign_id: str) -> str:
    """The JobStore type of a campaign's runs."""
    return f"RUN#{campaign_id}"


def run_id_of(run_key: str) -> str:
    """ "2026-01-05T09:00:00" → "20260105T090000": the activity id, which sorts by run."""
    return run_key.replace("-", "").replace(":", "")


# -- scheduling ---------------------------------------------------------------------------------------------------


def activate(deps: CampaignDeps, campaign: dict[str, Any]) -> None:
    """After a write: schedule the campaign's next run, or index its EVENT filter; a paused campaign gets neither.
    A start up to 15 minutes in the past (which validation allows) still runs; a run that already happened does
    not happen again (its job exists)."""
    app_id, campaign_id = campaign["ApplicationId"], campaign["Id"]
    now = deps.clock.now()
    schedule = parse_schedule(campaign["Schedule"], now, allow_past=True)
    paused = bool(campaign.get("IsPaused"))
    if schedule.frequency == "EVENT" and not paused:
        entry = {
            "Id": campaign_id,
            "Version": campaign["Version"],
            "EventFilter": campaign["Schedule"]["EventFilter"],
            "StartTime": iso(schedule.start),
            "EndTime": iso(schedule.end) if schedule.end else None,
        }
        deps.campaigns.index_event_campaign(app_id, campaign_id, entry)
    else:
        deps.campaigns.index_event_campaign(app_id, campaign_id, None)
    if paused or schedule.frequency == "EVENT":
        deps.scheduler.cancel_run(app_id, campaign_id)
        return
    _schedule_next(deps, campaign, schedule, now - timedelta(minutes=15))


def _schedule_next(deps: CampaignDeps, campaign: dict[str, Any], schedule: CampaignSchedule, after: datetime) -> None:
    app_id, campaign_id = campaign["ApplicationId"], campaign["Id"]
    run_key = run_key_after(schedule, after)
    if run_key is None:
        deps.scheduler.cancel_run(app_id, campaign_id)
        return
    message = CampaignRun(app_id=app_id, job_id=campaign_id, run_key=run_key, version=campaign["Version"])
    at = earliest_wave_instant(schedule, run_key) if schedule.is_local_time else run_instant(schedule, run_key)
    if at <= deps.clock.now():
        deps.scheduler.cancel_run(app_id, campaign_id)
        deps.jobs_queue.enqueue([message])
    else:
        deps.scheduler.schedule_run(app_id, campaign_id, at, JobEnvelope(message=message).model_dump(mode="json"))


# -- a run --------------------------------------------------------------------------------------------------------


def start_run(deps: CampaignDeps, message: CampaignRun) -> None:
    """Create the run's job and queue one piece per shard (once), then schedule the next run."""
    app_id, campaign_id = message.app_id, message.job_id
    campaign = deps.campaigns.get_campaign(app_id, campaign_id)
    if campaign is None or campaign["Version"] != message.version or campaign.get("IsPaused"):
        # Deleted, paused, or updated after this run was scheduled (the update scheduled its own next run).
        logger.info("campaign run dropped", extra={"campaign_id": campaign_id, "run": message.run_key})
        return
    now = deps.clock.now()
    schedule = parse_schedule(campaign["Schedule"], now, allow_past=True)
    job_type, run_id = run_type(campaign_id), run_id_of(message.run_key)
    job = deps.jobs.get_job(app_id, job_type, run_id)
    if job is None:
        deps.jobs.create_job(
            app_id,
            job_type,
            {
                "Id": run_id,
                "ApplicationId": app_id,
                "Type": RUN_JOB_TYPE,
                "CreationDate": iso(now),
                "JobStatus": "CREATED",
                "Definition": {
                    "CampaignId": campaign_id,
                    "Version": campaign["Version"],
                    "RunKey": message.run_key,
                    "ScheduledStart": iso(run_instant(schedule, message.run_key)),
                    "SegmentId": campaign["SegmentId"],
                },
            },
        )
    started = deps.jobs.start_job(app_id, job_type, run_id, ENDPOINT_SHARDS)
    if started or (job is not None and job["JobStatus"] == PROCESSING):
        # Re-queued when a crash came between starting and queueing: pieces are idempotent.
        deps.jobs_queue.enqueue(
            [
                CampaignPiece(
                    app_id=app_id,
                    job_id=campaign_id,
                    run_key=message.run_key,
                    version=campaign["Version"],
                    shard=shard,
                    piece=shard,
                )  # fmt: skip
                for shard in range(ENDPOINT_SHARDS)
            ]
        )
    _schedule_next(deps, campaign, schedule, run_instant(schedule, message.run_key))


def run_piece(deps: CampaignDeps, piece: CampaignPiece, final_attempt: bool = False) -> None:
    """Send one shard (or one IsLocalTime wave of it) of a run, and count it into the run's activity."""
    now = deps.clock.now()
    if piece.not_before and now < datetime.fromisoformat(piece.not_before):
        remaining = (datetime.fromisoformat(piece.not_before) - now).total_seconds()
        deps.jobs_queue.enqueue([piece], delay_s=min(MAX_DELAY_S, math.ceil(remaining)))
        return
    app_id, campaign_id = piece.app_id, piece.job_id
    outcome = PieceOutcome()
    campaign = deps.campaigns.get_campaign(app_id, campaign_id, piece.version)
    if deps.campaigns.get_campaign(app_id, campaign_id) is None or campaign is None:
        _count(deps, piece, outcome)  # deleted meanwhile: it sends nothing more
        return
    schedule = parse_schedule(campaign["Schedule"], now, allow_past=True)
    segment = deps.segments.get_segment(app_id, campaign["SegmentId"], campaign.get("SegmentVersion"))
    if segment is None:
        outcome.failed = True
        outcome.messages.append(f"segment {campaign['SegmentId']} no longer exists")
        _count(deps, piece, outcome)
        return
    members = resolve_shard(
        deps.endpoints, deps.segments, app_id, segment, piece.shard, now=now, start_after=piece.after
    )
    try:
        if schedule.is_local_time:  # waves need the shard's zones: one pass over the whole shard
            chosen = _local_time_members(deps, piece, schedule, list(members), outcome, now)
            target(deps, campaign, schedule, run_id_of(piece.run_key), chosen, outcome, now)
        else:
            _send_in_parts(deps, piece, campaign, schedule, members, outcome, now)
    except TemporaryRefusal:
        if not final_attempt:
            raise
    _count(deps, piece, outcome)


def _send_in_parts(
    deps: CampaignDeps,
    piece: CampaignPiece,
    campaign: dict[str, Any],
    schedule: CampaignSchedule,
    members: Iterable[dict[str, Any]],
    outcome: PieceOutcome,
    now: datetime,
) -> None:
    started = time.monotonic()  # the function's own time budget, not the clock port's (which may be virtual)
    sent = piece.sent
    for chunk in _chunks(members, CHUNK):
        target(deps, campaign, schedule, run_id_of(piece.run_key), chunk, outcome, now, pace_offset=sent)
        sent += len(chunk)
        if time.monotonic() - started > PIECE_BUDGET_S:
            base = piece.piece % PART_STRIDE
            rest = piece.model_copy(
                update={
                    "part": piece.part + 1,
                    "piece": base + (piece.part + 1) * PART_STRIDE,
                    "after": chunk[-1]["Id"],
                    "sent": sent,
                }  # fmt: skip
            )
            deps.jobs_queue.enqueue([rest])  # before this part is counted, so the run cannot complete without it
            outcome.spawned = 1
            return


def _chunks(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _local_time_members(
    deps: CampaignDeps,
    piece: CampaignPiece,
    schedule: CampaignSchedule,
    members: list[dict[str, Any]],
    outcome: PieceOutcome,
    now: datetime,
) -> list[dict[str, Any]]:
    zone_of = {e["Id"]: recipient_zone(e, schedule) for e in members}
    if piece.zones is not None:
        wanted = set(piece.zones)
        return [e for e in members if zone_of[e["Id"]] in wanted]
    due: set[str] = set()
    later: list[CampaignPiece] = []
    for i, (at, zones) in enumerate(local_time_waves(schedule, piece.run_key, set(zone_of.values()))):
        if at <= now + WAVE_MARGIN:
            due |= zones
        else:
            later.append(
                piece.model_copy(
                    update={
                        "piece": ENDPOINT_SHARDS + piece.shard * MAX_WAVES + i,
                        "zones": tuple(sorted(zones)),
                        "not_before": iso(at),
                    }
                )
            )
    if later:
        deps.jobs_queue.enqueue(later)  # before this piece is counted, so the run cannot complete without them
        outcome.spawned = len(later)
    return [e for e in members if zone_of[e["Id"]] in due]


def recipient_zone(endpoint: dict[str, Any], schedule: CampaignSchedule) -> str:
    """The endpoint's zone: Demographic.Timezone, else the one its phone number implies, else the schedule's."""
    named = (endpoint.get("Demographic") or {}).get("Timezone")
    if not named and endpoint.get("ChannelType") in PHONE_CHANNELS:
        named = estimated_timezone(endpoint.get("Address", ""))
    return named or schedule.timezone


class TemporaryRefusal(Exception):
    """The send queue did not take some messages: the piece is retried (what it queued is not queued again)."""


def target(
    deps: CampaignDeps,
    campaign: dict[str, Any],
    schedule: CampaignSchedule,
    run_id: str,
    endpoints: Iterable[dict[str, Any]],
    outcome: PieceOutcome,
    now: datetime,
    message_id: Callable[[str], str] | None = None,
    not_after: datetime | None = None,
    pace_offset: int = 0,
) -> None:
    """Treatments, caps and sending for these endpoints: `outcome` counts those targeted (processed) and those the
    send path refused (failures: opted out, no consent, bad address...). Held-out and capped endpoints are not
    targeted."""
    app_id, campaign_id = campaign["ApplicationId"], campaign["Id"]
    ids = message_id or (lambda endpoint_id: rules.message_id_for(campaign_id, run_id, endpoint_id))
    split = rules.split_of(campaign)
    settings = deps.apps.get_settings(app_id) or {}
    app_limits = settings.get("Limits") or {}
    # The app's Limits are the defaults of a campaign's pace and duration (Daily/Total: kizuna.domain.endpoint_caps).
    limits = {**{k: app_limits[k] for k in ("MessagesPerSecond", "MaximumDuration") if app_limits.get(k)},
              **(campaign.get("Limits") or {})}  # fmt: skip
    counters = counters_for(campaign_id, campaign.get("Limits") or {}, app_limits, now)
    chosen: dict[str, list[tuple[dict[str, Any], str]]] = defaultdict(list)
    for endpoint in endpoints:
        treatment = split.assign(campaign_id, endpoint["Id"])
        if treatment is None:
            continue
        mid = ids(endpoint["Id"])
        if counters and deps.caps is not None and not deps.caps.admit(app_id, endpoint["Id"], mid, counters, now):
            continue
        chosen[treatment.id].append((endpoint, mid))
    if limits.get("MaximumDuration"):
        deadline = now + timedelta(seconds=int(limits["MaximumDuration"]))
        not_after = min(not_after, deadline) if not_after else deadline
    quiet = {"Start": schedule.quiet_start, "End": schedule.quiet_end} if schedule.quiet_start else None
    # MessagesPerSecond is the run's rate; its 16 pieces run side by side, so each paces itself at 1/16 of it.
    interval = ENDPOINT_SHARDS / limits["MessagesPerSecond"] if limits.get("MessagesPerSecond") else 0.0
    sent = pace_offset
    refused_for_now = False
    for treatment in split.treatments:
        items = chosen.get(treatment.id)
        if not items:
            continue
        if treatment.delivery is not None:
            _deliver_custom(deps, campaign, treatment, run_id, [e for e, _ in items], outcome, now)
            continue
        request = {
            "MessageConfiguration": rules.direct_configuration(treatment.message),
            "TemplateConfiguration": treatment.template,
        }
        attribution = {"campaign_id": campaign_id, "campaign_activity_id": run_id, "treatment_id": treatment.id}
        try:
            ctx = context_for(deps.send, app_id, request, "bulk", attribution, not_after)
        except KizunaError as exc:  # e.g. its template was deleted: the treatment cannot be sent at all
            outcome.processed += len(items)
            for endpoint, _ in items:
                outcome.reject(f"endpoint {endpoint['Id']}: {exc.message}")
            continue
        if quiet is not None:
            ctx = replace(ctx, quiet_time=quiet)
        for start in range(0, len(items), MAX_RECIPIENTS):
            chunk = items[start : start + MAX_RECIPIENTS]
            spread = (
                {e["Id"]: now + timedelta(seconds=(sent + i) * interval) for i, (e, _) in enumerate(chunk)}
                if interval
                else None
            )
            chunk_ctx = replace(ctx, message_ids={e["Id"]: mid for e, mid in chunk}, not_before=spread)
            results = send_to_endpoints(deps.send, chunk_ctx, [e for e, _ in chunk])
            sent += len(chunk)
            outcome.processed += len(chunk)
            for endpoint_id, result in results.items():
                if result.get("StatusCode") == 503:
                    refused_for_now = True
                if result.get("DeliveryStatus") != "SUCCESSFUL":
                    outcome.reject(f"endpoint {endpoint_id}: {result.get('StatusMessage', '')}")
    if refused_for_now:
        raise TemporaryRefusal("the send queue refused some messages")


def _deliver_custom(
    deps: CampaignDeps,
    campaign: dict[str, Any],
    treatment: rules.Treatment,
    run_id: str,
    endpoints: list[dict[str, Any]],
    outcome: PieceOutcome,
    now: datetime,
) -> None:
    """CUSTOM treatments go to the customer's webhook, not through the send path: its consent, quiet time and rate
    are the receiver's business; Kizuna leaves out opted-out and inactive endpoints, as Pinpoint did."""
    if deps.relays is None:
        raise RuntimeError("CUSTOM delivery needs the relay queue (CampaignDeps.relays)")
    delivered = custom_delivery.deliver(
        deps.relays,
        app_id=campaign["ApplicationId"],
        campaign_id=campaign["Id"],
        run_id=run_id,
        treatment_id=treatment.id,
        configuration=treatment.delivery or {},
        data=(treatment.message.get("CustomMessage") or {}).get("Data", ""),
        endpoints=endpoints,
        now=now,
    )
    outcome.processed += len(delivered)


def _count(deps: CampaignDeps, piece: CampaignPiece, outcome: PieceOutcome) -> None:
    count_piece(
        deps.jobs, deps.clock, run_type(piece.job_id), piece.app_id, run_id_of(piece.run_key), piece.piece, outcome
    )


# -- event-triggered campaigns ------------------------------------------------------------------------------------


def on_events(deps: CampaignDeps, app_id: str, events: Sequence[dict[str, Any]]) -> int:
    """Send every active EVENT campaign of the app to the endpoints whose events match its filter; returns how many
    messages were queued. Message ids come from (campaign, event id, endpoint), so a replayed PutEvents request
    (an SDK retry) sends nothing twice."""
    entries = deps.campaigns.event_campaigns(app_id)
    if not entries or not events:
        return 0
    now = deps.clock.now()
    queued = 0
    for entry in entries:
        if entry.get("EndTime") and datetime.fromisoformat(entry["EndTime"]) <= now:
            continue
        if entry.get("StartTime") and datetime.fromisoformat(entry["StartTime"]) > now:
            continue
        matches = _event_filter(entry["Id"], entry["Version"], json.dumps(entry["EventFilter"], sort_keys=True))
        hits = [e for e in events if (e.get("client") or {}).get("client_id") and matches(e)]
        if hits:
            queued += _send_for_events(deps, app_id, entry["Id"], hits, now)
    return queued


def _send_for_events(deps: CampaignDeps, app_id: str, campaign_id: str, hits: list[dict], now: datetime) -> int:
    campaign = deps.campaigns.get_campaign(app_id, campaign_id)
    if campaign is None or campaign.get("IsPaused"):
        return 0
    schedule = parse_schedule(campaign["Schedule"], now, allow_past=True)
    segment = deps.segments.get_segment(app_id, campaign["SegmentId"], campaign.get("SegmentVersion"))
    if segment is None:
        return 0
    endpoint_ids = sorted({e["client"]["client_id"] for e in hits})
    found = deps.endpoints.get_endpoints(app_id, endpoint_ids)
    event_of = {e["client"]["client_id"]: e["event_id"] for e in hits}  # the endpoint's last matching event
    members = [
        found[i] for i in endpoint_ids if i in found and is_member(deps.segments, app_id, segment, found[i], now=now)
    ]
    outcome = PieceOutcome()
    target(
        deps, campaign, schedule, f"event{now:%Y%m%d}", members, outcome, now,
        message_id=lambda endpoint_id: rules.message_id_for(campaign_id, f"event:{event_of[endpoint_id]}", endpoint_id),
        not_after=now + EVENT_SEND_WINDOW,
    )  # fmt: skip
    return outcome.processed - outcome.failures


@lru_cache(maxsize=256)
def _event_filter(campaign_id: str, version: int, event_filter: str) -> Predicate:
    """Compiled once per campaign version (the JSON text is the cache key: filters are dicts)."""
    doc = json.loads(event_filter)
    return compile_event_dimensions(doc.get("Dimensions") or {}, "Schedule.EventFilter.Dimensions")


# -- test sends (extension) ---------------------------------------------------------------------------------------


def send_test(deps: CampaignDeps, app_id: str, campaign_id: str, request: dict[str, Any] | None) -> dict[str, Any]:
    """POST /v1/apps/{app}/campaigns/{id}/test: the campaign's current version (treatment "0", or TreatmentId) to the
    listed endpoints, ignoring holdout and caps; counted under the campaign with activity "test"."""
    request = request or {}
    endpoint_ids = request.get("EndpointIds") or []
    if not endpoint_ids or len(endpoint_ids) > MAX_RECIPIENTS:
        raise BadRequest(f"CampaignTestRequest.EndpointIds must list 1 to {MAX_RECIPIENTS} endpoint ids")
    campaign = deps.campaigns.get_campaign(app_id, campaign_id)
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id} not found")
    split = rules.split_of(campaign)
    wanted = request.get("TreatmentId") or rules.MAIN_TREATMENT
    treatment = next((t for t in split.treatments if t.id == wanted), None)
    if treatment is None:
        raise BadRequest(f"CampaignTestRequest.TreatmentId {wanted!r} is not a treatment of campaign {campaign_id}")
    message_request = {
        "MessageConfiguration": rules.direct_configuration(treatment.message),
        "TemplateConfiguration": treatment.template,
        "Endpoints": {endpoint_id: {} for endpoint_id in endpoint_ids},
    }
    attribution = {"campaign_id": campaign_id, "campaign_activity_id": "test", "treatment_id": treatment.id}
    return send_messages(deps.send, app_id, message_request, priority="transactional", attribution=attribution)
