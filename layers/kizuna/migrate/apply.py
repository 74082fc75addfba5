"""`kizuna migrate apply`: the plan carried out through Kizuna's API, in dependency order, idempotently — a second
run finds everything the first created (kizuna.migrate.apply_steps) and changes nothing.

Each resource is resolved again just before its call, with the ids Kizuna gave the resources it refers to, so a
campaign's `SegmentId: !GetAtt Regulars.SegmentId` is the new segment's id. The report lists each resource as
created, updated, unchanged, skipped (with the reason) or failed (with the API's error), with its new id. Exit code:
1 if a call failed, 2 if something was skipped that belongs in Kizuna (held or cannot move), else 0.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from kizuna.migrate.apply_steps import STEPS, Step, Target
from kizuna.migrate.plan import EXIT_BLOCKED, EXIT_OK, Item, Plan, build_plan, plan_item
from kizuna.migrate.resolve import Resolver

EXIT_FAILED = 1


@dataclass
class Outcome:
    logical_id: str
    type: str
    outcome: str  # created, updated, unchanged, skipped, failed
    id: str | None = None
    call: str | None = None
    reason: str | None = None
    blocking: bool = False


@dataclass
class Report:
    template: str
    stack_name: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if any(o.outcome == "failed" for o in self.outcomes):
            return EXIT_FAILED
        return EXIT_BLOCKED if any(o.outcome == "skipped" and o.blocking for o in self.outcomes) else EXIT_OK

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "stack_name": self.stack_name,
            "resources": [asdict(o) for o in self.outcomes],
            "summary": self.counts(),
            "exit_code": self.exit_code,
        }


def apply(
    pinpoint: Any,
    template: dict[str, Any],
    source: str,
    stack_name: str,
    region: str,
    parameters: dict[str, str],
    now: datetime,
) -> Report:
    outputs: dict[str, dict[str | None, Any]] = {}
    resolver = Resolver(template, stack_name, region, parameters, lambda lid, attr: outputs.get(lid, {}).get(attr))
    plan: Plan = build_plan(template, source, resolver, now)
    report = Report(source, stack_name)
    for planned in plan.items:
        outcome = _one(pinpoint, resolver, template, planned, outputs, now)
        report.outcomes.append(outcome)
    return report


def _one(
    pinpoint: Any,
    resolver: Resolver,
    template: dict[str, Any],
    planned: Item,
    outputs: dict[str, dict[str | None, Any]],
    now: datetime,
) -> Outcome:
    base = Outcome(planned.logical_id, planned.type, "skipped", call=planned.call)
    if planned.status != "move":
        base.reason = "; ".join(planned.blockers or planned.holds or planned.decisions or planned.notes)
        base.blocking = planned.status in ("held", "cannot")
        return base
    absent = [d for d in planned.depends_on if d not in outputs]
    if absent:
        base.reason, base.blocking = f"depends on {', '.join(absent)}, which was not created or found", True
        return base
    item = plan_item(resolver, planned.logical_id, template["Resources"][planned.logical_id], now)
    if item.status != "move" or item.kind is None:  # resolving with the real ids found a problem
        base.reason, base.blocking = "; ".join(item.blockers or item.holds), True
        return base
    marker = f"{resolver.pseudo['AWS::StackName']}/{item.logical_id}"
    target = Target(str(item.call), str(item.member), item.request or {}, item.app, item.name, marker)
    try:
        step: Step = STEPS[item.kind](pinpoint, target)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return Outcome(
            item.logical_id, item.type, "failed", None, item.call, f"{error.get('Code')}: {error.get('Message')}"
        )
    if step.outcome != "skipped":
        outputs[item.logical_id] = step.outputs
    return Outcome(item.logical_id, item.type, step.outcome, step.id, item.call, step.reason, step.blocking)


def render(report: Report) -> str:
    rows = [("LOGICAL ID", "RESULT", "ID", "WHY")]
    rows += [(o.logical_id, o.outcome, o.id or "-", o.reason or "") for o in report.outcomes]
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    lines = [f"kizuna migrate apply: {report.template} (stack {report.stack_name})", ""]
    for row in rows:
        lines.append("  " + "  ".join([*(v.ljust(w) for v, w in zip(row[:3], widths, strict=True)), row[3]]).rstrip())
    summary = ", ".join(f"{n} {outcome}" for outcome, n in report.counts().items())
    return "\n".join([*lines, "", f"Result: {summary} → exit {report.exit_code}"])


def dumps(report: Report) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2)
