"""Link tracking (Kizuna extension): links in SMS and WhatsApp bodies rewritten to a short redirect on the stack's
own domain (carriers filter public shorteners), and a click recorded as an event before redirecting.

When the app's messaging policy sets `TrackLinks`, SendMessages (and every campaign and journey send, which use
it) rewrites each SMS/WhatsApp body at acceptance (`track_message_links`), so the segment count and the cost the
spend cap charges are those of the body that goes out. Codes are derived from the message id and the link, so a
retried request rewrites to the same codes and stores the same items. A click on
`<base>/l/<code>` emits `_<CHANNEL>.CLICK` (attributes: message_id, link, and the message's campaign/journey
attributes) and answers 302 to the original URL; a click on a journey message's link is also kept for the
journey's `_SMS.CLICK`-style conditions (kizuna.services.journey_engagement). Link previews (WhatsApp, iMessage,
chat apps fetching the URL) are redirected but not counted.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from typing import Any

from kizuna.clock import Clock, iso
from kizuna.domain.channels import ChannelRules
from kizuna.domain.messages import OutboundMessage
from kizuna.ports import EventSink
from kizuna.ports_analytics import LinkStore
from kizuna.ports_journeys import EngagementStore
from kizuna.services.event_stream import pinpoint_event
from kizuna.services.journey_engagement import record_click
from kizuna.sms_segments import count_segments

LINK_PATH = "/l/"
TRACKED_CHANNELS = ("SMS", "WHATSAPP")  # a voice call speaks its text and e-mail links are the sender's own
CODE_CHARS = 10
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# A URL ends before whitespace, quotes or angle brackets; trailing punctuation belongs to the sentence (and the
# Japanese full stops and brackets that follow links in Japanese text).
_URL = re.compile(r"https?://[^\s<>\"'「」『』（）、。]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""
_CODE = re.compile(rf"^[0-9A-Za-z]{{{CODE_CHARS}}}$")
# Carried from the message to its click events, so clicks count per campaign, treatment and journey activity.
CARRIED_ATTRIBUTES = ("campaign_id", "campaign_activity_id", "treatment_id", "journey_id", "journey_activity_id")
PREVIEW_AGENTS = ("whatsapp", "facebookexternalhit", "twitterbot", "slackbot", "telegrambot", "discordbot",
                  "linkedinbot", "skypeuripreview", "applebot", "googlebot", "bingbot", "line-poker")  # fmt: skip


def short_code(app_id: str, message_id: str, position: int, url: str) -> str:
    digest = int.from_bytes(hashlib.sha256(f"{app_id}|{message_id}|{position}|{url}".encode()).digest()[:8], "big")
    code = ""
    for _ in range(CODE_CHARS):
        digest, index = divmod(digest, len(_ALPHABET))
        code += _ALPHABET[index]
    return code


def rewrite_links(
    body: str,
    store: LinkStore,
    clock: Clock,
    *,
    base_url: str,
    app_id: str,
    message_id: str,
    channel: str = "SMS",
    endpoint_id: str | None = None,
    attributes: dict[str, str] | None = None,
) -> str:
    """The body with each http(s) link replaced by `<base_url>/l/<code>`; the links are stored first, so a message
    never goes out with a code that does not resolve. Links already on `base_url` are left alone."""
    body, links = plan_links(
        body, clock, base_url=base_url, app_id=app_id, message_id=message_id, channel=channel,
        endpoint_id=endpoint_id, attributes=attributes,
    )  # fmt: skip
    if links:
        store.put_links(links)
    return body


def track_message_links(
    messages: Sequence[OutboundMessage], store: LinkStore, clock: Clock, base_url: str, rules: ChannelRules
) -> dict[str, OutboundMessage]:
    """The SMS and WhatsApp messages among `messages` whose bodies hold links, rewritten (by message id), with
    their segments and estimated cost counted again. Every link of the batch is stored in one batched write
    before any message is queued."""
    rewritten: dict[str, OutboundMessage] = {}
    links: list[dict[str, Any]] = []
    for message in messages:
        if message.channel not in TRACKED_CHANNELS or message.whatsapp_template is not None:
            continue
        body, found = plan_links(
            message.body, clock, base_url=base_url, app_id=message.app_id, message_id=message.message_id,
            channel=message.channel, endpoint_id=message.endpoint_id, attributes=message.attribution,
        )  # fmt: skip
        if not found:
            continue
        links += found
        segments = count_segments(body).segments if message.channel == "SMS" else message.segments
        rewritten[message.message_id] = message.model_copy(
            update={
                "body": body,
                "segments": segments,
                "cost_usd": rules.estimated_cost(message.channel, message.country, segments),
            }
        )
    if links:
        store.put_links(links)
    return rewritten


def plan_links(
    body: str,
    clock: Clock,
    *,
    base_url: str,
    app_id: str,
    message_id: str,
    channel: str = "SMS",
    endpoint_id: str | None = None,
    attributes: dict[str, str] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """The rewritten body and the link items to store (none: the body is returned unchanged)."""
    base = base_url.rstrip("/")
    links: list[dict[str, Any]] = []
    pieces: list[str] = []
    last = 0
    for position, match in enumerate(_URL.finditer(body)):
        url = match.group(0).rstrip(_TRAILING)
        if url.startswith(base + "/"):
            continue
        code = short_code(app_id, message_id, position, url)
        links.append(
            {
                "code": code,
                "url": url,
                "app_id": app_id,
                "message_id": message_id,
                "channel": channel.upper(),
                "endpoint_id": endpoint_id or "",
                "attributes": {k: v for k, v in (attributes or {}).items() if k in CARRIED_ATTRIBUTES and v},
                "created": iso(clock.now()),
            }
        )
        pieces += [body[last : match.start()], f"{base}{LINK_PATH}{code}"]
        last = match.start() + len(url)
    if not links:
        return body, []
    return "".join(pieces) + body[last:], links


def follow_link(
    store: LinkStore,
    events: EventSink,
    clock: Clock,
    code: str,
    user_agent: str = "",
    engagement: EngagementStore | None = None,
) -> str | None:
    """The URL to redirect to (None: unknown or expired code). A click by a person is recorded as an event, and
    kept for journey conditions when the link is a journey message's."""
    if not _CODE.match(code):
        return None
    link = store.get_link(code)
    if link is None:
        return None
    if not is_preview(user_agent):
        now = clock.now()
        attributes = {"message_id": link["message_id"], "link": link["url"], **link.get("attributes", {})}
        events.emit(
            [
                pinpoint_event(
                    f"_{link['channel']}.CLICK",
                    link["app_id"],
                    now,
                    now,
                    attributes,
                    client_id=link.get("endpoint_id") or link["message_id"],
                    ident=str(uuid.uuid4()),  # every click is its own event
                )
            ]
        )
        if engagement is not None:
            record_click(engagement, link, now)
    return link["url"]


def is_preview(user_agent: str) -> bool:
    agent = (user_agent or "").lower()
    return any(name in agent for name in PREVIEW_AGENTS)
