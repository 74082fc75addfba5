"""Composition root for campaigns (issue 6): their run scheduler and the ports campaign runs use (see wiring.py).

Used by the API (it writes campaigns and schedules their runs) and the jobs function (it dispatches the runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kizuna import wiring, wiring_local
from kizuna.clock import Clock

if TYPE_CHECKING:
    from kizuna.services.campaign_runs import CampaignDeps
    from kizuna.settings import ApiSettings, CampaignSettings, JobsSettings


def run_scheduler(settings: CampaignSettings) -> Any:
    if wiring_local.run_scheduler_factory is not None:
        return wiring_local.run_scheduler_factory()
    from kizuna.adapters.scheduler_runs import EventBridgeRunScheduler

    return EventBridgeRunScheduler(
        wiring.aws("scheduler"),
        settings.campaign_schedule_group,
        settings.jobs_queue_arn,
        settings.campaign_scheduler_role_arn,
        settings.jobs_dlq_arn,
    )


def campaign_deps(settings: ApiSettings | JobsSettings, clock: Clock, arn_prefix: str | None = None) -> CampaignDeps:
    from kizuna.adapters.dynamo_campaigns import DynamoCampaignStore
    from kizuna.adapters.dynamo_endpoint_caps import DynamoEndpointCaps
    from kizuna.services.campaign_runs import CampaignDeps
    from kizuna.services.send_messages import LinkTracking, SendDeps
    from kizuna.wiring_analytics import link_store

    data = wiring.data_store(settings.data_table)
    channels = wiring.channel_store(settings.data_table)
    queue = wiring.job_queue(settings.jobs_queue_url)
    links = LinkTracking(link_store(settings.analytics_table), settings.links_base_url)
    send = SendDeps(data, data, wiring.send_queue(settings.send_queue_url), clock,
                    wiring.template_store(settings.data_table), channels, channels, links)  # fmt: skip
    return CampaignDeps(
        apps=data,
        endpoints=data,
        segments=wiring.segment_store(settings.data_table),
        campaigns=DynamoCampaignStore(settings.data_table, wiring.aws("dynamodb")),
        jobs=wiring.job_store(settings.data_table),
        jobs_queue=queue,
        scheduler=run_scheduler(settings),
        clock=clock,
        send=send,
        caps=DynamoEndpointCaps(settings.limits_table, wiring.aws("dynamodb")),
        relays=wiring.relay_queue(settings.relay_queue_url),
        **({"arn_prefix": arn_prefix} if arn_prefix else {}),  # only the API writes campaigns, and so their ARNs
    )
