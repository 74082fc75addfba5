"""Campaigns: what a WriteCampaignRequest may say, which treatment each endpoint gets, and the message it carries.

- Treatments (A/B): the campaign's own message is treatment "0"; `AdditionalTreatments` (at most 5) are "1".."5".
  `HoldoutPercent` of the segment gets nothing, each additional treatment gets its `SizePercent`, treatment "0" the
  rest. An endpoint's share is decided by a hash of (campaign id, endpoint id) in basis points, so every run, retry
  and resume of the campaign puts it in the same treatment (or holdout), and shares are exact in expectation.
- Messages: a campaign's MessageConfiguration (Pinpoint's CampaignSmsMessage, CampaignEmailMessage, the default
  message, plus Kizuna's VoiceMessage and WhatsAppMessage) is turned into the DirectMessageConfiguration the send
  path composes from, so a campaign message is rendered, consented and throttled exactly like SendMessages.
- Message ids: a recipient-message of a run has an id derived from (campaign, run, endpoint), so a run that is
  resumed after a crash produces the same ids and the send path's claim refuses the second copy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from kizuna.domain.custom_delivery import check_delivery
from kizuna.errors import BadRequest

FIELD = "WriteCampaignRequest"
MAX_ADDITIONAL_TREATMENTS = 5
MAIN_TREATMENT = "0"
BASIS_POINTS = 10_000
# Pinpoint's campaign limits (botocore shape CampaignLimits): Daily and Total up to 100, MessagesPerSecond 1..20000,
# MaximumDuration at least 60 seconds.
LIMIT_RANGES = {"Daily": (0, 100), "Total": (0, 100), "MessagesPerSecond": (1, 20_000), "Session": (0, 100)}
MIN_MAXIMUM_DURATION_S = 60
UNSUPPORTED_MESSAGES = ("ADMMessage", "APNSMessage", "BaiduMessage", "GCMMessage", "InAppMessage")


@dataclass(frozen=True)
class Treatment:
    id: str
    size_bp: int  # share of the segment in basis points
    message: dict[str, Any]  # the campaign-shaped MessageConfiguration
    template: dict[str, Any]  # TemplateConfiguration
    name: str | None = None
    delivery: dict[str, Any] | None = None  # CustomDeliveryConfiguration: the message goes to a webhook (CUSTOM)


@dataclass(frozen=True)
class Split:
    """The segment's division: holdout first, then treatments in id order, each a range of basis points."""

    holdout_bp: int
    treatments: tuple[Treatment, ...]

    def assign(self, campaign_id: str, endpoint_id: str) -> Treatment | None:
        """The endpoint's treatment, or None when it is held out. Stable for the campaign's lifetime."""
        point = basis_point(campaign_id, endpoint_id)
        if point < self.holdout_bp:
            return None
        point -= self.holdout_bp
        for treatment in self.treatments[1:]:
            if point < treatment.size_bp:
                return treatment
            point -= treatment.size_bp
        return self.treatments[0]


