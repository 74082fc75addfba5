"""Journeys for `kizuna migrate`: CloudFormation never had a Pinpoint journey type, so teams keep their journeys as
JSON (what they passed to `create_journey`, or what `get_journey` answered before Pinpoint closed). Each file given
with `--journey` joins the template as an `AWS::Pinpoint::Journey` resource (a type of Kizuna's migration, not of
CloudFormation), so it is planned, resolved and applied like everything else:

- its ApplicationId is the template's app (when the template has exactly one `AWS::Pinpoint::App`), unless the file
  names one (a logical id, or an intrinsic such as `{"Ref": "App"}`);
- a `SegmentId` naming a segment of the template by its logical id becomes that segment's new id, and any
  intrinsic (`{"Fn::GetAtt": ["Regulars", "SegmentId"]}`, `{"Ref": "WelcomeSms"}` for a template's name) is resolved
  the way CloudFormation would;
- a journey can also be written straight into the template as an `AWS::Pinpoint::Journey` resource.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from kizuna.migrate.template import TemplateError

JOURNEY_TYPE = "AWS::Pinpoint::Journey"
# What get_journey answered but create_journey does not take.
RESPONSE_ONLY = ("Id", "ApplicationId", "Arn", "CreationDate", "LastModifiedDate", "tags", "JourneyChannelSettings")


def with_journeys(template: dict[str, Any], files: list[Path]) -> dict[str, Any]:
    """The template with each journey file added as an AWS::Pinpoint::Journey resource (logical id from its name)."""
    if not files:
        return template
    resources = dict(template["Resources"])
    apps = [lid for lid, r in resources.items() if isinstance(r, dict) and r.get("Type") == "AWS::Pinpoint::App"]
    segments = {
        lid for lid, r in resources.items() if isinstance(r, dict) and r.get("Type") == "AWS::Pinpoint::Segment"
    }
    for path in files:
        request, app = _read(path)
        logical_id = _logical_id(path, resources)
        if app is None:
            if len(apps) != 1:
                raise TemplateError(
                    f'{path}: say which app the journey belongs to ("ApplicationId": a logical id): the template '
                    f"has {len(apps)} AWS::Pinpoint::App resources"
                )
            app = {"Ref": apps[0]}
        elif isinstance(app, str) and app in resources:
            app = {"Ref": app}
        resources[logical_id] = {
            "Type": JOURNEY_TYPE,
            "Properties": {"ApplicationId": app, **_segments(request, segments)},
        }
    return {**template, "Resources": resources}


def _read(path: Path) -> tuple[dict[str, Any], Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise TemplateError(f"{path}: not JSON: {exc}") from None
    if isinstance(document, dict):
        document = document.get("WriteJourneyRequest") or document.get("JourneyResponse") or document
    if not isinstance(document, dict) or not isinstance(document.get("Activities"), dict):
        raise TemplateError(f"{path}: a journey (WriteJourneyRequest or JourneyResponse) with Activities")
    app = document.get("ApplicationId")
    return {k: v for k, v in document.items() if k not in RESPONSE_ONLY}, app


def _segments(value: Any, segments: set[str]) -> Any:
    """Every SegmentId naming a template segment by logical id, as a reference to that segment's new id."""
    if isinstance(value, dict):
        return {
            k: {"Fn::GetAtt": [v, "SegmentId"]} if k == "SegmentId" and v in segments else _segments(v, segments)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_segments(v, segments) for v in value]
    return value


def _logical_id(path: Path, resources: dict[str, Any]) -> str:
    base = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", path.stem) if part) or "Journey"
    logical_id, n = base, 2
    while logical_id in resources:
        logical_id, n = f"{base}{n}", n + 1
    return logical_id
