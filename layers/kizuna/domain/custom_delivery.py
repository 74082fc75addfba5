"""CUSTOM delivery (Pinpoint's custom channel): a campaign hands its endpoints to the customer's own HTTPS webhook.

What the webhook receives is Pinpoint's custom-channel payload, so a receiver written for Pinpoint keeps working:
`{"Message": {}, "Data": <CustomMessage.Data>, "ApplicationId", "CampaignId", "TreatmentId", "ActivityId",
"ScheduledTime", "Endpoints": {<endpoint id>: <EndpointResponse>, ...}}` with at most 50 endpoints per request.

What Kizuna adds, because a webhook on the internet must be able to tell Kizuna's requests from anyone else's:
- `Kizuna-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the deployment's signing secret
  (Stripe's scheme: the timestamp is signed too, so a captured request cannot be replayed later; `verify` is the
  receiver's side, usable as is).
- `Kizuna-Delivery-Id`: the same on every retry of the same batch (derived from campaign, run, treatment and the
  batch's endpoint ids). Delivery is at least once, like every webhook: retries after a timeout can repeat a
  request the receiver already handled, and this id is how it recognises the repeat.

A journey's CUSTOM activity posts the same payload with the journey's ids in place of the campaign's: "JourneyId",
"JourneyActivityId" (the activity) and "JourneyRunId" (the run; a Kizuna addition, as the journey events carry it),
with a delivery id derived from (journey, run, activity, endpoint ids).

Pinpoint also accepted a Lambda function name or ARN as the DeliveryUri; Kizuna refuses it with a clear error (a
function URL in front of that function is the drop-in).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any

from kizuna.domain.webhook_urls import webhook_url_allowed
from kizuna.errors import BadRequest

MAX_ENDPOINTS_PER_REQUEST = 50  # Pinpoint's batch size for custom channels
SIGNATURE_HEADER = "Kizuna-Signature"
DELIVERY_ID_HEADER = "Kizuna-Delivery-Id"
SIGNATURE_TOLERANCE_S = 300
# Pinpoint's EndpointTypesElement enum; Kizuna's WHATSAPP endpoints too.
ENDPOINT_TYPES = frozenset(
    {"PUSH", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "ADM", "SMS", "VOICE", "EMAIL",
     "BAIDU", "CUSTOM", "IN_APP", "WHATSAPP"}
)  # fmt: skip
# Pinpoint's rule for webhook URLs: https, and only these characters (RFC 3986's unreserved set plus ?/#;:=&%).
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~?/#;:=&%]+\Z")


def check_delivery(configuration: Any, message: Any, field: str) -> None:
    """A CustomDeliveryConfiguration and the CustomMessage it carries go together; each error names its field."""
    custom = (message or {}).get("CustomMessage") if isinstance(message, dict) else None
    if configuration is None:
        if custom:
            raise BadRequest(f"{field}.CustomDeliveryConfiguration is required with MessageConfiguration.CustomMessage")
        return
    if not isinstance(configuration, dict):
        raise BadRequest(f"{field}.CustomDeliveryConfiguration must be an object")
    uri = configuration.get("DeliveryUri")
    if not isinstance(uri, str) or not uri:
        raise BadRequest(f"{field}.CustomDeliveryConfiguration.DeliveryUri is required")
    if uri.startswith("arn:") or "://" not in uri:
        raise BadRequest(
            f"{field}.CustomDeliveryConfiguration.DeliveryUri: Kizuna delivers to HTTPS webhooks, not Lambda "
            "functions (give the function a function URL and use that)"
        )
    if not webhook_url_allowed(uri) or not _URL_CHARS.match(uri):
        raise BadRequest(
            f"{field}.CustomDeliveryConfiguration.DeliveryUri must be an https:// URL of letters, digits and "
            "-._~?/#;:=&%"
        )
    types = configuration.get("EndpointTypes")
    if types is not None and (not isinstance(types, list) or not set(types) <= ENDPOINT_TYPES):
        raise BadRequest(
            f"{field}.CustomDeliveryConfiguration.EndpointTypes must be a list of {', '.join(sorted(ENDPOINT_TYPES))}"
        )
    if not isinstance(custom, dict) or not isinstance(custom.get("Data"), str):
        raise BadRequest(f"{field}.MessageConfiguration.CustomMessage.Data (a string) is required for CUSTOM delivery")


def journey_activity_problems(body: Any, field: str = "CUSTOM") -> list[str]:
    """What is wrong with a journey's CUSTOM activity (CustomMessageActivity), each message naming its field.
    Kizuna has no custom message templates: the activity sends MessageConfig.Data."""
    if not isinstance(body, dict):
        return [f"{field} must be an object"]
    problems = []
    uri = body.get("DeliveryUri")
    if isinstance(uri, str) and uri and (uri.startswith("arn:") or "://" not in uri):
        problems.append(f"{field}.DeliveryUri: Kizuna delivers to HTTPS webhooks, not Lambda functions (give the "
                        "function a function URL and use that)")  # fmt: skip
    elif isinstance(uri, str) and uri and (not webhook_url_allowed(uri) or not _URL_CHARS.match(uri)):
        problems.append(f"{field}.DeliveryUri must be an https:// URL of letters, digits and -._~?/#;:=&%")
    types = body.get("EndpointTypes")
    if types is not None and (not isinstance(types, list) or not set(types) <= ENDPOINT_TYPES):
        problems.append(f"{field}.EndpointTypes must be a list of {', '.join(sorted(ENDPOINT_TYPES))}")
    data = (body.get("MessageConfig") or {}).get("Data") if isinstance(body.get("MessageConfig"), dict) else None
    if body.get("MessageConfig") is not None and not isinstance(data, str):
        problems.append(f"{field}.MessageConfig.Data must be a string (the payload's Data)")
    if body.get("TemplateName") or body.get("TemplateVersion"):
        problems.append(f"{field}.TemplateName: Kizuna has no custom message templates; put the payload in "
                        "MessageConfig.Data")  # fmt: skip
    return problems


def wants(configuration: dict[str, Any], endpoint: dict[str, Any]) -> bool:
    """Whether the configuration delivers to the endpoint's channel (to every channel when EndpointTypes is unset)."""
    types = configuration.get("EndpointTypes")
    return not types or endpoint.get("ChannelType") in types


