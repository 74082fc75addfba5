"""`kizuna migrate plan`: every AWS::Pinpoint::* and AWS::PinpointEmail::* resource of a CloudFormation template, in
the order apply creates them, with the Kizuna API call that recreates it and what stands in the way.

A resource's status:
- `move`: apply recreates it (its `decisions` say what a human still has to do or confirm, e.g. a Twilio sender);
- `held`: it could move but needs input first (a value only a human knows, such as the ARN of a Kinesis stream
  that is not a Pinpoint resource, or a campaign start that is already past); apply skips it and says why;
- `cannot`: Kizuna has nothing to recreate it with (push channels, in-app and push templates, push messages);
- `external`: an SES resource (AWS::PinpointEmail::*) that stays with SES, in the account Kizuna sends from;
- `omitted`: its Condition is false, so the stack never created it.
A resource that depends on one that is held or cannot move is held too. The exit code is 2 when anything is held
or cannot move, else 0.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from kizuna.migrate.mapping import CALLS, CANNOT_MOVE, SES_RESOURCES, map_resource
from kizuna.migrate.resolve import PINPOINT, Resolver, Unresolvable

EXIT_OK, EXIT_BLOCKED = 0, 2
RANK = {
    "App": 0, "ApplicationSettings": 1, "SMSChannel": 2, "VoiceChannel": 2, "EmailChannel": 2, "EventStream": 3,
    "SmsTemplate": 4, "EmailTemplate": 4, "VoiceTemplate": 4, "Segment": 5, "Campaign": 6, "Journey": 7,
}  # fmt: skip


@dataclass
class Item:
    logical_id: str
    type: str
    status: str  # move, held, cannot, external, omitted
    kind: str | None = None
    call: str | None = None
    member: str | None = None  # the call's request member, e.g. WriteCampaignRequest
    name: str | None = None
    app: Any = None
    request: dict[str, Any] | None = None
    depends_on: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def shown_status(self) -> str:
        return "decide" if self.status == "move" and self.decisions else self.status


@dataclass
class Plan:
    template: str
    stack_name: str
    items: list[Item]
    other_resources: int

    @property
    def exit_code(self) -> int:
        return EXIT_BLOCKED if any(i.status in ("held", "cannot") for i in self.items) else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.shown_status] = counts.get(item.shown_status, 0) + 1
        return {
            "template": self.template,
            "stack_name": self.stack_name,
            "resources": [{**asdict(i), "status": i.shown_status} for i in self.items],
            "other_resources": self.other_resources,
            "summary": counts,
            "exit_code": self.exit_code,
        }


def is_pinpoint(resource: Any) -> bool:
    kind = str((resource or {}).get("Type", "")) if isinstance(resource, dict) else ""
    return kind.startswith(PINPOINT) or kind in SES_RESOURCES


def build_plan(template: dict[str, Any], source: str, resolver: Resolver, now: datetime) -> Plan:
    resources = template.get("Resources") or {}
    items = {lid: plan_item(resolver, lid, res, now) for lid, res in resources.items() if is_pinpoint(res)}
    ordered = _order(items)
    for item in ordered:
        for dep in item.depends_on:
            blocked = items[dep].status in ("held", "cannot", "omitted")
            if blocked and item.status == "move":
                item.status = "held"
            if blocked and item.status == "held":
                item.holds.append(f"depends on {dep}, which {_why(items[dep].status)}")
    return Plan(source, resolver.pseudo["AWS::StackName"], ordered, len(resources) - len(items))


def plan_item(resolver: Resolver, logical_id: str, resource: dict[str, Any], now: datetime) -> Item:
    """One resource, resolved as far as `resolver` knows (apply calls this again once its dependencies exist)."""
    kind = str(resource.get("Type"))
    item = Item(logical_id, kind, "move")
    short = kind.removeprefix(PINPOINT)
    if kind in SES_RESOURCES:
        item.status = "external"
        item.decisions.append(
            f"an SES resource, not Kizuna's: recreate it as {SES_RESOURCES[kind]} in the account Kizuna sends from"
        )
        return item
    if short in CANNOT_MOVE or short not in CALLS:
        item.status = "cannot"
        item.blockers.append(CANNOT_MOVE.get(short) or f"{kind} is not a resource type Kizuna knows")
        return item
    try:
        if resource.get("Condition"):
            condition = resolver.condition(resource["Condition"])
            if condition.value is False:
                item.status = "omitted"
                item.notes.append(f"its Condition {resource['Condition']} is false: the stack does not create it")
                return item
            if condition.value is None:
                item.holds.append(f"its Condition {resource['Condition']} needs {_names(condition.missing)}")
        resolved = resolver.resolve(resource.get("Properties") or {})
    except Unresolvable as exc:
        item.status = "cannot"
        item.blockers.append(str(exc))
        return item
    depends = set(resolved.depends_on)
    extra = resource.get("DependsOn") or []
    depends |= {d for d in ([extra] if isinstance(extra, str) else extra) if is_pinpoint(resolver.resources.get(d))}
    item.depends_on = sorted(depends - {logical_id})
    mapped = map_resource(short, resolved.value or {}, now)
    item.kind, item.call, item.member, item.name = mapped.kind, mapped.call, mapped.member, mapped.name
    item.app, item.request = mapped.app, mapped.request
    item.decisions, item.blockers, item.notes = mapped.decisions, mapped.blockers, mapped.notes
    item.holds += mapped.holds
    if resolved.missing:
        item.holds.append(f"needs {_names(resolved.missing)}: pass --parameter NAME=VALUE")
    if mapped.kind != "template" and mapped.kind != "app" and mapped.app is None:
        item.blockers.append("ApplicationId is required")
    item.status = "cannot" if item.blockers else "held" if item.holds else "move"
    return item


def render(plan: Plan) -> str:
    rows = [("LOGICAL ID", "TYPE", "NAME", "KIZUNA", "STATUS")]
    for item in plan.items:
        rows.append((item.logical_id, _short(item.type), item.name or "", item.call or "-", item.shown_status))
    widths = [max(len(str(r[c])) for r in rows) for c in range(len(rows[0]))]
    lines = [
        f"kizuna migrate plan: {plan.template} (stack {plan.stack_name}): {len(plan.items)} Pinpoint resources"
        + (f", {plan.other_resources} other resources left to CloudFormation" if plan.other_resources else ""),
        "",
    ]
    lines += ["  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    sections = (
        ("Decisions (someone has to act on them)", "decisions", ("move", "held", "external")),
        ("Held until given (apply skips them)", "holds", ("held",)),
        ("Cannot move", "blockers", ("cannot",)),
    )
    for title, member, statuses in sections:
        entries = [(i.logical_id, text) for i in plan.items if i.status in statuses for text in getattr(i, member)]
        if entries:
            width = max(len(lid) for lid, _ in entries)
            lines += ["", f"{title}:"] + [f"  {lid.ljust(width)}  {text}" for lid, text in entries]
    counts = plan.to_json()["summary"]
    lines += ["", "Result: " + ", ".join(f"{n} {status}" for status, n in counts.items()) + f" → exit {plan.exit_code}"]
    return "\n".join(lines)


def dumps(plan: Plan) -> str:
    return json.dumps(plan.to_json(), ensure_ascii=False, indent=2)


def _order(items: dict[str, Item]) -> list[Item]:
    """Dependencies first; among the ready ones, apps before settings and channels, templates before segments
    before campaigns, then by logical id. A cycle cannot be created in any order."""
    waiting = {lid: {d for d in item.depends_on if d in items} for lid, item in items.items()}
    ordered: list[Item] = []
    while waiting:
        ready = sorted(
            (lid for lid, deps in waiting.items() if not deps),
            key=lambda lid: (RANK.get(items[lid].type.removeprefix(PINPOINT), 9), lid),
        )
        if not ready:
            for lid in sorted(waiting):
                items[lid].status = "cannot"
                items[lid].blockers.append(f"its references form a cycle: {', '.join(sorted(waiting))}")
                ordered.append(items[lid])
            break
        first = ready[0]
        ordered.append(items[first])
        del waiting[first]
        for deps in waiting.values():
            deps.discard(first)
    return ordered


def _why(status: str) -> str:
    return {"held": "is held", "cannot": "cannot move", "omitted": "the stack does not create"}[status]


def _names(names: set[str]) -> str:
    return ", ".join(sorted(names))


def _short(kind: str) -> str:
    return kind.removeprefix(PINPOINT) if kind.startswith(PINPOINT) else kind.removeprefix("AWS::")
