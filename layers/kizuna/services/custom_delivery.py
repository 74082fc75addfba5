"""A campaign treatment's CUSTOM delivery: its endpoints, in batches of at most 50, queued as signed webhook posts.

The relay function posts them (kizuna.services.relay: retried with backoff, dead-lettered with the reason). A batch
is identified by its delivery id (campaign, run, treatment, endpoint ids): a campaign piece that runs again queues
the same batches with the same ids, which the receiver uses to recognise a repeat (kizuna.domain.custom_delivery).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
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
    chosen = [e for e in endpoints if rules.wants(configuration, e) and _reachable(e)]
    requests = [
        RelayRequest(
            url=configuration["DeliveryUri"],
            app_id=app_id,
            channel="CUSTOM",
            received_at=iso(now),
            body=body,
            delivery_id=rules.delivery_id(campaign_id, run_id, treatment_id, [e["Id"] for e in batch]),
        )
        for batch, body in _batches(chosen, app_id, campaign_id, run_id, treatment_id, data, iso(now))
    ]
    if requests:
        relays.enqueue_relays(requests)
    return chosen


def _reachable(endpoint: dict[str, Any]) -> bool:
    return endpoint.get("OptOut", "NONE") != "ALL" and endpoint.get("EndpointStatus", "ACTIVE") == "ACTIVE"


def _batches(
    endpoints: list[dict[str, Any]], app_id: str, campaign_id: str, run_id: str, treatment_id: str, data: str, at: str
) -> Iterator[tuple[list[dict[str, Any]], str]]:
    def body(batch: list[dict[str, Any]]) -> str:
        document = rules.payload(
            data=data, app_id=app_id, campaign_id=campaign_id, treatment_id=treatment_id, activity_id=run_id,
            scheduled_time=at, endpoints=batch,
        )  # fmt: skip
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))

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