def delivery_id(campaign_id: str, run_id: str, treatment_id: str, endpoint_ids: list[str]) -> str:
    digest = hashlib.sha256("\n".join([campaign_id, run_id, treatment_id, *sorted(endpoint_ids)]).encode())
    return digest.hexdigest()[:32]


def journey_delivery_id(journey_id: str, run_id: str, activity_id: str, endpoint_ids: list[str]) -> str:
    digest = hashlib.sha256("\n".join(["journey", journey_id, run_id, activity_id, *sorted(endpoint_ids)]).encode())
    return digest.hexdigest()[:32]


def journey_payload(
    *,
    data: str,
    app_id: str,
    journey_id: str,
    run_id: str,
    activity_id: str,
    scheduled_time: str,
    endpoints: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "Message": {},
        "Data": data,
        "ApplicationId": app_id,
        "JourneyId": journey_id,
        "JourneyActivityId": activity_id,
        "JourneyRunId": run_id,
        "ScheduledTime": scheduled_time,
        "Endpoints": {e["Id"]: {k: v for k, v in e.items() if k != "Id"} for e in endpoints},
    }


def payload(
    *,
    data: str,
    app_id: str,
    campaign_id: str,
    treatment_id: str,
    activity_id: str,
    scheduled_time: str,
    endpoints: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "Message": {},
        "Data": data,
        "ApplicationId": app_id,
        "CampaignId": campaign_id,
        "TreatmentId": treatment_id,
        "ActivityId": activity_id,
        "ScheduledTime": scheduled_time,
        "Endpoints": {e["Id"]: {k: v for k, v in e.items() if k != "Id"} for e in endpoints},
    }


def sign(secret: str, body: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, header: str, body: str, now: float | None = None) -> bool:
    """The receiver's check: the signature matches the body and was made within the last five minutes."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > SIGNATURE_TOLERANCE_S:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
