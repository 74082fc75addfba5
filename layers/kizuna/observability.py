"""One logger and one metrics object for every function; handlers decorate with them, services log through them."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="Kizuna")
