"""What a simulated run did, read back from its journal: each participant's path with timestamps, and a summary
(participants, per-activity counts, executions chained, wake-ups), as text or JSON."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.domain.journey_activities import MESSAGE_KINDS, activity_kind
from kizuna.domain.journey_metrics import counter
from kizuna.domain.journey_steps import Participant
from kizuna.errors import KizunaError
from kizuna.services import journey_moves
from kizuna.services.compose import Refusal
from kizuna.services.recipients import Recipient, prepare
from kizuna.services.send_messages import context_for
from kizuna.simulator.driver import Execution
from kizuna.simulator.stores import Change, Delivery, Reply
from kizuna.simulator.world import World

SPLITS = ("ConditionalSplit", "MultiCondition", "RandomSplit")
COUNT_ORDER = ("passed", "sent", "delivered", "undelivered", "queued", "held for quiet time", "not sent", "capped",
               "skipped for quiet time")  # fmt: skip
# A message activity's outcomes that the engine decides before the send path (kizuna.services.journey_sends).
GATED = {"CAPPED": ("capped", "over the journey's limits (DailyCap, TotalCap or TimeframeCap)"),
         "QUIET_TIME": ("skipped for quiet time", "in quiet time, and WaitForQuietTime is false")}  # fmt: skip


@dataclass(frozen=True)
class Line:
    at: datetime
    endpoint_id: str
    event: str  # entered sent held not_sent replied branch passed waiting left held_out still_waiting stuck
    activity: str | None
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"at": stamp(self.at), "event": self.event, "activity": self.activity, "text": self.text}


@dataclass
class Report:
    journey: dict[str, Any]
    start: datetime
    until: datetime
    ended: datetime  # when the state machine stopped (the journey completed, or `until`)
    execution: Execution
    lines: dict[str, list[Line]]  # endpoint id -> its path, in order
    finals: dict[str, Participant]
    activities: dict[str, Counter[str]]
    recommendations: list[dict[str, str]]
    duplicates: int = 0
    replies: int = 0
    statuses: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "journey": {k: self.journey.get(k) for k in ("Id", "Name", "State")},
            "start": stamp(self.start),
            "until": stamp(self.until),
            "ended": stamp(self.ended),
            "participants": [
                {
                    "endpoint_id": endpoint_id,
                    "status": final.status,
                    "activity": final.activity,
                    "wake_at": stamp(final.wake_at) if final.wake_at else None,
                    "path": list(final.path),
                    "events": [line.to_json() for line in self.lines.get(endpoint_id, [])],
                }
                for endpoint_id, final in sorted(self.finals.items())
            ],
            "summary": self.summary(),
            "recommendations": self.recommendations,
        }

    def summary(self) -> dict[str, Any]:
        kinds = self.journey.get("Activities") or {}
        return {
            "participants": len(self.finals),
            "statuses": dict(sorted(self.statuses.items())),
            "executions": self.execution.executions,
            "continued_as_new": self.execution.executions - 1,
            "wake_ups": self.execution.wake_ups,
            "replies": self.replies,
            "repeated_sends_refused": self.duplicates,
            "activities": {
                a: {"kind": activity_kind(kinds.get(a) or {}), **_ordered(counts)}
                for a, counts in self.activities.items()
            },
        }


def build(world: World, execution: Execution, start: datetime, until: datetime, ended: datetime) -> Report:
    """`ended`: when the state machine stopped (still-waiting participants are reported then)."""
    journey = world.journey
    activities: dict[str, dict[str, Any]] = journey.get("Activities") or {}
    deliveries: dict[str, Delivery] = {}
    for entry in world.journal.entries:
        if isinstance(entry, Delivery) and entry.status != "duplicate":
            deliveries.setdefault(entry.message.message_id, entry)
    counts: dict[str, Counter[str]] = {a: Counter() for a in activities}
    report = Report(journey, start, until, ended, execution, defaultdict(list), {}, counts, world.recommendations)
    for entry in world.journal.entries:
        if isinstance(entry, Change):
            for line in _change(world, journey, entry, deliveries, report):
                report.lines[line.endpoint_id].append(line)
        elif isinstance(entry, Delivery):
            _delivery(entry, activities, report)
        else:
            _reply(entry, report)
    for shard in range(ENDPOINT_SHARDS):
        for p in world.participants.all_participants(world.app_id, world.journey_id, shard):
            report.finals[p.endpoint_id] = p
            report.statuses[p.status] += 1
            if p.status == "WAITING" and p.wake_at:
                why = "when the journey ended" if journey.get("State") == "COMPLETED" else "when the simulation ended"
                text = f"still waiting at '{p.activity}' until {stamp(p.wake_at)} {why}"
                report.lines[p.endpoint_id].append(Line(ended, p.endpoint_id, "still_waiting", p.activity, text))
            elif p.status == "ACTIVE":
                text = f"stuck at '{p.activity}' (it took {len(p.path)} steps without waiting)"
                report.lines[p.endpoint_id].append(Line(ended, p.endpoint_id, "stuck", p.activity, text))
    report.lines = dict(sorted(report.lines.items()))
    return report


def _change(
    world: World, journey: dict[str, Any], entry: Change, deliveries: dict[str, Delivery], report: Report
) -> list[Line]:
    before, after, at = entry.before, entry.after, entry.at
    activities = journey.get("Activities") or {}
    endpoint_id = after.endpoint_id
    lines: list[Line] = []

    def add(event: str, activity: str | None, text: str) -> None:
        lines.append(Line(at, endpoint_id, event, activity, text))

    entered = before is None or after.entries > before.entries  # a first entry, or a re-entry (segment refresh)
    if entered:
        first = after.path[0] if after.path else after.activity
        again = f" (entry {after.entries})" if after.entries > 1 else ""
        add("entered", first, f"entered at '{first}'{again}")
        before = None  # what it did in an earlier entry is reported already
    passed = after.path[len(before.path) if before else 0 :]
    # A participant held with its message (it waits at the message activity until the message goes) was reported
    # with the message when it reached it; passing it at the release adds no line.
    # (Waiting for its zone's start, with LocalTime, is not being held: its first message goes at the start.)
    held = before is not None and before.status == "WAITING" and not before.starts_at
    released = before.activity if held else None
    for i, activity_id in enumerate(passed):
        following = passed[i + 1] if i + 1 < len(passed) else after.activity
        kind = activity_kind(activities.get(activity_id) or {}) or "?"
        counts = report.activities.setdefault(activity_id, Counter())
        counts["passed"] += 1
        if kind in MESSAGE_KINDS and not (i == 0 and activity_id == released):
            add(*_message(world, journey, activity_id, kind, after, deliveries, counts, entry.counts))
        elif kind in SPLITS:
            counts[f"to {following or '(end)'}"] += 1
            add("branch", activity_id, f"{kind} '{activity_id}' → " + (f"'{following}'" if following else "end"))
        elif kind == "Holdout" and not (i == len(passed) - 1 and after.status == "HELD_OUT"):
            add("passed", activity_id, f"Holdout '{activity_id}' passed")
    was = (before.status, before.activity, before.wake_at) if before else None
    if after.status == "WAITING" and after.wake_at and was != ("WAITING", after.activity, after.wake_at):
        kind = activity_kind(activities.get(after.activity or "") or {}) or "?"
        if after.starts_at:  # LocalTime: entered, not started yet
            add("waiting", after.activity, f"waiting until {stamp(after.wake_at)}, when the journey starts in its zone")
        else:
            if kind in MESSAGE_KINDS:  # held with its message: the message's line now, its "passed" at the release
                counts = report.activities.setdefault(after.activity or "", Counter())
                add(*_message(world, journey, after.activity or "", kind, after, deliveries, counts, entry.counts))
            add("waiting", after.activity, f"waiting at '{after.activity}' until {stamp(after.wake_at)}")
    if after.status in ("FINISHED", "HELD_OUT") and (before is None or before.status != after.status):
        last = after.path[-1] if after.path else None
        if after.status == "HELD_OUT":
            add("held_out", last, f"held out at '{last}'")
        elif before is not None and before.path == after.path:
            add("left", before.activity, f"left at '{before.activity}' (its endpoint is gone)")
        else:
            add("left", last, f"left at '{last}'" if last else "left")
    return lines


def _message(
    world: World,
    journey: dict[str, Any],
    activity_id: str,
    kind: str,
    after: Participant,
    deliveries: dict[str, Delivery],
    counts: Counter[str],
    outcomes: Mapping[str, int],
) -> tuple[str, str, str]:
    message_id = after.messages.get(activity_id, "")
    queued = world.sender.queued.get(message_id)
    gated = next((GATED[o] for o in GATED if outcomes.get(counter(activity_id, o))), None)
    if queued is None and gated is not None:
        counts[gated[0]] += 1
        return "not_sent", activity_id, f"{kind} activity '{activity_id}' not sent: {gated[1]}"
    if queued is None:
        counts["not sent"] += 1
        reason = _refusal(world, journey, activity_id, kind, after.endpoint_id)
        return "not_sent", activity_id, f"{kind} activity '{activity_id}' not sent: {reason}"
    if queued.not_before and _instant(queued.not_before) > _instant(queued.accepted_at):
        counts["held for quiet time"] += 1
        until = stamp(_instant(queued.not_before))
        return "held", activity_id, f"{kind} activity '{activity_id}' held for quiet time until {until}"
    delivery = deliveries.get(message_id)
    status = delivery.status if delivery else "queued"
    counts["sent"] += 1
    counts[status] += 1
    return "sent", activity_id, f"{kind} activity '{activity_id}' sent ({status})"


def _delivery(entry: Delivery, activities: dict[str, dict[str, Any]], report: Report) -> None:
    message = entry.message
    if entry.status == "duplicate":
        report.duplicates += 1
        return
    if not (message.not_before and _instant(message.not_before) > _instant(message.accepted_at)):
        return  # sent at once: its line is the activity's
    activity_id = message.attribution.get("journey_activity_id", "")
    kind = activity_kind(activities.get(activity_id) or {}) or message.channel
    counts = report.activities.setdefault(activity_id, Counter())
    counts["sent"] += 1
    counts[entry.status] += 1
    text = f"{kind} activity '{activity_id}' sent ({entry.status})"
    report.lines[message.endpoint_id or ""].append(Line(entry.at, message.endpoint_id or "", "sent", activity_id, text))


def _reply(entry: Reply, report: Report) -> None:
    report.replies += 1
    activity_id = entry.message.attribution.get("journey_activity_id", "")
    body = json.dumps(entry.body, ensure_ascii=False)
    endpoint_id = entry.message.endpoint_id or ""
    text = f"replied {body} to '{activity_id}'"
    report.lines[endpoint_id].append(Line(entry.at, endpoint_id, "replied", activity_id, text))


def _refusal(world: World, journey: dict[str, Any], activity_id: str, kind: str, endpoint_id: str) -> str:
    """Why the send path refused the message: the same decision (kizuna.services.recipients), asked again."""
    body = (journey.get("Activities") or {}).get(activity_id, {}).get(kind) or {}
    request = journey_moves.message_request(kind, body)
    if request is None:
        return f"Kizuna does not send {kind} activities yet"
    endpoint = world.data.get_endpoint(world.app_id, endpoint_id)
    if endpoint is None:
        return "the endpoint is gone"
    try:
        ctx = context_for(world.deps.send, world.app_id, request, "bulk", None, None)
    except KizunaError as exc:
        return exc.message
    recipient = Recipient(endpoint["Id"], endpoint.get("ChannelType"), endpoint.get("Address", ""), {}, endpoint)
    outcome = prepare(recipient, ctx)
    return outcome.message if isinstance(outcome, Refusal) else "the send queue did not take it"


def _ordered(counts: Counter[str]) -> dict[str, int]:
    """Counts in reading order: passed, the message outcomes, then the branches taken."""
    first = [name for name in COUNT_ORDER if counts.get(name)]
    return {name: counts[name] for name in (*first, *sorted(n for n in counts if n not in COUNT_ORDER))}


def render(report: Report) -> str:
    journey = report.journey
    state = journey.get("State")
    if state == "COMPLETED":
        state = f"COMPLETED at {stamp(report.ended)}"
    out = [
        f"journey '{journey.get('Name')}' simulated from {stamp(report.start)} until {stamp(report.until)}: {state}",
        "",
    ]
    for lines in report.lines.values():
        out += [f"{stamp(line.at)}  {line.endpoint_id}  {line.text}" for line in lines] + [""]
    summary = report.summary()
    statuses = ", ".join(f"{n} {s.lower().replace('_', ' ')}" for s, n in summary["statuses"].items())
    out += [
        "summary",
        f"  participants      {summary['participants']}" + (f" ({statuses})" if statuses else ""),
        f"  executions        {summary['executions']} ({summary['continued_as_new']} continued as new)",
        f"  wake-ups          {summary['wake_ups']}",
        f"  replies           {summary['replies']}",
    ]
    if report.duplicates:
        out.append(f"  repeated sends    {report.duplicates} (refused by the sender's claim)")
    out.append("  activities")
    width = max((len(a) for a in report.activities), default=0)
    for activity_id, details in summary["activities"].items():
        counts = ", ".join(f"{n} {name}" for name, n in details.items() if name != "kind") or "never reached"
        out.append(f"    {activity_id.ljust(width)}  {(details['kind'] or '?').ljust(16)}  {counts}")
    if report.recommendations:
        out += ["", "review recommendations"]
        out += [f"  {f['Code']}: {f['Message']}" for f in report.recommendations]
    return "\n".join(out)


def dumps(report: Report) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
