"""`kizuna migrate plan|apply`: move a Pinpoint project defined in CloudFormation (or synthesized by CDK) to Kizuna.

    kizuna migrate plan TEMPLATE.(yaml|json) [--journey J.json ...] [--json] [--parameter NAME=VALUE ...]
                        [--stack-name NAME]
    kizuna migrate apply TEMPLATE --endpoint-url URL [--journey J.json ...] [--parameter NAME=VALUE ...]
                         [--report report.json] [--json]

plan reads the template only (exit 2 when a resource cannot move or is held, else 0); apply creates what moves
through the API with KIZUNA_ACCESS_KEY_ID / KIZUNA_SECRET_ACCESS_KEY (an admin key: it creates an app and
account-wide templates), and can be run again safely. docs/migrating-from-pinpoint.md tells the whole path.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    migrate = subparsers.add_parser("migrate", help="move a Pinpoint CloudFormation/CDK stack's resources to Kizuna")
    commands = migrate.add_subparsers(dest="migrate_command", required=True)
    plan = commands.add_parser("plan", help="what each Pinpoint resource of a template becomes, and what cannot move")
    _common(plan)
    apply = commands.add_parser("apply", help="create (or update) those resources in Kizuna, idempotently")
    _common(apply)
    apply.add_argument("--endpoint-url", required=True, help="Kizuna's API URL (stack output ManagementApiUrl)")
    apply.add_argument("--report", type=Path, help="also write the report as JSON to this file")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "template", type=Path, help="a CloudFormation template, JSON or YAML (e.g. cdk.out/X.template.json)"
    )
    parser.add_argument(
        "--parameter", action="append", default=[], metavar="NAME=VALUE",
        help="a template parameter, pseudo parameter (AWS::AccountId) or a non-Pinpoint resource's value "
        "(Stream.Arn, Role); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--stack-name", help="AWS::StackName, and the marker apply tags the app with (default: file name)"
    )
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument(
        "--journey", action="append", default=[], type=Path, metavar="JOURNEY.json",
        help="a journey (WriteJourneyRequest or get_journey's JourneyResponse) to move with the template's app; "
        "a SegmentId may name a template segment by logical id; repeatable",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from kizuna.migrate.journeys import with_journeys
    from kizuna.migrate.resolve import Resolver, Unresolvable
    from kizuna.migrate.template import TemplateError, load_template

    try:
        template = with_journeys(load_template(args.template), args.journey)
    except TemplateError as exc:
        raise SystemExit(str(exc)) from None
    stack = args.stack_name or args.template.name.split(".")[0]
    region = args.region or "us-east-1"
    parameters = _parameters(args.parameter)
    now = datetime.now(UTC)
    try:
        if args.migrate_command == "plan":
            from kizuna.migrate import plan

            result = plan.build_plan(template, str(args.template), Resolver(template, stack, region, parameters), now)
            print(plan.dumps(result) if args.json else plan.render(result))
            return result.exit_code
        from kizuna.migrate import apply

        report = apply.apply(_pinpoint(args, region), template, str(args.template), stack, region, parameters, now)
    except Unresolvable as exc:
        raise SystemExit(f"{args.template}: {exc}") from None
    if args.report:
        args.report.write_text(apply.dumps(report) + "\n", encoding="utf-8")
    print(apply.dumps(report) if args.json else apply.render(report))
    return report.exit_code


def _parameters(pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--parameter takes NAME=VALUE; got {pair!r}")
        parameters[name] = value
    return parameters


def _pinpoint(args: argparse.Namespace, region: str) -> Any:
    import boto3

    key_id, secret = os.environ.get("KIZUNA_ACCESS_KEY_ID"), os.environ.get("KIZUNA_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        raise SystemExit("Set KIZUNA_ACCESS_KEY_ID and KIZUNA_SECRET_ACCESS_KEY (kizuna keys create prints them)")
    return boto3.client(
        "pinpoint", endpoint_url=args.endpoint_url, region_name=region,
        aws_access_key_id=key_id, aws_secret_access_key=secret,
    )  # fmt: skip
