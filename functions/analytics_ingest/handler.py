"""Analytics ingest: S3 ObjectCreated notifications of the events bucket (via SQS) → each object's events claimed in
the ledger, counted into the day aggregates, and forwarded to the app's own event stream; then the object's
identifier filter and the erasure tombstones (kizuna.services.erase_at_ingest); failures per record."""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.clock import SystemClock
from kizuna.observability import logger, metrics
from kizuna.services.erase_at_ingest import ingest_announced_object
from kizuna.services.event_streams import CachedEventStreams
from kizuna.settings import AnalyticsIngestSettings
from kizuna.wiring_analytics import (
    EVENT_TRIGGERS,
    aggregate_store,
    erasure_index,
    event_destinations,
    event_ledger,
    event_objects,
)

settings = AnalyticsIngestSettings()
ledger = event_ledger(settings.analytics_events_table)
aggregates = aggregate_store(settings.analytics_table)
streams = CachedEventStreams(aggregate_store(settings.analytics_table))
destinations = event_destinations()
objects = event_objects()
erasures = erasure_index(settings.analytics_table)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    body = json.loads(record.body)
    if body.get("Event") == "s3:TestEvent":  # S3 sends one when the notification is configured
        return
    for s3_record in S3Event(body).records:
        bucket, key = s3_record.s3.bucket.name, unquote_plus(s3_record.s3.get_object.key)
        if bucket != settings.events_bucket:
            logger.warning("notification for another bucket ignored", bucket=bucket)
            continue
        report = ingest_announced_object(
            bucket, key, objects, ledger, aggregates, streams, destinations, erasures, SystemClock(), EVENT_TRIGGERS
        )
        if report is None:  # erasure rewrote an object counted before; S3 announces the rewrite too
            continue
        if report.scrubbed_late:
            metrics.add_metric(name="ErasedEventsScrubbedAtIngest", unit="Count", value=report.scrubbed_late)
        metrics.add_metric(name="AnalyticsEventsCounted", unit="Count", value=report.events)
        metrics.add_metric(name="AnalyticsDuplicates", unit="Count", value=report.duplicates)
        if report.malformed:
            metrics.add_metric(name="AnalyticsMalformedLines", unit="Count", value=report.malformed)
        if report.refused:
            metrics.add_metric(name="EventStreamRefused", unit="Count", value=report.refused)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event, record_handler, processor, context)
