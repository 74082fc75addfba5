"""One step of `kizuna migrate apply` per kind of resource: find what an earlier run created, compare, and create,
update or leave it — through the stock boto3 pinpoint client, so a deployed Kizuna and local mode are alike.

How an earlier run's resource is found (the deterministic markers):
- the app: by the tag `kizuna:migrated-from=<stack>/<logical id>` (GetApps lists tags), and its Name;
- settings, channels, the event stream: they belong to the app (one each);
- templates (account-wide): by TemplateName; created with the same tag, and only a template carrying it is updated
  (another one of that name is left alone and reported);
- segments and campaigns: by Name within the app.
Equal means every field the template sets has the value Kizuna holds, counting fields Kizuna fills in (a segment
version, treatment ids, the instant an IMMEDIATE start was accepted) as what they were filled with.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MARKER = "kizuna:migrated-from"
# Members of a WriteCampaignRequest that a campaign keeps (tags aside).
CAMPAIGN_FIELDS = (
    "AdditionalTreatments", "CustomDeliveryConfiguration", "Description", "HoldoutPercent", "Hook", "IsPaused",
    "Limits", "MessageConfiguration",
    "Name", "Priority", "Schedule", "SegmentId", "SegmentVersion", "TemplateConfiguration", "TreatmentDescription",
    "TreatmentName",
)  # fmt: skip
SETTINGS_WRITE_ONLY = ("CloudWatchMetricsEnabled", "EventTaggingEnabled")  # accepted, never read back
# UpdateXChannel → (get method, update method, response member)
CHANNELS = {
    "UpdateSmsChannel": ("get_sms_channel", "update_sms_channel", "SMSChannelResponse"),
    "UpdateVoiceChannel": ("get_voice_channel", "update_voice_channel", "VoiceChannelResponse"),
    "UpdateEmailChannel": ("get_email_channel", "update_email_channel", "EmailChannelResponse"),
}
# CreateXTemplate → (method suffix, response member, template type)
TEMPLATES = {
    "CreateSmsTemplate": ("sms_template", "SMSTemplateResponse", "SMS"),
    "CreateEmailTemplate": ("email_template", "EmailTemplateResponse", "EMAIL"),
    "CreateVoiceTemplate": ("voice_template", "VoiceTemplateResponse", "VOICE"),
}


@dataclass
class Step:
    outcome: str  # created, updated, unchanged, skipped
    id: str | None = None
    outputs: dict[str | None, Any] = field(default_factory=dict)  # attribute (None: Ref) → value, for references
    reason: str | None = None
    blocking: bool = True  # for skipped: something of the template did not move


@dataclass
class Target:
    """What a step needs of a plan item, fully resolved."""

    call: str
    member: str
    request: dict[str, Any]
    app: str | None
    name: str | None
    marker: str  # <stack>/<logical id>


def app(pinpoint: Any, t: Target) -> Step:
    ours = [
        a for a in _pages(pinpoint.get_apps, "ApplicationsResponse") if (a.get("tags") or {}).get(MARKER) == t.marker
    ]
    if not ours:
        request = {**t.request, "tags": {**(t.request.get("tags") or {}), MARKER: t.marker}}
        created = pinpoint.create_app(CreateApplicationRequest=request)["ApplicationResponse"]
        return Step("created", created["Id"], _app_outputs(created))
    found = min(ours, key=lambda a: (a.get("Name") != t.name, a.get("CreationDate", "")))
    reason = None
    if found.get("Name") != t.name:
        reason = f"the app keeps its name {found.get('Name')!r}: Pinpoint's API has no way to rename an app"
    return Step("unchanged", found["Id"], _app_outputs(found), reason)


def settings(pinpoint: Any, t: Target) -> Step:
    current = pinpoint.get_application_settings(ApplicationId=t.app)["ApplicationSettingsResource"]
    readable = {k: v for k, v in t.request.items() if k not in SETTINGS_WRITE_ONLY}
    if same(readable, {k: current.get(k) for k in readable}):
        return Step("unchanged", t.app, {None: t.app})
    pinpoint.update_application_settings(ApplicationId=t.app, WriteApplicationSettingsRequest=t.request)
    return Step("updated", t.app, {None: t.app})


def channel(pinpoint: Any, t: Target) -> Step:
    get, update, member = CHANNELS[t.call]
    current = getattr(pinpoint, get)(ApplicationId=t.app)[member]
    if current.get("Version") and same(t.request, {k: current.get(k) for k in t.request}):
        return Step("unchanged", t.app, {None: t.app})
    getattr(pinpoint, update)(ApplicationId=t.app, **{t.member: t.request})
    return Step("updated" if current.get("Version") else "created", t.app, {None: t.app})


def event_stream(pinpoint: Any, t: Target) -> Step:
    try:
        current = pinpoint.get_event_stream(ApplicationId=t.app)["EventStream"]
    except pinpoint.exceptions.NotFoundException:
        current = None
    if current is not None and same(t.request, {k: current.get(k) for k in t.request}):
        return Step("unchanged", t.app, {None: t.app})
    pinpoint.put_event_stream(ApplicationId=t.app, WriteEventStream=t.request)
    return Step("created" if current is None else "updated", t.app, {None: t.app})


def template(pinpoint: Any, t: Target) -> Step:
    suffix, member, kind = TEMPLATES[t.call]
    content = {k: v for k, v in t.request.items() if k != "tags"}
    try:
        current = getattr(pinpoint, f"get_{suffix}")(TemplateName=t.name)[member]
    except pinpoint.exceptions.NotFoundException:
        request = {**t.request, "tags": {**(t.request.get("tags") or {}), MARKER: t.marker}}
        created = getattr(pinpoint, f"create_{suffix}")(TemplateName=t.name, **{t.member: request})
        return Step("created", t.name, {None: t.name, "Arn": created["CreateTemplateMessageBody"].get("Arn")})
    outputs = {None: t.name, "Arn": current.get("Arn")}
    if same(content, {k: current.get(k) for k in content}):
        return Step("unchanged", t.name, outputs)
    if (current.get("tags") or {}).get(MARKER) != t.marker:
        reason = f"a {kind} template named {t.name} exists that this migration did not create; it is left as it is"
        return Step("skipped", t.name, outputs, reason)
    # A new version, made the active one: what sends use changes, and the earlier text stays in the history.
    getattr(pinpoint, f"update_{suffix}")(TemplateName=t.name, CreateNewVersion=True, **{t.member: content})
    versions = pinpoint.list_template_versions(TemplateName=t.name, TemplateType=kind)["TemplateVersionsResponse"]
    latest = max(int(v["Version"]) for v in versions["Item"])
    pinpoint.update_template_active_version(
        TemplateName=t.name, TemplateType=kind, TemplateActiveVersionRequest={"Version": str(latest)}
    )
    return Step("updated", t.name, outputs, f"version {latest} is now the active version")


def segment(pinpoint: Any, t: Target) -> Step:
    found = _named(pinpoint.get_segments, "SegmentsResponse", t)
    if isinstance(found, Step):
        return found
    if found is None:
        created = pinpoint.create_segment(ApplicationId=t.app, WriteSegmentRequest=t.request)["SegmentResponse"]
        return Step("created", created["Id"], _segment_outputs(created))
    if found.get("SegmentType") == "IMPORT":
        return Step("skipped", found["Id"], _segment_outputs(found), f"segment {t.name!r} is an imported segment")
    criteria = "SegmentGroups" if t.request.get("SegmentGroups") is not None else "Dimensions"
    if same(t.request.get(criteria) or {}, found.get(criteria) or {}):
        return Step("unchanged", found["Id"], _segment_outputs(found))
    updated = pinpoint.update_segment(
        ApplicationId=t.app,
        SegmentId=found["Id"],
        WriteSegmentRequest={k: v for k, v in t.request.items() if k != "tags"},
    )["SegmentResponse"]
    return Step("updated", updated["Id"], _segment_outputs(updated), f"version {updated['Version']}")


def campaign(pinpoint: Any, t: Target) -> Step:
    found = _named(pinpoint.get_campaigns, "CampaignsResponse", t)
    if isinstance(found, Step):
        return found
    if found is None:
        created = pinpoint.create_campaign(ApplicationId=t.app, WriteCampaignRequest=t.request)["CampaignResponse"]
        return Step("created", created["Id"], _campaign_outputs(created))
    expected = _expected_campaign(pinpoint, t, found)
    current = {k: found.get(k) for k in CAMPAIGN_FIELDS}
    if same(expected, current):
        return Step("unchanged", found["Id"], _campaign_outputs(found))
    request = dict(expected)
    for key, value in current.items():  # what the template no longer sets is reset, so the next run converges
        if key not in expected and value and key != "SegmentVersion":
            request[key] = type(value)()
    if "SegmentVersion" not in t.request:
        request.pop("SegmentVersion", None)  # the segment's latest version, as when the template was deployed
    reason = None
    if request.get("Schedule") != found.get("Schedule") and _immediate(t.request):
        request["Schedule"] = t.request["Schedule"]
        reason = "its schedule changed: an IMMEDIATE campaign runs again"
    updated = pinpoint.update_campaign(ApplicationId=t.app, CampaignId=found["Id"], WriteCampaignRequest=request)
    response = updated["CampaignResponse"]
    return Step("updated", response["Id"], _campaign_outputs(response), reason or f"version {response['Version']}")


def journey(pinpoint: Any, t: Target) -> Step:
    """Found by name. A draft is brought up to date; a published journey is not editable (as in Pinpoint), so a
    changed one is reported, not touched. A journey the file has ACTIVE is published (its run starts)."""
    found = _named(pinpoint.list_journeys, "JourneysResponse", t)
    if isinstance(found, Step):
        return found
    wanted = {k: v for k, v in t.request.items() if k != "State"}
    publish = t.request.get("State") == "ACTIVE"
    if found is None:
        created = pinpoint.create_journey(ApplicationId=t.app, WriteJourneyRequest={**wanted, "State": "DRAFT"})
        found = created["JourneyResponse"]
        outcome = "created"
    elif same(wanted, {k: found.get(k) for k in wanted}):
        outcome = "unchanged"
    elif found.get("State") == "DRAFT":
        request = {**wanted, "State": "DRAFT"}
        pinpoint.update_journey(ApplicationId=t.app, JourneyId=found["Id"], WriteJourneyRequest=request)
        outcome = "updated"
    else:
        reason = (
            f"journey {t.name!r} is {found.get('State')} and differs from the file: a published journey is not editable"
        )
        return Step("skipped", found["Id"], {"JourneyId": found["Id"]}, reason, blocking=False)
    if publish and found.get("State", "DRAFT") == "DRAFT":
        pinpoint.update_journey_state(
            ApplicationId=t.app, JourneyId=found["Id"], JourneyStateRequest={"State": "ACTIVE"}
        )
        outcome = "created" if outcome == "created" else "updated"
        return Step(outcome, found["Id"], {"JourneyId": found["Id"]}, "published")
    return Step(outcome, found["Id"], {"JourneyId": found["Id"]})


STEPS: dict[str, Callable[[Any, Target], Step]] = {
    "app": app,
    "settings": settings,
    "channel": channel,
    "event_stream": event_stream,
    "template": template,
    "segment": segment,
    "campaign": campaign,
    "journey": journey,
}


# -- comparing ------------------------------------------------------------------------------------------------------


def same(wanted: Any, held: Any) -> bool:
    """`wanted` equals `held`, where a member absent on one side equals an empty one on the other (Kizuna answers
    `HoldoutPercent: 0`, `IsPaused: false`, `Limits: {}` for what a template leaves out)."""
    if isinstance(wanted, dict) and isinstance(held, dict):
        return all(same(wanted.get(k), held.get(k)) for k in wanted.keys() | held.keys())
    if isinstance(wanted, list) and isinstance(held, list):
        return len(wanted) == len(held) and all(same(a, b) for a, b in zip(wanted, held, strict=True))
    if _empty(wanted) and _empty(held):
        return True
    if isinstance(held, datetime) and isinstance(wanted, str):  # boto3 parses timestamps (a journey's Schedule)
        try:
            return datetime.fromisoformat(wanted.replace("Z", "+00:00")) == held
        except ValueError:
            return False
    if isinstance(wanted, int | float) and isinstance(held, int | float) and not isinstance(wanted, bool):
        return float(wanted) == float(held)
    return bool(wanted == held)


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value is False or value == "" or value == 0


def _expected_campaign(pinpoint: Any, t: Target, found: dict[str, Any]) -> dict[str, Any]:
    """The template's campaign with what Kizuna fills in taken from what it holds."""
    expected = copy.deepcopy({k: v for k, v in t.request.items() if k in CAMPAIGN_FIELDS})
    if "SegmentVersion" not in expected:
        latest = pinpoint.get_segment(ApplicationId=t.app, SegmentId=expected["SegmentId"])["SegmentResponse"]
        expected["SegmentVersion"] = latest["Version"]
    if _immediate(expected):
        held = found.get("Schedule") or {}
        expected["Schedule"] = {**expected["Schedule"], "StartTime": held.get("StartTime", "IMMEDIATE")}
    held_treatments = found.get("AdditionalTreatments") or []
    for i, treatment in enumerate(expected.get("AdditionalTreatments") or []):
        treatment.setdefault("Id", held_treatments[i].get("Id") if i < len(held_treatments) else str(i + 1))
    return expected


