"""SendMessages: accept a Pinpoint MessageRequest, turn it into recipient-messages and queue them.

Sends are answered once queued (DeliveryStatus SUCCESSFUL, StatusCode 202): the provider result arrives later
through status callbacks and the event stream. Recipients that cannot be sent (bad address, opted out, unknown
endpoint) are answered per recipient, as Pinpoint does, and never reach the queue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kizuna.clock import Clock, iso
from kizuna.domain.messages import OutboundMessage, SenderId
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore, EndpointStore, SendQueue
from kizuna.services.endpoints import normalise_phone

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
    request_id = str(uuid.uuid4())
    accepted_at = iso(clock.now())

    def outbound(address: str, channel: str | None, config: dict, endpoint_id: str | None) -> OutboundMessage | Refusal:
        if channel not in SUPPORTED_CHANNELS:
            return Refusal("PERMANENT_FAILURE", 400, f"Channel {channel} is not enabled for sending")
        if sms is None:
            return Refusal("PERMANENT_FAILURE", 400, "MessageConfiguration.SMSMessage is required for SMS")
        body = config.get("BodyOverride") or sms.get("Body")
        if not body:
            return Refusal("PERMANENT_FAILURE", 400, "MessageConfiguration.SMSMessage.Body is empty")
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
                endpoint.get("Address", ""), endpoint.get("ChannelType"), config, endpoint_id
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


def _sender(sms: dict[str, Any]) -> SenderId:
    if sms.get("OriginationNumber"):
        return SenderId(from_number=sms["OriginationNumber"])
    if sms.get("SenderId"):
        return SenderId(alphanumeric_id=sms["SenderId"])
    return SenderId()
