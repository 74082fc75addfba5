"""SendMessages: accept a Pinpoint MessageRequest, turn it into recipient-messages and queue them.

Sends are answered once queued (DeliveryStatus SUCCESSFUL, StatusCode 202): the provider result arrives later
through status callbacks and the event stream. Recipients that cannot be sent (bad address, opted out, unknown
endpoint) are answered per recipient, as Pinpoint does, and never reach the queue.

Personalisation: the body is the recipient's BodyOverride, else SMSMessage.Body, else the SMS template named by
TemplateConfiguration.SMSTemplate (its active version unless Version is given). It is rendered per recipient as a
Handlebars template (kizuna.domain.templates) over the endpoint's document ({"Address", "ChannelType"} for a raw
address), with SMSMessage.Substitutions overridden by the recipient's own Substitutions (keys are variable paths
as the template writes them, e.g. "User.UserAttributes.FirstName"), then the template's DefaultSubstitutions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kizuna.clock import Clock, iso
from kizuna.domain.messages import OutboundMessage, SenderId
from kizuna.domain.templates import check_template, parse_defaults, render
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore, EndpointStore, SendQueue, TemplateStore
from kizuna.services.endpoints import normalise_phone
from kizuna.services.templates import get_template

MAX_RECIPIENTS = 100
SUPPORTED_CHANNELS = frozenset({"SMS"})


@dataclass(frozen=True)
class Refusal:
    status: str  # Pinpoint DeliveryStatus
    code: int
    message: str

    def as_result(self) -> dict[str, Any]:
        return {"DeliveryStatus": self.status, "StatusCode": self.code, "StatusMessage": self.message}


def send_messages(
    apps: AppStore,
    endpoints: EndpointStore,
    queue: SendQueue,
    clock: Clock,
    app_id: str,
    request: dict[str, Any],
    templates: TemplateStore | None = None,
) -> dict[str, Any]:
    if apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")
    addresses: dict[str, dict] = request.get("Addresses") or {}
    endpoint_configs: dict[str, dict] = request.get("Endpoints") or {}
    if not addresses and not endpoint_configs:
        raise BadRequest("MessageRequest must name at least one recipient in Addresses or Endpoints")
    if len(addresses) + len(endpoint_configs) > MAX_RECIPIENTS:
        raise BadRequest(f"MessageRequest may name at most {MAX_RECIPIENTS} recipients")
    sms = (request.get("MessageConfiguration") or {}).get("SMSMessage")
    template_body, defaults = _sms_template(templates, request.get("TemplateConfiguration"))
    if sms is None and template_body is not None:
        sms = {}  # a template alone is a complete SMS message
    if sms and sms.get("Body"):
        check_template(sms["Body"], "MessageRequest.MessageConfiguration.SMSMessage.Body")
    request_id = str(uuid.uuid4())
    accepted_at = iso(clock.now())

    def outbound(
        address: str, channel: str | None, config: dict, endpoint_id: str | None, endpoint: dict | None = None
    ) -> OutboundMessage | Refusal:
        if channel not in SUPPORTED_CHANNELS:
            return Refusal("PERMANENT_FAILURE", 400, f"Channel {channel} is not enabled for sending")
        if sms is None:
            return Refusal("PERMANENT_FAILURE", 400, "MessageConfiguration.SMSMessage is required for SMS")
        body = config.get("BodyOverride") or sms.get("Body") or template_body
        if not body:
            return Refusal("PERMANENT_FAILURE", 400, "MessageConfiguration.SMSMessage.Body is empty")
        if not config.get("BodyOverride") and "{{" in body:  # plain text needs no rendering
            substitutions = {**(sms.get("Substitutions") or {}), **(config.get("Substitutions") or {})}
            document = endpoint or {"Address": address, "ChannelType": channel}
            body = render(body, document, defaults, substitutions)
            if not body.strip():
                return Refusal("PERMANENT_FAILURE", 400, "The message body rendered empty for this recipient")
        try:
            to = normalise_phone(address, "Address")
        except BadRequest as exc:
            return Refusal("PERMANENT_FAILURE", 400, exc.message)
        return OutboundMessage(
            message_id=uuid.uuid4().hex,
            app_id=app_id,
            to=to,
            body=body,
            sender=_sender(sms),
            endpoint_id=endpoint_id,
            message_type="PROMOTIONAL" if sms.get("MessageType") == "PROMOTIONAL" else "TRANSACTIONAL",
            request_id=request_id,
            accepted_at=accepted_at,
            context={**(request.get("Context") or {}), **(config.get("Context") or {})},
        )

    address_results: dict[str, OutboundMessage | Refusal] = {
        address: outbound(address, config.get("ChannelType"), config, None) for address, config in addresses.items()
    }
    endpoint_results: dict[str, OutboundMessage | Refusal] = {}
    found = endpoints.get_endpoints(app_id, list(endpoint_configs)) if endpoint_configs else {}
    for endpoint_id, config in endpoint_configs.items():
        endpoint = found.get(endpoint_id)
        if endpoint is None:
            endpoint_results[endpoint_id] = Refusal("PERMANENT_FAILURE", 404, f"Endpoint {endpoint_id} not found")
        elif endpoint.get("OptOut", "NONE") != "NONE":
            endpoint_results[endpoint_id] = Refusal("OPT_OUT", 400, "Endpoint has opted out")
        elif endpoint.get("EndpointStatus", "ACTIVE") != "ACTIVE":
            endpoint_results[endpoint_id] = Refusal("PERMANENT_FAILURE", 400, "Endpoint is INACTIVE")
        else:
            endpoint_results[endpoint_id] = outbound(
                endpoint.get("Address", ""), endpoint.get("ChannelType"), config, endpoint_id, endpoint
            )

    to_queue = [m for m in (*address_results.values(), *endpoint_results.values()) if isinstance(m, OutboundMessage)]
    not_queued = set(queue.enqueue(to_queue)) if to_queue else set()

    def shape(result: OutboundMessage | Refusal, address: str | None = None) -> dict[str, Any]:
        if isinstance(result, Refusal):
            shaped = result.as_result()
        elif result.message_id in not_queued:
            shaped = Refusal("TEMPORARY_FAILURE", 503, "The send queue did not accept the message; retry").as_result()
        else:
            shaped = {
                "DeliveryStatus": "SUCCESSFUL",
                "StatusCode": 202,
                "StatusMessage": "Queued for delivery",
                "MessageId": result.message_id,
            }
        if address is not None:
            shaped["Address"] = address
        return shaped

    response: dict[str, Any] = {"ApplicationId": app_id, "RequestId": request_id}
    if address_results:
        response["Result"] = {a: shape(r) for a, r in address_results.items()}
    if endpoint_results:
        response["EndpointResult"] = {e: shape(r, found.get(e, {}).get("Address")) for e, r in endpoint_results.items()}
    return response


def _sms_template(
    templates: TemplateStore | None, configuration: dict[str, Any] | None
) -> tuple[str | None, dict[str, str]]:
    """(Body, DefaultSubstitutions) of TemplateConfiguration.SMSTemplate, or (None, {}) when none is named."""
    reference = (configuration or {}).get("SMSTemplate")
    if not reference or not reference.get("Name"):
        return None, {}
    if templates is None:
        raise BadRequest("MessageRequest.TemplateConfiguration: message templates are not configured")
    template = get_template(templates, "SMS", reference["Name"], reference.get("Version"))
    return template.get("Body"), parse_defaults(template.get("DefaultSubstitutions"), "DefaultSubstitutions")


def _sender(sms: dict[str, Any]) -> SenderId:
    if sms.get("OriginationNumber"):
        return SenderId(from_number=sms["OriginationNumber"])
    if sms.get("SenderId"):
        return SenderId(alphanumeric_id=sms["SenderId"])
    return SenderId()
