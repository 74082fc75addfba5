"""SendMessages and SendUsersMessages: accept a Pinpoint MessageRequest, decide each recipient, queue the sendable.

Sends are answered once queued (DeliveryStatus SUCCESSFUL, StatusCode 202, with a MessageId): the provider's result
arrives later through status callbacks and the event stream. Recipients that cannot be sent (bad address, opted
out, channel disabled, country not allowed, WhatsApp outside its window, unknown endpoint) are answered per
recipient, as Pinpoint does, and never reach the queue (kizuna.services.recipients decides each one).

The same entry point serves campaigns and journeys later: they pass `priority="bulk"` (their messages yield the
sender's rate to transactional ones), `attribution` (campaign and journey ids that every event of the message
carries) and `not_after` (an event-triggered message that cannot go out in time is dropped).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from kizuna.clock import Clock
from kizuna.domain.channels import PHONE_CHANNELS, ChannelRules
from kizuna.domain.messages import OutboundMessage, Priority
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore, ChannelStore, ConsentStore, EndpointStore, SendQueue, TemplateStore
from kizuna.ports_analytics import LinkStore
from kizuna.services.compose import MessagePlan, Refusal, refuse
from kizuna.services.links import track_message_links
from kizuna.services.recipients import Consent, Recipient, SendContext, normalise, prepare

MAX_RECIPIENTS = 100
MAX_USERS = 100


@dataclass(frozen=True)
class LinkTracking:
    """Where tracked links are stored and the base URL their redirects are served under (the webhooks API)."""

    store: LinkStore
    base_url: str


@dataclass
class SendDeps:
    apps: AppStore
    endpoints: EndpointStore
    queue: SendQueue
    clock: Clock
    templates: TemplateStore | None = None
    channels: ChannelStore | None = None
    consent: ConsentStore | None = None
    links: LinkTracking | None = None  # used when the app's messaging policy sets TrackLinks


def send_messages(
    deps: SendDeps,
    app_id: str,
    request: dict[str, Any],
    *,
    priority: Priority = "transactional",
    attribution: dict[str, str] | None = None,
    not_after: datetime | None = None,
) -> dict[str, Any]:
    """Pinpoint's MessageResponse for a MessageRequest."""
    addresses: dict[str, dict] = request.get("Addresses") or {}
    endpoint_configs: dict[str, dict] = request.get("Endpoints") or {}
    if not addresses and not endpoint_configs:
        raise BadRequest("MessageRequest must name at least one recipient in Addresses or Endpoints")
    if len(addresses) + len(endpoint_configs) > MAX_RECIPIENTS:
        raise BadRequest(f"MessageRequest may name at most {MAX_RECIPIENTS} recipients")
    ctx = context_for(deps, app_id, request, priority, attribution, not_after)
    found = deps.endpoints.get_endpoints(app_id, list(endpoint_configs)) if endpoint_configs else {}
    recipients: list[Recipient] = [
        Recipient(address, config.get("ChannelType"), address, config) for address, config in addresses.items()
    ]
    missing: dict[str, Refusal] = {}
    for endpoint_id, config in endpoint_configs.items():
        endpoint = found.get(endpoint_id)
        if endpoint is None:
            missing[endpoint_id] = refuse(f"Endpoint {endpoint_id} not found", code=404)
        else:
            recipients.append(
                Recipient(endpoint_id, endpoint.get("ChannelType"), endpoint.get("Address", ""), config, endpoint)
            )
    results = _decide_and_queue(deps, ctx, recipients)

    response: dict[str, Any] = {"ApplicationId": app_id, "RequestId": ctx.request_id}
    if addresses:
        response["Result"] = {a: results[("address", a)] for a in addresses}
    if endpoint_configs:
        response["EndpointResult"] = {
            e: {**(missing[e].as_result() if e in missing else results[("endpoint", e)]), **_address_of(found, e)}
            for e in endpoint_configs
        }
    return response


