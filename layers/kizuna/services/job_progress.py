"""Counting a job's pieces and finishing the job: shared by import, export and campaign-run pieces.

A piece is recorded once (JobStore.record_piece is conditional), and the job is finished once (JobStore.finish_job
succeeds only while PROCESSING with every piece done). Between the two, anything can fail: the handler crashes, or
the call that recorded the last piece applies but its answer is lost and the SDK's retry finds the piece already
counted. So completion is checked on every delivery, counted now or before: a redelivered last piece finishes a job
that its first delivery left complete but unfinished, instead of leaving it PROCESSING for ever.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from kizuna.clock import Clock
from kizuna.domain.jobs import PROCESSING, PieceOutcome, final_status
from kizuna.ports import JobStore

logger = Logger(child=True)


def count_piece(
    jobs: JobStore, clock: Clock, job_type: str, app_id: str, job_id: str, piece: int, outcome: PieceOutcome
) -> None:
    if not jobs.record_piece(app_id, job_type, job_id, piece, outcome):
        logger.info("piece already counted", extra={"job_id": job_id, "piece": piece})
    job = jobs.get_job(app_id, job_type, job_id)
    if not job or job["JobStatus"] != PROCESSING:
        return
    if job.get("CompletedPieces", 0) + job.get("FailedPieces", 0) < job.get("TotalPieces", 0):
        return
    if jobs.finish_job(app_id, job_type, job_id, final_status(job), clock.now()):
        logger.info("job finished", extra={"job_id": job_id, "type": job_type})
