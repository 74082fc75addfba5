"""One logger and one metrics object for every function; handlers decorate with them, services log through them."""

from __future__ import annotations

import logging
import re

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider


class _EmfProvider(AmazonCloudWatchEMFProvider):
    """With POWERTOOLS_METRICS_DISABLED set, Powertools 3.37 skips the flush but keeps the metrics, and once 100
    values accumulate `add_metric` prints them anyway. Disabled here means discarded (local mode sets it). An
    invocation that recorded nothing (a webhook retry, an empty batch) flushes nothing instead of warning."""

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if not self.metric_set and not raise_on_empty_metrics:
            return
        super().flush_metrics(raise_on_empty_metrics)
        if is_metrics_disabled():
            self.clear_metrics()


def _metrics(namespace: str) -> Metrics:
    shared = Metrics(namespace=namespace)  # Metrics' sets are class-level: every instance shares them
    shared.provider = _EmfProvider(
        namespace=namespace,
        metric_set=shared.metric_set,
        dimension_set=shared.dimension_set,
        metadata_set=shared.metadata_set,
        default_dimensions=shared.default_dimensions,
    )
    return shared


# A phone number as E.164 or written with spaces/hyphens after its "+" (WhatsApp's "whatsapp:+81..." too), and an
# e-mail address. Timestamps' "+09:00"/"+0000" are too short to match.
_PHONE = re.compile(r"(?<![\w+])\+\d(?:[ -]?\d){6,15}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
MASK = "*****"  # what Powertools' data masking erases with


def mask_personal_data(text: str) -> str:
    return _EMAIL.sub(MASK, _PHONE.sub(MASK, text))


class _MaskingFormatter(LambdaPowertoolsFormatter):
    """Kizuna's log lines carry ids, never addresses; this holds even for what a line did not choose to carry (an
    exception message quoting a number, a field added later): the rendered line is masked before it is written."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_personal_data(super().format(record))


logger = Logger(logger_formatter=_MaskingFormatter())
metrics = _metrics("Kizuna")
