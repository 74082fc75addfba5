"""Analytics web: the read-only dashboard (authenticated with a dashboard token signed by a Kizuna key; reached
through the management REST API) and the tracked-link redirects (public; through the links REST API, whose URL the
links already sent carry)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.auth.access_keys import CachedSecretLookup
from kizuna.clock import SystemClock
from kizuna.observability import logger
from kizuna.settings import AnalyticsWebSettings
from kizuna.web.app import WebDeps, build_resolver
from kizuna.wiring import access_key_store, data_store, event_sink
from kizuna.wiring_analytics import aggregate_store, link_store
from kizuna.wiring_journeys import engagement_store, journey_store, participant_store

settings = AnalyticsWebSettings()
clock = SystemClock()
aggregates = aggregate_store(settings.analytics_table)
app = build_resolver(
    WebDeps(
        apps=data_store(settings.data_table),
        aggregates=aggregates,
        links=link_store(settings.analytics_table),
        events=event_sink(settings.events_stream),
        keys=CachedSecretLookup(access_key_store(settings.access_keys_table, settings.keys_kms_key_id), clock),
        clock=clock,
        engagement=engagement_store(settings.data_table),  # clicks on journey messages' links
        journeys=journey_store(settings.data_table),  # the app's journeys
        participants=participant_store(settings.journeys_table),  # a journey's execution metrics
    )
)


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