def basis_point(campaign_id: str, endpoint_id: str) -> int:
    digest = hashlib.sha256(f"{campaign_id}|{endpoint_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BASIS_POINTS


def message_id_for(campaign_id: str, run_id: str, endpoint_id: str) -> str:
    digest = hashlib.sha256(f"{campaign_id}|{run_id}|{endpoint_id}".encode()).hexdigest()
    return f"c{digest[:31]}"


def split_of(campaign: dict[str, Any]) -> Split:
    additional = campaign.get("AdditionalTreatments") or []
    holdout = round(float(campaign.get("HoldoutPercent") or 0) * 100)
    extra = tuple(
        Treatment(
            t.get("Id") or str(i + 1),
            round(float(t["SizePercent"]) * 100),
            t.get("MessageConfiguration") or campaign.get("MessageConfiguration") or {},
            t.get("TemplateConfiguration") or campaign.get("TemplateConfiguration") or {},
            t.get("TreatmentName"),
            treatment_delivery(t, campaign),
        )
        for i, t in enumerate(additional)
    )
    main_bp = BASIS_POINTS - holdout - sum(t.size_bp for t in extra)
    main = Treatment(
        MAIN_TREATMENT,
        main_bp,
        campaign.get("MessageConfiguration") or {},
        campaign.get("TemplateConfiguration") or {},
        campaign.get("TreatmentName"),
        campaign.get("CustomDeliveryConfiguration"),
    )
    return Split(holdout, (main, *extra))


def treatment_delivery(treatment: dict[str, Any], campaign: dict[str, Any]) -> dict[str, Any] | None:
    """A treatment's own CustomDeliveryConfiguration, else the campaign's when the treatment's message is CUSTOM."""
    if treatment.get("CustomDeliveryConfiguration"):
        return treatment["CustomDeliveryConfiguration"]
    message = treatment.get("MessageConfiguration") or campaign.get("MessageConfiguration") or {}
    return campaign.get("CustomDeliveryConfiguration") if message.get("CustomMessage") else None


def validate_write(request: dict[str, Any]) -> None:
    """What Pinpoint refuses on CreateCampaign/UpdateCampaign, each error naming its field. The Schedule is checked
    by kizuna.domain.campaign_schedule, the segment's existence by the service."""
    if not (request.get("Name") or "").strip():
        raise BadRequest(f"{FIELD}.Name is required")
    if not request.get("SegmentId"):
        raise BadRequest(f"{FIELD}.SegmentId is required")
    if not isinstance(request.get("Schedule"), dict):
        raise BadRequest(f"{FIELD}.Schedule is required (StartTime, Frequency)")
    holdout = _percent(request.get("HoldoutPercent"), f"{FIELD}.HoldoutPercent")
    treatments = request.get("AdditionalTreatments") or []
    if not isinstance(treatments, list) or len(treatments) > MAX_ADDITIONAL_TREATMENTS:
        raise BadRequest(f"{FIELD}.AdditionalTreatments holds at most {MAX_ADDITIONAL_TREATMENTS} treatments")
    total = holdout
    for i, treatment in enumerate(treatments):
        field = f"{FIELD}.AdditionalTreatments[{i}]"
        if treatment.get("SizePercent") is None:
            raise BadRequest(f"{field}.SizePercent is required")
        total += _percent(treatment["SizePercent"], f"{field}.SizePercent")
        _check_message(treatment.get("MessageConfiguration"), f"{field}.MessageConfiguration")
        message = treatment.get("MessageConfiguration") or request.get("MessageConfiguration")
        check_delivery(treatment_delivery(treatment, request), message, field)
    if total > 100:
        raise BadRequest(
            f"{FIELD}: HoldoutPercent plus the AdditionalTreatments' SizePercent is {total}%; it may be at most 100%"
        )
    _check_message(request.get("MessageConfiguration"), f"{FIELD}.MessageConfiguration")
    if not (request.get("MessageConfiguration") or request.get("TemplateConfiguration")):
        raise BadRequest(f"{FIELD} needs a MessageConfiguration or a TemplateConfiguration")
    check_delivery(request.get("CustomDeliveryConfiguration"), request.get("MessageConfiguration"), FIELD)
    _check_limits(request.get("Limits"), f"{FIELD}.Limits")


def direct_configuration(message: dict[str, Any]) -> dict[str, Any]:
    """A campaign MessageConfiguration as the DirectMessageConfiguration SendMessages composes from."""
    direct: dict[str, Any] = {}
    if message.get("SMSMessage"):
        direct["SMSMessage"] = {k: v for k, v in message["SMSMessage"].items() if v is not None}
    if message.get("EmailMessage"):
        email = message["EmailMessage"]
        simple: dict[str, Any] = {}
        if email.get("Title"):
            simple["Subject"] = {"Charset": "UTF-8", "Data": email["Title"]}
        if email.get("Body"):
            simple["TextPart"] = {"Charset": "UTF-8", "Data": email["Body"]}
        if email.get("HtmlBody"):
            simple["HtmlPart"] = {"Charset": "UTF-8", "Data": email["HtmlBody"]}
        if email.get("Headers"):
            simple["Headers"] = email["Headers"]
        direct["EmailMessage"] = {
            **({"FromAddress": email["FromAddress"]} if email.get("FromAddress") else {}),
            **({"SimpleEmail": simple} if simple else {}),
        }
    for member in ("VoiceMessage", "WhatsAppMessage"):
        if message.get(member):
            direct[member] = dict(message[member])
    default = message.get("DefaultMessage") or {}
    if default.get("Body"):
        direct["DefaultMessage"] = {"Body": default["Body"]}
    return direct


def _check_message(message: Any, field: str) -> None:
    if message is None:
        return
    if not isinstance(message, dict):
        raise BadRequest(f"{field} must be an object")
    for member in UNSUPPORTED_MESSAGES:
        if message.get(member):
            raise BadRequest(f"{field}.{member}: Kizuna sends SMS, Voice, WhatsApp and e-mail, not push or in-app")
    custom = message.get("CustomMessage")
    if custom is not None and (not isinstance(custom, dict) or not isinstance(custom.get("Data"), str)):
        raise BadRequest(f"{field}.CustomMessage.Data must be a string")


def _percent(value: Any, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise BadRequest(f"{field} must be a whole number from 0 to 100")
    return value


def _check_limits(limits: Any, field: str) -> None:
    if limits is None:
        return
    if not isinstance(limits, dict):
        raise BadRequest(f"{field} must be an object")
    for name, (low, high) in LIMIT_RANGES.items():
        value = limits.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise BadRequest(f"{field}.{name} must be a whole number from {low} to {high}")
    duration = limits.get("MaximumDuration")
    if duration is not None and (not isinstance(duration, int) or duration < MIN_MAXIMUM_DURATION_S):
        raise BadRequest(f"{field}.MaximumDuration must be at least {MIN_MAXIMUM_DURATION_S} seconds")
