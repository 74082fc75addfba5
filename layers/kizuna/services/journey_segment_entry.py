"""A segment-start journey's entry into one endpoint shard, made by the shard's wake-up (kizuna.services.journey_runs).

- The run's first wake-up of each shard enrols the segment's sendable endpoints (a marker per shard and run makes it
  once); they start at `StartActivity` and move at once (kizuna.services.journey_moves).
- `RefreshFrequency` and `RefreshOnSegmentUpdate` enrol the segment again (new members, and re-entries the limits
  allow: kizuna.domain.journey_entry).
- Members enter in batches of ENTRY_BATCH whose entrants, entry counts (ENDPOINT_PRODUCED, the members filtered out or
  refused) and progress are one conditional write; an entry that outlasts the wake-up's budget carries on at the next
  wake-up, after the last member it took.

Event-started journeys are entered from PutEvents instead (kizuna.services.journey_entry).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.clock import iso
from kizuna.domain.journey_entry import PRODUCED, REFUSALS, decide, filtered_out, rules_of, segment_start_of
from kizuna.domain.journey_schedule import window_of
from kizuna.domain.journey_steps import entrant
from kizuna.ports_journeys import ENTRY_BATCH, Enrolment, EntryStep
from kizuna.services.journey_deps import JourneyDeps
from kizuna.services.journey_moves import entry_time, move
from kizuna.services.journeys import run_created_at
from kizuna.services.segments import resolve_shard

logger = Logger(child=True)


def enter_segment(
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
        move(deps, journey, run_id, shard, entering, {e["Id"]: e for e in batch}, now, entering=True, entry=step)
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
