"""Inbound SMS and WhatsApp messages: consent keywords, the WhatsApp window, events, and relays to third parties.

Each inbound message is handled once: its MessageSid is claimed first (Twilio retries a webhook that failed or was
slow, and a replay must not opt anyone out twice, relay twice or count twice).

Keywords are the whole message, one word, case-insensitive, after Unicode NFKC (so a full-width ＳＴＯＰ typed on a
Japanese keyboard counts): STOP, STOPALL, UNSUBSCRIBE, END, QUIT, CANCEL, OPTOUT and REVOKE opt the address out
(STOPALL of every phone channel, the others of the channel it arrived on), START and UNSTOP opt it back in, HELP is
answered with the app's help text. "Stop please" is a message, not a keyword. An opt-out is recorded against the
address (it holds for endpoints imported later) and set on every endpoint with that address and channel.

Any other message is a reply: it is kept as the answer to the latest journey message each endpoint at that address
was sent on that channel (kizuna.services.journey_engagement), which a journey's reply conditions read.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kizuna.clock import Clock, iso
from kizuna.domain.messages import RelayRequest
from kizuna.ports import ChannelStore, ConsentStore, EndpointStore, EventSink, InboundLedger, RelayQueue
from kizuna.ports_journeys import EngagementStore
from kizuna.services.event_stream import event_id, pinpoint_event
from kizuna.services.journey_engagement import record_reply

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "OPTOUT", "REVOKE"})
OPT_IN = frozenset({"START", "UNSTOP"})
HELP = frozenset({"HELP"})
ALL_PHONE_CHANNELS = ("SMS", "VOICE", "WHATSAPP")
DEFAULT_HELP = "Reply STOP to unsubscribe. / 配信停止はSTOPと返信してください。"


@dataclass
class InboundDeps:
    endpoints: EndpointStore
    channels: ChannelStore
    consent: ConsentStore
    ledger: InboundLedger
    relays: RelayQueue
    events: EventSink
    clock: Clock
    engagement: EngagementStore | None = None  # replies to journey messages (None: not linked)


@dataclass(frozen=True)
class InboundResult:
    duplicate: bool = False
    keyword: str | None = None
    reply: str | None = None  # sent back as TwiML <Message>


def keyword_of(body: str) -> str | None:
    word = unicodedata.normalize("NFKC", body).strip().upper()
    return word if word in OPT_OUT | OPT_IN | HELP else None


def handle_inbound(deps: InboundDeps, app_id: str, channel: str, params: dict[str, str]) -> InboundResult:
    """Apply one verified inbound-message webhook (`params` is Twilio's form)."""
    now = deps.clock.now()
    sid = params.get("MessageSid") or params.get("SmsMessageSid") or ""
    if not sid or not deps.ledger.claim_inbound(sid, now):
        return InboundResult(duplicate=True)
    try:
        return _handle(deps, app_id, channel, params, sid, now)
    except Exception:
        # Nothing is lost: Twilio retries a failed webhook, and the retry must not be taken for a duplicate.
        # (What already happened is idempotent: opt-outs and windows are set again, events are deduplicated by id,
        # a reply is kept once per MessageSid.)
        deps.ledger.release_inbound(sid)
        raise


def _handle(
    deps: InboundDeps, app_id: str, channel: str, params: dict[str, str], sid: str, now: datetime
) -> InboundResult:
    sender = params.get("From", "").removeprefix("whatsapp:")
    body = params.get("Body", "")
    keyword = keyword_of(body)
    _, policy = deps.channels.get_rules(app_id)
    prefix = "_WHATSAPP" if channel == "WHATSAPP" else "_SMS"
    events = [_received(app_id, prefix, sid, sender, params, keyword, now)]
    if channel == "WHATSAPP":
        deps.consent.record_inbound(app_id, "WHATSAPP", sender, now)
    reply = None
    if keyword in OPT_OUT or keyword in OPT_IN:
        opted_out = keyword in OPT_OUT
        channels = ALL_PHONE_CHANNELS if keyword == "STOPALL" else (channel,)
        deps.consent.set_opt_out(app_id, channels, sender, opted_out, now)
        changed = _set_endpoint_opt_out(deps.endpoints, app_id, sender, channels, opted_out, now)
        events.append(_consent_event(app_id, prefix, sid, sender, keyword, opted_out, changed, now))
    elif keyword in HELP:
        reply = policy.get("HelpMessage") or DEFAULT_HELP
    elif deps.engagement is not None:
        record_reply(deps.engagement, deps.endpoints, app_id, channel, sender, sid, body, now)
    relays = [
        RelayRequest(url=r["Url"], params=params, app_id=app_id, channel=channel, received_at=iso(now))
        for r in policy.get("InboundRelays") or []
        if channel in (r.get("Channels") or ("SMS", "WHATSAPP"))
    ]
    if relays:
        deps.relays.enqueue_relays(relays)
    deps.events.emit(events)
    return InboundResult(keyword=keyword, reply=reply)


def _set_endpoint_opt_out(
    endpoints: EndpointStore, app_id: str, address: str, channels: tuple[str, ...], opted_out: bool, now: datetime
) -> list[str]:
    value = "ALL" if opted_out else "NONE"
    changed = [
        {**e, "OptOut": value, "EffectiveDate": iso(now)}
        for e in endpoints.endpoints_by_address(app_id, address)
        if e.get("ChannelType") in channels and e.get("OptOut", "NONE") != value
    ]
    if changed:
        endpoints.put_endpoints(app_id, changed)
    return [e["Id"] for e in changed]


def _received(
    app_id: str, prefix: str, sid: str, sender: str, params: dict[str, str], keyword: str | None, now: datetime
) -> dict[str, Any]:
    attributes = {
        "message_id": sid,
        "origination_number": sender,
        "destination_phone_number": params.get("To", "").removeprefix("whatsapp:"),
        "message_body": params.get("Body", ""),
        "number_of_message_parts": params.get("NumSegments", "1"),
        "number_of_media": params.get("NumMedia", "0"),
    }
    if keyword:
        attributes["keyword"] = keyword
    return pinpoint_event(f"{prefix}.RECEIVED", app_id, now, now, attributes, ident=event_id(sid, "received"))


def _consent_event(
    app_id: str,
    prefix: str,
    sid: str,
    sender: str,
    keyword: str,
    opted_out: bool,
    endpoint_ids: list[str],
    now: datetime,
) -> dict[str, Any]:
    kind = "OPTOUT" if opted_out else "OPTIN"
    attributes = {
        "message_id": sid,
        "origination_number": sender,
        "keyword": keyword,
        "endpoint_ids": ",".join(endpoint_ids),
    }
    return pinpoint_event(f"{prefix}.{kind}", app_id, now, now, attributes, ident=event_id(sid, kind))
