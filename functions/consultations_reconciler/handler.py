"""Consultations reconciler (every 5 minutes): settles what callbacks and webhooks left open, exactly once."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.observability import logger, metrics
from kizuna.services.consultations_reconcile import reconcile_consultations
from kizuna.settings import ConsultationsReconcilerSettings
from kizuna.wiring_consultations import consultation_deps

settings = ConsultationsReconcilerSettings()
deps = consultation_deps(settings)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    report = reconcile_consultations(deps)
    logger.info("reconciled consultations", **report)
    return report
