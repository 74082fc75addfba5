"""CUSTOM delivery of a campaign treatment or a journey activity: its endpoints, in batches of at most 50, queued as
signed webhook posts.

The relay function posts them (kizuna.services.relay: retried with backoff, dead-lettered with the reason). A batch
is identified by its delivery id (campaign, run, treatment, endpoint ids): a campaign piece that runs again queues
the same batches with the same ids, which the receiver uses to recognise a repeat (kizuna.domain.custom_delivery).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from kizuna.clock import iso
from kizuna.domain import custom_delivery as rules
from kizuna.domain.messages import RelayRequest
from kizuna.ports import RelayQueue

# SQS takes 256 KiB per message; a batch of 50 large endpoints is cut in two rather than refused.
MAX_BODY_BYTES = 200_000


def deliver(
    relays: RelayQueue,
    *,
    app_id: str,
    campaign_id: str,
    run_id: str,
    treatment_id: str,
    configuration: dict[str, Any],
    data: str,
    endpoints: Sequence[dict[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """Queue the deliveries for those endpoints the configuration wants and that may be messaged; returns them."""
    at = iso(now)

    def document(batch: list[dict[str, Any]]) -> dict[str, Any]:
        return rules.payload(
            data=data, app_id=app_id, campaign_id=campaign_id, treatment_id=treatment_id, activity_id=run_id,
            scheduled_time=at, endpoints=batch,
        )  # fmt: skip

    def delivery_id(batch: list[dict[str, Any]]) -> str:
        return rules.delivery_id(campaign_id, run_id, treatment_id, [e["Id"] for e in batch])

    return _queue(relays, app_id, configuration, endpoints, document, delivery_id, at)


def deliver_for_journey(
    relays: RelayQueue,
    *,
    app_id: str,
    journey_id: str,
    run_id: str,
    activity_id: str,
    configuration: dict[str, Any],
    data: str,
    endpoints: Sequence[dict[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """A journey's CUSTOM activity (`configuration`: its DeliveryUri and EndpointTypes): as `deliver`, with the
    journey's ids in the payload and delivery ids from (journey, run, activity, endpoint ids). Endpoints are batched
    in id order, so a replayed wake-up queues the same batches with the same ids."""
    at = iso(now)

    def document(batch: list[dict[str, Any]]) -> dict[str, Any]:
        return rules.journey_payload(
            data=data, app_id=app_id, journey_id=journey_id, run_id=run_id, activity_id=activity_id,
            scheduled_time=at, endpoints=batch,
        )  # fmt: skip

    def delivery_id(batch: list[dict[str, Any]]) -> str:
        return rules.journey_delivery_id(journey_id, run_id, activity_id, [e["Id"] for e in batch])

    ordered = sorted(endpoints, key=lambda e: e["Id"])
    return _queue(relays, app_id, configuration, ordered, document, delivery_id, at)


def reachable(endpoint: dict[str, Any]) -> bool:
    """Whether a CUSTOM delivery may include the endpoint (not opted out of everything, active), as Pinpoint."""
    return endpoint.get("OptOut", "NONE") != "ALL" and endpoint.get("EndpointStatus", "ACTIVE") == "ACTIVE"


Document = Callable[[list[dict[str, Any]]], dict[str, Any]]


def _queue(
    relays: RelayQueue,
    app_id: str,
    configuration: dict[str, Any],
    endpoints: Sequence[dict[str, Any]],
    document: Document,
    delivery_id: Callable[[list[dict[str, Any]]], str],
    at: str,
) -> list[dict[str, Any]]:
    chosen = [e for e in endpoints if rules.wants(configuration, e) and reachable(e)]
    requests = [
        RelayRequest(
            url=configuration["DeliveryUri"],
            app_id=app_id,
            channel="CUSTOM",
            received_at=at,
            body=body,
            delivery_id=delivery_id(batch),
        )
        for batch, body in _batches(chosen, document)
    ]
    if requests:
        relays.enqueue_relays(requests)
    return chosen


def _batches(endpoints: list[dict[str, Any]], document: Document) -> Iterator[tuple[list[dict[str, Any]], str]]:
    def body(batch: list[dict[str, Any]]) -> str:
        return json.dumps(document(batch), ensure_ascii=False, separators=(",", ":"))

    for start in range(0, len(endpoints), rules.MAX_ENDPOINTS_PER_REQUEST):
        pending = [endpoints[start : start + rules.MAX_ENDPOINTS_PER_REQUEST]]
        while pending:
            batch = pending.pop(0)
            text = body(batch)
            if len(text.encode()) > MAX_BODY_BYTES and len(batch) > 1:
                half = len(batch) // 2
                pending[:0] = [batch[:half], batch[half:]]
                continue
            yield batch, text
