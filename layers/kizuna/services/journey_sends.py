"""What stands between a journey's message activity and the send path, and its CUSTOM activity's delivery.

For each participant reaching a message activity (kizuna.services.journey_moves._send), in this order:
- the sending schedule (kizuna.domain.journey_hours): the journey's QuietTime (else the app's), and with
  `SendingSchedule: true` the activity channel's OpenHours and ClosedDays, read in the participant's zone — its
  Demographic.Timezone, else the one its phone number implies, else the journey's Schedule.Timezone, else UTC. A
  message due while they forbid it is held until the next open instant (its not_before); with `WaitForQuietTime:
  false` it is not sent at all (outcome QUIET_TIME), as Pinpoint skipped it;
- the limits (kizuna.domain.endpoint_caps): the journey's DailyCap and TotalCap, the app's JourneyLimits, and the
  app's Limits.Daily shared with campaigns, counted once per message id (a replayed wake-up counts nothing twice);
  a message over a cap is not sent (outcome CAPPED);
- MessagesPerSecond: each of the 16 shards spaces its messages 16/MPS seconds apart (not_before), carrying on
  across the batches of a wake-up; the sender's own rate buckets apply on top.

A CUSTOM activity is posted to the customer's webhook (kizuna.services.custom_delivery) through the relay queue, signed
by the relay function, after the same limits; consent and the timing of the final message are the receiver's
business, as for campaigns (Kizuna leaves out opted-out and inactive endpoints).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_lambda_powertools import Logger
from phonenumbers import NumberParseException

from kizuna.catalog import ENDPOINT_SHARDS
from kizuna.domain.campaign_schedule import resolve_zone
from kizuna.domain.channels import PHONE_CHANNELS
from kizuna.domain.custom_delivery import wants
from kizuna.domain.endpoint_caps import journey_counters_for
from kizuna.domain.journey_hours import next_send_time, window_for
from kizuna.domain.journey_steps import Send
from kizuna.domain.sharding import endpoint_shard
from kizuna.errors import KizunaError
from kizuna.ports import RelayQueue
from kizuna.ports_campaigns import EndpointCaps
from kizuna.services import custom_delivery
from kizuna.services.endpoints import estimated_timezone

logger = Logger(child=True)

CAPPED = "CAPPED"
QUIET_TIME = "QUIET_TIME"
MAX_PACERS = 1000

Item = tuple[dict[str, Any], Send]
Pacing = MutableMapping[tuple[str, str, str, int], datetime]  # (app, journey, run, shard) -> next free slot


@dataclass
class Gated:
    """The activity's messages that may go, each one's earliest instant, and the outcome of those that may not."""

    items: list[Item] = field(default_factory=list)
    not_before: dict[str, datetime] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


def gate(
    caps: EndpointCaps | None,
    settings: Mapping[str, Any],
    pacing: Pacing,
    journey: Mapping[str, Any],
    run_id: str,
    kind: str,
    items: Sequence[Item],
    now: datetime,
) -> Gated:
    """Decide each (endpoint, send) of one message activity: held, skipped, capped, paced."""
    window = window_for(journey, kind, settings.get("QuietTime"))
    fallback = _journey_zone(journey)
    skip_quiet = journey.get("WaitForQuietTime") is False
    gated = Gated()
    for endpoint, send in items:
        at = next_send_time(now, window, recipient_zone(endpoint, fallback))
        if at is None or (at > now and skip_quiet):
            gated.refused[endpoint["Id"]] = QUIET_TIME
            continue
        if not _admit(caps, settings, journey, endpoint, send, now):
            gated.refused[endpoint["Id"]] = CAPPED
            continue
        gated.items.append((endpoint, send))
        if at > now:
            gated.not_before[endpoint["Id"]] = at
    for (endpoint, _), slot in zip(gated.items, _slots(pacing, journey, run_id, gated.items, now), strict=True):
        if slot > gated.not_before.get(endpoint["Id"], now):
            gated.not_before[endpoint["Id"]] = slot
    return gated


def release_at(
    settings: Mapping[str, Any], journey: Mapping[str, Any], now: datetime
) -> Callable[[str, Mapping[str, Any]], datetime | None]:
    """When a message of `kind` reaching the send path now goes to `endpoint` if the sending schedule holds it (None:
    at once, or skipped with `WaitForQuietTime: false`): the engine holds the participant until then, as `gate`
    holds the message (kizuna.domain.journey_steps)."""
    skip_quiet = journey.get("WaitForQuietTime") is False
    fallback = _journey_zone(journey)
    windows: dict[str, Any] = {}

    def release(kind: str, endpoint: Mapping[str, Any]) -> datetime | None:
        if skip_quiet:
            return None
        if kind not in windows:
            windows[kind] = window_for(journey, kind, settings.get("QuietTime"))
        at = next_send_time(now, windows[kind], recipient_zone(endpoint, fallback))
        return at if at is not None and at > now else None

    return release


def deliver_custom(
    relays: RelayQueue | None,
    caps: EndpointCaps | None,
    settings: Mapping[str, Any],
    journey: Mapping[str, Any],
    run_id: str,
    activity_id: str,
    items: Sequence[Item],
    now: datetime,
) -> dict[str, str]:
    """Queue a CUSTOM activity's signed deliveries; returns each endpoint's outcome (SUCCESS for those queued)."""
    if relays is None:  # a world without a relay queue (the simulator): nothing can be posted
        logger.warning("no relay queue: CUSTOM activity not sent", extra={"activity": activity_id})
        return {endpoint["Id"]: "PERMANENT_FAILURE" for endpoint, _ in items}
    config = items[0][1].config
    outcomes: dict[str, str] = {}
    chosen: list[dict[str, Any]] = []
    for endpoint, send in items:
        if endpoint.get("OptOut", "NONE") == "ALL":
            outcomes[endpoint["Id"]] = "OPT_OUT"
        elif not (wants(config, endpoint) and custom_delivery.reachable(endpoint)):
            outcomes[endpoint["Id"]] = "PERMANENT_FAILURE"  # another channel than EndpointTypes, or inactive
        elif not _admit(caps, settings, journey, endpoint, send, now):
            outcomes[endpoint["Id"]] = CAPPED
        else:
            chosen.append(endpoint)
    if chosen:
        delivered = custom_delivery.deliver_for_journey(
            relays, app_id=journey["ApplicationId"], journey_id=journey["Id"], run_id=run_id, activity_id=activity_id,
            configuration=config, data=(config.get("MessageConfig") or {}).get("Data") or "", endpoints=chosen,
            now=now,
        )  # fmt: skip
        outcomes |= {endpoint["Id"]: "SUCCESS" for endpoint in delivered}
    return outcomes


def recipient_zone(endpoint: Mapping[str, Any], fallback: tzinfo) -> tzinfo:
    """The participant's zone: Demographic.Timezone, else the one its phone number implies, else `fallback`."""
    named = (endpoint.get("Demographic") or {}).get("Timezone")
    if named:
        try:
            return ZoneInfo(named)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    if endpoint.get("ChannelType") in PHONE_CHANNELS:
        try:
            estimated = estimated_timezone(endpoint.get("Address") or "")
        except NumberParseException:  # an address phonenumbers cannot read has no zone to offer
            estimated = None
        if estimated:
            return ZoneInfo(estimated)
    return fallback


