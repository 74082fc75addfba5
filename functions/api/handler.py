"""Management API: Pinpoint v1 over API Gateway, authenticated with SigV4 inside the function."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from kizuna.api.app import build_resolver
from kizuna.observability import logger
from kizuna.settings import ApiSettings
from kizuna.wiring import api_deps

settings = ApiSettings()
_resolvers: dict[str, object] = {}


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def handler(event: dict, context: LambdaContext) -> dict:
    # The app ARN needs the account and region, which only the invocation's context knows.
    arn_prefix = "arn:aws:mobiletargeting:" + ":".join(context.invoked_function_arn.split(":")[3:5])
    resolver = _resolvers.get(arn_prefix)
    if resolver is None:
        resolver = _resolvers[arn_prefix] = build_resolver(api_deps(settings, arn_prefix))
    return resolver.resolve(event, context)
