"""`kizuna journeys simulate`: run a journey on the virtual clock with the production engine over in-memory stores,
and print each participant's path with timestamps and a summary (docs/journeys.md, "Simulator").

    kizuna journeys simulate JOURNEY.json --endpoints FILE [--until 540d] [--start 2026-12-01T09:00:00Z]
        [--deliver PERCENT] [--fail ENDPOINT_ID ...] [--replies FILE] [--segments FILE] [--journey-id ID] [--json]

JOURNEY.json is a WriteJourneyRequest (what create_journey takes, bare or as {"WriteJourneyRequest": ...}); FILE
holds EndpointRequests with their Id, as JSON lines, a JSON array or an EndpointBatchRequest. Every endpoint enters
the journey's start segment unless --segments defines it. Nothing leaves the machine.

Exit 0 after a simulation; 2 when an input cannot be read or the journey fails the review (its findings printed).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from kizuna.simulator.errors import JourneyRefused, SimulationError

_SHORT = re.compile(r"^\s*(\d+)\s*([wdhm])\s*$")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
_ISO_DURATION = TypeAdapter(timedelta)


def add_parser(subparsers: Any) -> None:
    journeys = subparsers.add_parser("journeys", help="journeys: simulate one on the virtual clock")
    commands = journeys.add_subparsers(dest="journeys_command", required=True)
    sim = commands.add_parser(
        "simulate",
        help="run a journey on the virtual clock with the production engine and print each participant's path",
    )
    sim.add_argument("journey", type=Path, help="a WriteJourneyRequest as JSON")
    sim.add_argument(
        "--endpoints",
        type=Path,
        required=True,
        help="EndpointRequests with their Id: JSON lines, a JSON array or an EndpointBatchRequest",
    )
    sim.add_argument(
        "--until",
        type=duration,
        default=timedelta(days=540),
        help="how long to simulate from the start: 540d, 36h, 90m, 2w or ISO 8601 (P14D); default 540d",
    )
    sim.add_argument("--start", type=instant, help="ISO 8601 (default: the journey's Schedule.StartTime, else now)")
    sim.add_argument(
        "--deliver",
        type=percent,
        default=100,
        metavar="PERCENT",
        help="share of messages delivered, chosen by a hash of the message id; the rest are undelivered (100)",
    )
    sim.add_argument(
        "--fail", action="append", default=[], metavar="ENDPOINT_ID", help="its messages are undelivered; repeatable"
    )
    sim.add_argument(
        "--replies",
        type=Path,
        help="JSON object: endpoint id → reply body (answers its first delivered SMS or WhatsApp message) "
        'or → {"activity id": body}',
    )
    sim.add_argument(
        "--segments", type=Path, help="JSON object: segment id → WriteSegmentRequest; then only these segments exist"
    )
    sim.add_argument(
        "--journey-id",
        help="the journey's id in Kizuna, so holdouts and random splits fall as they do there (default: from the file)",
    )
    sim.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    try:
        report = simulate(args)
    except JourneyRefused as exc:
        if args.json:
            refused = {"error": str(exc), "errors": exc.errors, "recommendations": exc.recommendations}
            print(json.dumps(refused, ensure_ascii=False, indent=2))
        print(f"kizuna journeys simulate: {args.journey}: {exc}", file=sys.stderr)
        for finding in exc.errors:
            where = f" (activity {finding['Activity']})" if finding.get("Activity") else ""
            print(f"  {finding['Code']}{where}: {finding['Message']}", file=sys.stderr)
        return 2
    except SimulationError as exc:
        print(f"kizuna journeys simulate: {exc}", file=sys.stderr)
        return 2
    from kizuna.simulator import report as reports

    print(reports.dumps(report) if args.json else reports.render(report))
    return 0


def simulate(args: argparse.Namespace) -> Any:
    from kizuna.simulator import report as reports
    from kizuna.simulator.driver import run_state_machine
    from kizuna.simulator.world import Options, build, parse_endpoints

    journey = _read_json(args.journey, "a WriteJourneyRequest")
    if isinstance(journey.get("WriteJourneyRequest"), dict):
        journey = journey["WriteJourneyRequest"]
    endpoints = parse_endpoints(_read_text(args.endpoints), str(args.endpoints))
    ids = {e["Id"] for e in endpoints}
    replies = _replies(_read_json(args.replies, "a JSON object of replies"), args.replies) if args.replies else {}
    for endpoint_id in (*replies, *args.fail):
        if endpoint_id not in ids:
            raise SimulationError(f"endpoint {endpoint_id!r} (--replies or --fail) is not in {args.endpoints}")
    segments = _read_json(args.segments, "a JSON object of segments") if args.segments else None
    start = args.start or _schedule_start(journey) or datetime.now(UTC).replace(second=0, microsecond=0)
    until = start + args.until
    options = Options(args.deliver, frozenset(args.fail), replies, segments, args.journey_id)
    world = build(journey, endpoints, start, options)
    run_id = world.journey["RunId"]
    execution = run_state_machine(
        world.deps, world.clock, world.app_id, world.journey_id, run_id, until, world.sender.run_until
    )
    ended = world.clock.now()
    world.sender.run_until(until)  # what the run left queued (held for quiet time) still goes out
    return reports.build(world, execution, start, until, ended)


# -- argument types -------------------------------------------------------------------------------------------------


def duration(value: str) -> timedelta:
    short = _SHORT.match(value)
    try:
        length = (
            timedelta(**{_UNITS[short.group(2)]: int(short.group(1))})
            if short
            else _ISO_DURATION.validate_python(value.strip())
        )
    except (ValidationError, OverflowError):
        length = None
    if length is None or length <= timedelta():
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive duration (540d, 36h, 90m, 2w or ISO 8601, P14D)")
    return length


def instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time (2026-12-01T09:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def percent(value: str) -> int:
    if not value.strip().isdigit() or not 0 <= int(value) <= 100:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole percentage from 0 to 100")
    return int(value)


# -- files ----------------------------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SimulationError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise SimulationError(f"{path}: not UTF-8 text") from None


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_read_text(path).lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise SimulationError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(value, dict):
        raise SimulationError(f"{path}: must hold {what}")
    return value


def _replies(value: dict[str, Any], path: Path) -> dict[str, str | dict[str, str]]:
    for endpoint_id, reply in value.items():
        by_activity = isinstance(reply, dict) and all(isinstance(v, str) for v in reply.values())
        if not isinstance(reply, str) and not by_activity:
            raise SimulationError(f"{path}: the reply of {endpoint_id!r} must be a body or {{activity id: body}}")
    return value


def _schedule_start(journey: dict[str, Any]) -> datetime | None:
    """When the journey opens for its first participant: Schedule.StartTime, or with LocalTime that wall clock in the
    earliest zone (None when unset or unreadable: the review reports BAD_SCHEDULE)."""
    from kizuna.domain.journey_schedule import window_of

    return window_of(journey).first_start