def _journey_zone(journey: Mapping[str, Any]) -> tzinfo:
    try:
        return resolve_zone((journey.get("Schedule") or {}).get("Timezone"))
    except KizunaError:  # the review refuses an unknown zone before activation
        return ZoneInfo("UTC")


def _admit(
    caps: EndpointCaps | None,
    settings: Mapping[str, Any],
    journey: Mapping[str, Any],
    endpoint: Mapping[str, Any],
    send: Send,
    now: datetime,
) -> bool:
    counters = journey_counters_for(journey["Id"], journey.get("Limits") or {}, settings, now)
    if not counters or caps is None:
        return True
    return caps.admit(journey["ApplicationId"], endpoint["Id"], send.message_id, counters, now)


def _slots(pacing: Pacing, journey: Mapping[str, Any], run_id: str, items: list[Item], now: datetime) -> list[datetime]:
    """MessagesPerSecond: the next `len(items)` slots of the shard, 16/MPS seconds apart (all `now` without it)."""
    per_second = (journey.get("Limits") or {}).get("MessagesPerSecond")
    if not per_second or not items:
        return [now] * len(items)
    interval = timedelta(seconds=ENDPOINT_SHARDS / int(per_second))
    key = (journey["ApplicationId"], journey["Id"], run_id, endpoint_shard(items[0][0]["Id"]))
    start = max(pacing.get(key, now), now)
    if len(pacing) >= MAX_PACERS:  # a long-lived container: forget the pacers whose slots have passed
        for stale in [k for k, at in pacing.items() if at <= now]:
            del pacing[stale]
    pacing[key] = start + interval * len(items)
    return [start + interval * i for i in range(len(items))]
