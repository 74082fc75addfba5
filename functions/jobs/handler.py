"""Jobs: one import plan, import piece, export piece, app purge step, campaign run, campaign piece or erasure piece
per SQS message (batch size 1), failures reported per record.

A piece that raises is delivered again by SQS; on its last delivery (the queue's maxReceiveCount) the service counts
it as a failed piece instead, so the job still completes and says why.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.catalog import QUEUES
from kizuna.domain.jobs import (
    CampaignPiece,
    CampaignRun,
    EraseEventsPiece,
    EraseLedgerPiece,
    ExportPiece,
    ImportPiece,
    JobEnvelope,
    PlanImport,
    PurgeApp,
)
from kizuna.observability import logger
from kizuna.services.apps import purge_app_step
from kizuna.services.campaign_runs import run_piece, start_run
from kizuna.services.erase_events import process_erasure_piece
from kizuna.services.export_jobs import process_export_piece
from kizuna.services.import_jobs import plan_import, process_import_piece
from kizuna.settings import JobsSettings
from kizuna.wiring import jobs_deps
from kizuna.wiring_analytics import erasure_deps

settings = JobsSettings()
deps = jobs_deps(settings)
erasures = erasure_deps(settings)
processor = BatchProcessor(event_type=EventType.SQS)
MAX_RECEIVES = QUEUES["jobs"].max_receive_count


def record_handler(record: SQSRecord) -> None:
    message = JobEnvelope.model_validate_json(record.body).message
    final_attempt = int(record.attributes.approximate_receive_count) >= MAX_RECEIVES
    match message:
        case PlanImport():
            plan_import(deps, message)
        case ImportPiece():
            process_import_piece(deps, message, final_attempt)
        case ExportPiece():
            process_export_piece(deps, message, final_attempt)
        case PurgeApp():
            purge_app_step(deps.apps, deps.segments, deps.queue, message)
        case CampaignRun():
            start_run(deps.campaigns, message)
        case CampaignPiece():
            run_piece(deps.campaigns, message, final_attempt)
        case EraseEventsPiece() | EraseLedgerPiece():
            process_erasure_piece(erasures, message, final_attempt)


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event, record_handler, processor, context)