def send_users_messages(deps: SendDeps, app_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """Pinpoint's SendUsersMessageResponse: every endpoint of each named user, answered per user and endpoint."""
    users: dict[str, dict] = request.get("Users") or {}
    if not users:
        raise BadRequest("SendUsersMessageRequest.Users must name at least one user")
    if len(users) > MAX_USERS:
        raise BadRequest(f"SendUsersMessageRequest.Users may name at most {MAX_USERS} users")
    ctx = context_for(deps, app_id, request, "transactional", None, None)
    recipients: list[Recipient] = []
    owners: dict[str, list[str]] = {}
    for user_id, config in users.items():
        endpoints = deps.endpoints.user_endpoints(app_id, user_id)
        owners[user_id] = [e["Id"] for e in endpoints]
        for endpoint in endpoints:
            recipients.append(
                Recipient(endpoint["Id"], endpoint.get("ChannelType"), endpoint.get("Address", ""), config, endpoint)
            )
    results = _decide_and_queue(deps, ctx, recipients)
    return {
        "ApplicationId": app_id,
        "RequestId": ctx.request_id,
        "Result": {user: {e: results[("endpoint", e)] for e in owned} for user, owned in owners.items()},
    }


def send_to_endpoints(deps: SendDeps, ctx: SendContext, endpoints: Sequence[dict[str, Any]]) -> dict[str, dict]:
    """Campaign runs: send `ctx`'s message to stored endpoints (at most MAX_RECIPIENTS, already read), answered per
    endpoint id like SendMessages' EndpointResult. `ctx` comes from context_for, once per run piece and treatment."""
    if len(endpoints) > MAX_RECIPIENTS:
        raise ValueError(f"at most {MAX_RECIPIENTS} endpoints per call")
    recipients = [Recipient(e["Id"], e.get("ChannelType"), e.get("Address", ""), {}, e) for e in endpoints]
    return {key: result for (_, key), result in _decide_and_queue(deps, ctx, recipients).items()}


def context_for(
    deps: SendDeps,
    app_id: str,
    request: dict[str, Any],
    priority: Priority,
    attribution: dict[str, str] | None,
    not_after: datetime | None,
) -> SendContext:
    if deps.apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")
    plan = MessagePlan.load(request, deps.templates)
    rules = ChannelRules(*deps.channels.get_rules(app_id)) if deps.channels else ChannelRules()
    settings = deps.apps.get_settings(app_id) or {}
    return SendContext(
        app_id=app_id,
        request_id=str(uuid.uuid4()),
        now=deps.clock.now(),
        plan=plan,
        rules=rules,
        consent=Consent({}, {}),
        quiet_time=settings.get("QuietTime") or {},
        context=request.get("Context") or {},
        priority=priority,
        attribution=attribution,
        not_after=not_after,
    )


def _decide_and_queue(deps: SendDeps, ctx: SendContext, recipients: Sequence[Recipient]) -> dict[tuple, dict]:
    ctx = replace(ctx, consent=_read_consent(deps, ctx.app_id, recipients))
    decided: dict[tuple, OutboundMessage | Refusal] = {
        ("endpoint" if r.endpoint else "address", r.key): prepare(r, ctx) for r in recipients
    }
    to_queue = [m for m in decided.values() if isinstance(m, OutboundMessage)]
    if deps.links is not None and ctx.rules.policy.get("TrackLinks") and to_queue:
        tracked = track_message_links(to_queue, deps.links.store, deps.clock, deps.links.base_url, ctx.rules)
        if tracked:
            decided = {k: tracked.get(m.message_id, m) if isinstance(m, OutboundMessage) else m
                       for k, m in decided.items()}  # fmt: skip
            to_queue = [m for m in decided.values() if isinstance(m, OutboundMessage)]
    not_queued = set(deps.queue.enqueue(to_queue)) if to_queue else set()
    return {key: _result(outcome, not_queued) for key, outcome in decided.items()}


def _read_consent(deps: SendDeps, app_id: str, recipients: Sequence[Recipient]) -> Consent:
    """Keyword opt-outs per phone channel and WhatsApp windows: one batched read each, for the whole request."""
    if deps.consent is None:
        return Consent({}, {})
    by_channel: dict[str, set[str]] = defaultdict(set)
    for r in recipients:
        if r.channel in PHONE_CHANNELS:
            try:
                by_channel[r.channel].add(normalise(r.channel, r.address)[0])
            except BadRequest:
                continue  # refused by prepare() with its reason
    opted_out = {c: deps.consent.opted_out(app_id, c, sorted(a)) for c, a in by_channel.items()}
    whatsapp = sorted(by_channel.get("WHATSAPP", set()))
    last_inbound = deps.consent.last_inbound(app_id, "WHATSAPP", whatsapp) if whatsapp else {}
    return Consent(opted_out, last_inbound)


def _result(outcome: OutboundMessage | Refusal, not_queued: set[str]) -> dict[str, Any]:
    if isinstance(outcome, Refusal):
        return outcome.as_result()
    if outcome.message_id in not_queued:
        return refuse("The send queue did not accept the message; retry", 503, "TEMPORARY_FAILURE").as_result()
    return {
        "DeliveryStatus": "SUCCESSFUL",
        "StatusCode": 202,
        "StatusMessage": "Queued for delivery",
        "MessageId": outcome.message_id,
    }


def _address_of(found: dict[str, dict], endpoint_id: str) -> dict[str, str]:
    address = found.get(endpoint_id, {}).get("Address")
    return {"Address": address} if address else {}