def _immediate(request: dict[str, Any]) -> bool:
    return (request.get("Schedule") or {}).get("StartTime") == "IMMEDIATE"


# -- finding --------------------------------------------------------------------------------------------------------


def _pages(method: Callable[..., Any], member: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = method(**kwargs, **({"Token": token} if token else {}))[member]
        yield from page.get("Item") or []
        token = page.get("NextToken")
        if not token:
            return


def _named(method: Callable[..., Any], member: str, t: Target) -> dict[str, Any] | Step | None:
    matches = [x for x in _pages(method, member, ApplicationId=t.app) if x.get("Name") == t.name]
    if len(matches) > 1:
        ids = ", ".join(sorted(m["Id"] for m in matches))
        return Step("skipped", None, {}, f"{len(matches)} of the app's resources are named {t.name!r} ({ids})")
    return matches[0] if matches else None


def _app_outputs(app: dict[str, Any]) -> dict[str | None, Any]:
    return {None: app["Id"], "Id": app["Id"], "Arn": app.get("Arn")}


def _segment_outputs(segment: dict[str, Any]) -> dict[str | None, Any]:
    # CloudFormation's Ref of a segment is its application id (documented so); SegmentId is the attribute.
    return {None: segment["ApplicationId"], "SegmentId": segment["Id"], "Arn": segment.get("Arn")}


def _campaign_outputs(campaign: dict[str, Any]) -> dict[str | None, Any]:
    return {"CampaignId": campaign["Id"], "Arn": campaign.get("Arn")}
