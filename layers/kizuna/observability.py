"""One logger and one metrics object for every function; handlers decorate with them, services log through them."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
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


logger = Logger()
metrics = _metrics("Kizuna")
