"""What both REST APIs share, the management API (infra/management_api.py) and the tracked links' (infra/links_api.py):
a logged, traced, throttled stage whose methods reach one function. The webhooks are an HTTP API
(infra/webhooks_api.py)."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.nag import acknowledge

STAGE_NAME = "prod"


def logged_rest_api(
    scope: Construct,
    *,
    name: str,
    description: str,
    rate_limit: int,
    burst_limit: int,
    create_cloudwatch_role: bool,
) -> apigateway.RestApi:
    access_logs = logs.LogGroup(scope, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS)
    api = apigateway.RestApi(
        scope,
        "Api",
        rest_api_name=name,
        description=description,
        endpoint_types=[apigateway.EndpointType.REGIONAL],
        # API Gateway writes REST execution logs with one role per account and region (HTTP APIs do not use it);
        # only the management API creates it.
        cloud_watch_role=create_cloudwatch_role,
        deploy_options=apigateway.StageOptions(
            stage_name=STAGE_NAME,
            access_log_destination=apigateway.LogGroupLogDestination(access_logs),
            access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                caller=False,
                http_method=True,
                ip=True,
                protocol=True,
                request_time=True,
                resource_path=True,
                response_length=True,
                status=True,
                user=False,
            ),
            logging_level=apigateway.MethodLoggingLevel.ERROR,
            data_trace_enabled=False,  # bodies carry personal data
            metrics_enabled=True,
            tracing_enabled=True,
            # Stage-wide throttling ("/*/*"): applies to every method.
            throttling_rate_limit=rate_limit,
            throttling_burst_limit=burst_limit,
        ),
    )
    # The stack publishes the URL itself (without RestApi's trailing slash); drop the automatic duplicate output.
    api.node.try_remove_child("Endpoint")
    return api


def proxy_to(resource: apigateway.IResource, function: lambda_.IFunction) -> apigateway.ProxyResource:
    """`{proxy+}` under resource, ANY method, Lambda proxy integration, authorization done by the function."""
    return resource.add_proxy(
        default_integration=apigateway.LambdaIntegration(function, allow_test_invoke=False),
        default_method_options=apigateway.MethodOptions(authorization_type=apigateway.AuthorizationType.NONE),
        any_method=True,
    )


def base_url(api: apigateway.RestApi) -> str:
    """The stage URL without a trailing slash (RestApi.url ends with one)."""
    return f"https://{api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}/{api.deployment_stage.stage_name}"


def acknowledge_api(api: apigateway.RestApi, *, how_requests_are_verified: str) -> None:
    acknowledge(
        api,
        {
            "AwsSolutions-APIG4": how_requests_are_verified,
            "AwsSolutions-COG4": how_requests_are_verified,
            "AwsSolutions-APIG2": "Lambda proxy integration: the function validates every request against its own "
            "models (pydantic) and answers with typed 400 errors; API Gateway models would duplicate them.",
            "AwsSolutions-APIG3": "Stage throttling limits request rates and every request is verified by the "
            "function before any work; a WAF web ACL is an operator's choice and can be associated with the stage "
            "without changing this stack.",
        },
    )
