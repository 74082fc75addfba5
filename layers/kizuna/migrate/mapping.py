"""One CloudFormation resource (its properties already resolved) → the Kizuna API call that recreates it, and what
a human has to decide or cannot move.

CloudFormation's property names are mostly the API's; the differences are mapped here: `Tags` → `tags`, a
campaign's `CampaignHook` → `Hook`, `Schedule.TimeZone` → `Schedule.Timezone` (also in treatments), and Json-typed
properties given as JSON strings (`Dimensions.Attributes`, `EventFilter.Dimensions.Metrics`, `Tags`, ...). Values are
then coerced to the API's shapes from botocore's Pinpoint model (`"5"` → 5, `"true"` → True, 12345 → `"12345"`), so
what is sent validates exactly as the stock client validates it. Kizuna's own validators (segments, campaigns,
schedules, Handlebars) run on the result, so what the API would refuse is known before anything is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from kizuna.errors import BadRequest

PUSH_CHANNELS = (
    "APNSChannel", "APNSSandboxChannel", "APNSVoipChannel", "APNSVoipSandboxChannel", "GCMChannel", "BaiduChannel",
    "ADMChannel",
)  # fmt: skip
NO_PUSH = "Kizuna sends SMS, voice, WhatsApp and e-mail through Twilio and SES; it has no push or in-app messaging"

# Pinpoint type (after AWS::Pinpoint::) → (API operation, its request member). The `kind` drives apply.
CALLS: dict[str, tuple[str, str, str]] = {
    "App": ("app", "CreateApp", "CreateApplicationRequest"),
    "ApplicationSettings": ("settings", "UpdateApplicationSettings", "WriteApplicationSettingsRequest"),
    "SMSChannel": ("channel", "UpdateSmsChannel", "SMSChannelRequest"),
    "VoiceChannel": ("channel", "UpdateVoiceChannel", "VoiceChannelRequest"),
    "EmailChannel": ("channel", "UpdateEmailChannel", "EmailChannelRequest"),
    "SmsTemplate": ("template", "CreateSmsTemplate", "SMSTemplateRequest"),
    "EmailTemplate": ("template", "CreateEmailTemplate", "EmailTemplateRequest"),
    "VoiceTemplate": ("template", "CreateVoiceTemplate", "VoiceTemplateRequest"),  # not a CloudFormation type (yet)
    "Segment": ("segment", "CreateSegment", "WriteSegmentRequest"),
    "Campaign": ("campaign", "CreateCampaign", "WriteCampaignRequest"),
    "EventStream": ("event_stream", "PutEventStream", "WriteEventStream"),
    "Journey": ("journey", "CreateJourney", "WriteJourneyRequest"),  # kizuna.migrate.journeys: not a CFN type
}
CANNOT_MOVE = {
    **{t: f"a push channel; {NO_PUSH}" for t in PUSH_CHANNELS},
    "PushTemplate": f"a push notification template; {NO_PUSH}",
    "InAppTemplate": f"an in-app message template; {NO_PUSH}",
}
SES_RESOURCES = {
    "AWS::PinpointEmail::ConfigurationSet": "AWS::SES::ConfigurationSet",
    "AWS::PinpointEmail::ConfigurationSetEventDestination": "AWS::SES::ConfigurationSetEventDestination",
    "AWS::PinpointEmail::DedicatedIpPool": "AWS::SES::DedicatedIpPool",
    "AWS::PinpointEmail::Identity": "AWS::SES::EmailIdentity",
}
TWILIO_SENDER = (
    "Twilio sends this channel: put the Twilio account and the number to send from (from_number) into the stack's "
    "Twilio secret; Pinpoint's origination numbers do not move"
)
CAMPAIGN_HOOK = "Kizuna stores the campaign hook but does not call it (no Lambda or web hooks yet)"


@dataclass
class Mapped:
    kind: str  # app, settings, channel, template, segment, campaign, event_stream
    call: str
    member: str
    request: dict[str, Any]
    app: Any = None  # the resolved ApplicationId (None for the app itself and for account-wide templates)
    name: str | None = None  # what apply finds an earlier run's resource by (TemplateName, segment/campaign Name)
    decisions: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def map_resource(kind: str, props: dict[str, Any], now: datetime) -> Mapped:
    """`kind` is the part after AWS::Pinpoint:: of a type in CALLS."""
    what, call, member = CALLS[kind]
    props = dict(props)
    app = props.pop("ApplicationId", None)
    request = {("tags" if k == "Tags" else k): v for k, v in props.items()}
    if "tags" in request:
        request["tags"] = _tags(request["tags"])
    mapped = Mapped(what, call, member, request, app)
    if kind == "Campaign":
        _campaign(mapped)
    elif what == "template":
        mapped.name = request.pop("TemplateName", None)
    mapped.request = coerce(mapped.request, _shape(call, member), member, mapped.notes)
    if kind in ("App", "Segment", "Campaign", "Journey"):
        mapped.name = mapped.request.get("Name")
    _check(kind, mapped, now)
    return mapped


# -- per type -------------------------------------------------------------------------------------------------------


def _campaign(mapped: Mapped) -> None:
    request = mapped.request
    if "CampaignHook" in request:
        request["Hook"] = request.pop("CampaignHook")
    for holder in (request, *[t for t in request.get("AdditionalTreatments") or [] if isinstance(t, dict)]):
        schedule = holder.get("Schedule")
        if isinstance(schedule, dict) and "TimeZone" in schedule:
            holder["Schedule"] = {("Timezone" if k == "TimeZone" else k): v for k, v in schedule.items()}


def _check(kind: str, mapped: Mapped, now: datetime) -> None:
    request = mapped.request
    if kind == "ApplicationSettings":
        _quiet_time(request.get("QuietTime"), "QuietTime", mapped)
        if request.get("CampaignHook"):
            mapped.decisions.append(CAMPAIGN_HOOK)
        if "CloudWatchMetricsEnabled" in request:
            mapped.notes.append("CloudWatchMetricsEnabled is accepted; Kizuna publishes its own metrics")
    elif kind == "SMSChannel":
        sender = [f"{k} {request[k]}" for k in ("SenderId", "ShortCode") if request.get(k)]
        on_account = f" ({', '.join(sender)} must be a sender on that account)" if sender else ""
        mapped.decisions.append(TWILIO_SENDER + on_account)
    elif kind == "VoiceChannel":
        mapped.decisions.append(TWILIO_SENDER)
    elif kind == "EmailChannel":
        identity = request.get("Identity") or request.get("FromAddress")
        configuration = request.get("ConfigurationSet")
        mapped.decisions.append(
            f"SES sends this channel from Kizuna's account: the identity {identity} must be verified there"
            + (f" and the configuration set {configuration} exist there" if configuration else "")
        )
    elif kind == "EventStream":
        mapped.decisions.append(
            f"Kizuna forwards the app's events to {request.get('DestinationStreamArn')} by assuming "
            f"{request.get('RoleArn')}: that role must trust Kizuna's functions' role instead of pinpoint.amazonaws.com"
        )
    elif mapped.kind == "template":
        mapped.notes.append(f"template names are account-wide: {mapped.name} is shared by every app of the deployment")
        _check_template(mapped)
    elif kind == "Segment":
        _check_segment(mapped)
    elif kind == "Campaign":
        _check_campaign(mapped, now)
    elif kind == "Journey":
        _check_journey(mapped, now)


def _check_journey(mapped: Mapped, now: datetime) -> None:
    """What the review refuses whatever the app holds (push activities, cycles, > 540 days...); templates and
    segments are checked by the API when apply publishes it."""
    from kizuna.domain.journey_review import Catalog, review_journey

    def known(*_: Any) -> bool:
        return True

    review = review_journey(mapped.request, Catalog(template_exists=known, segment_exists=known), now)
    for finding in review.errors:
        where = f" ({finding.activity})" if finding.activity else ""
        mapped.blockers.append(f"Kizuna refuses it{where}: {finding.message}")
    if mapped.request.get("State") not in (None, "DRAFT", "ACTIVE"):
        mapped.notes.append(f"State {mapped.request['State']} is not carried over: the journey is created as a draft")


def _check_template(mapped: Mapped) -> None:
    from kizuna.domain.templates import check_template, parse_defaults

    try:
        for member in ("Body", "Subject", "HtmlPart", "TextPart"):
            if mapped.request.get(member) is not None:
                check_template(mapped.request[member], f"{mapped.member}.{member}")
        if mapped.request.get("DefaultSubstitutions") is not None:
            parse_defaults(mapped.request["DefaultSubstitutions"], f"{mapped.member}.DefaultSubstitutions")
    except BadRequest as exc:
        mapped.blockers.append(f"Kizuna refuses it: {exc.message}")


def _check_segment(mapped: Mapped) -> None:
    from kizuna.domain.segments import validate_write_request

    try:
        validate_write_request(mapped.request)
    except BadRequest as exc:
        mapped.blockers.append(f"Kizuna refuses it: {exc.message}")
    for group in (mapped.request.get("SegmentGroups") or {}).get("Groups") or []:
        for source in group.get("SourceSegments") or []:
            if not str(source.get("Id", "")).startswith("<"):
                mapped.decisions.append(
                    f"base segment {source.get('Id')} is not in this template: it must exist in the Kizuna app"
                )


def _check_campaign(mapped: Mapped, now: datetime) -> None:
    from kizuna.domain import campaigns
    from kizuna.domain.campaign_schedule import parse_schedule

    request = mapped.request
    holders = [("", request)] + [
        (f"AdditionalTreatments[{i}].", t) for i, t in enumerate(request.get("AdditionalTreatments") or [])
    ]
    for prefix, holder in holders:
        for member in campaigns.UNSUPPORTED_MESSAGES:
            if (holder.get("MessageConfiguration") or {}).get(member):
                mapped.blockers.append(f"{prefix}MessageConfiguration.{member}: {NO_PUSH}")
        for member in ("PushTemplate", "InAppTemplate"):
            if (holder.get("TemplateConfiguration") or {}).get(member):
                mapped.blockers.append(f"{prefix}TemplateConfiguration.{member}: {NO_PUSH}")
        uri = str((holder.get("CustomDeliveryConfiguration") or {}).get("DeliveryUri") or "")
        if uri and not uri.startswith("https://"):
            mapped.blockers.append(
                f"{prefix}CustomDeliveryConfiguration.DeliveryUri {uri} is a Lambda function: give it a function URL "
                "and put that URL here (Kizuna posts CUSTOM deliveries to HTTPS webhooks)"
            )
        if prefix and holder.get("Schedule"):
            mapped.decisions.append(f"{prefix}Schedule is ignored: Kizuna runs treatments on the campaign's schedule")
        _quiet_time((holder.get("Schedule") or {}).get("QuietTime"), f"{prefix}Schedule.QuietTime", mapped)
    if request.get("Hook"):
        mapped.decisions.append(CAMPAIGN_HOOK)
    if request.get("Priority") is not None:
        mapped.notes.append("Priority is stored; Kizuna does not order campaigns by it")
    if (request.get("Limits") or {}).get("Session") is not None:
        mapped.notes.append("Limits.Session concerns in-app messages and has no effect in Kizuna")
    if not str(request.get("SegmentId", "<")).startswith("<"):
        mapped.decisions.append(f"segment {request['SegmentId']} is not in this template: it must exist in the app")
    if mapped.blockers:
        return
    try:
        campaigns.validate_write(request)
    except BadRequest as exc:
        mapped.blockers.append(f"Kizuna refuses it: {exc.message}")
        return
    try:
        parse_schedule(request["Schedule"], now, f"{mapped.member}.Schedule")
    except BadRequest as exc:
        if "in the past" in exc.message:
            once = (request["Schedule"].get("Frequency") or "ONCE") == "ONCE"
            advice = (
                "it ran in Pinpoint already; give it a new StartTime to send it again"
                if once
                else ("set StartTime to its next run to continue it in Kizuna")
            )
            mapped.holds.append(f"{exc.message}: {advice}")
        else:
            mapped.blockers.append(f"Kizuna refuses it: {exc.message}")


def _quiet_time(quiet: Any, where: str, mapped: Mapped) -> None:
    for name in ("Start", "End"):
        value = (quiet or {}).get(name) if isinstance(quiet, dict) else None
        if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
            mapped.blockers.append(
                f"{where}.{name} is {value}: YAML read an unquoted time of day as a number; quote it ('21:00')"
            )


def _tags(value: Any) -> Any:
    """Pinpoint's Tags are a JSON object; accept the Key/Value list other resource types use, too."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, list):
        return {str(t.get("Key")): str(t.get("Value", "")) for t in value if isinstance(t, dict)}
    return value


# -- shapes ---------------------------------------------------------------------------------------------------------


@cache
def _model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("pinpoint")


def _shape(call: str, member: str) -> Any:
    return _model().operation_model(call).input_shape.members[member]


def coerce(value: Any, shape: Any, where: str, notes: list[str]) -> Any:
    """`value` in the types of botocore `shape`; members the API does not have are dropped (and noted)."""
    kind = shape.type_name
    if isinstance(value, str) and kind in ("structure", "map", "list") and value.strip()[:1] in ("{", "["):
        try:
            value = json.loads(value)  # a CloudFormation Json property given as a string
        except ValueError:
            return value
    if kind == "structure" and isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in shape.members:
                out[key] = coerce(item, shape.members[key], f"{where}.{key}", notes)
            else:
                notes.append(f"{where}.{key} is not part of Pinpoint's API and is left out")
        return out
    if kind == "map" and isinstance(value, dict):
        return {k: coerce(v, shape.value, f"{where}.{k}", notes) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [coerce(v, shape.member, f"{where}[{i}]", notes) for i, v in enumerate(value)]
    if kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if kind in ("integer", "long") and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if kind == "double" and isinstance(value, str | int) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value
