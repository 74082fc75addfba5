"""The public webhooks API, an API Gateway HTTP API: Twilio callbacks (`/webhooks/twilio/{proxy+}`) to the
twilio_webhook function; consultation calls (`/webhooks/twilio/voice/{proxy+}`) to voice_webhook; Stripe events
(`/webhooks/stripe/{proxy+}`) to stripe_webhook. The functions get payload format 2.0 events and parse them with
Powertools' APIGatewayHttpResolver. Tracked links are not here: they stay on the REST API they were always served
by, so the links in messages already sent keep working (infra/links_api.py).

Why an HTTP API. Twilio posts about three status callbacks per message, and this API took them as a REST API at
$3.50 per million requests; an HTTP API takes them at $1.00 (docs/cost.md). A Lambda function URL would cost nothing
per request, but each function would get a URL of its own (four base URLs, one per function, instead of one with the
same paths), its only throttle would be reserved concurrency (a cap on concurrent invocations, not a request rate,
and one that accounts with a low concurrency quota cannot set aside: the deploy fails), and it writes no access log.
The HTTP API keeps what the REST API gave the webhooks: one base URL, the same paths, a rate limit on the stage and
a JSON access log. What it does not have: X-Ray tracing of the stage (the functions still trace) and an AWS WAF
association (WAF attaches to REST APIs only); docs/security.md says what that changes.

Twilio and Stripe cannot sign with AWS credentials; each function verifies the provider's signature
(X-Twilio-Signature, Stripe-Signature) and rejects anything else with 403 (Stripe: 400).
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from infra.nag import acknowledge

TWILIO_PATH = "/webhooks/twilio"
VOICE_PATH = f"{TWILIO_PATH}/voice"
STRIPE_PATH = "/webhooks/stripe"
# Stage-wide throttling: the default route settings apply to every route, and no route has settings of its own.
RATE_LIMIT = 50
BURST_LIMIT = 100
# One JSON line per request, the fields of the REST API's access log (the route key in place of the resource path).
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
}
HOW_REQUESTS_ARE_VERIFIED = (
    "Twilio and Stripe cannot present AWS or Cognito credentials; the webhook functions verify the "
    "X-Twilio-Signature / Stripe-Signature HMAC of every request and reject unsigned or tampered ones."
)


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLog:
    def __init__(self, group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(group)
        self._format = apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":")))

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return self._format


class WebhooksApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        twilio_function: lambda_.IFunction,
        voice_function: lambda_.IFunction | None = None,
        stripe_function: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api = apigwv2.HttpApi(
            self,
            "HttpApi",
            api_name="kizuna-webhooks",
            description="Kizuna provider webhooks (Twilio status callbacks, inbound messages, voice, Stripe)",
            create_default_stage=False,
        )
        access_logs = logs.LogGroup(self, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS)
        # `$default`: the URL has no stage segment, so a path is the same at the base URL and in the event (rawPath).
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=RATE_LIMIT, burst_limit=BURST_LIMIT),
            access_log_settings=_AccessLog(access_logs),
        )
        self.route(TWILIO_PATH, twilio_function)
        # Billed consultations (issue 8): HTTP APIs prefer the most specific route, so voice/ wins over twilio/.
        if voice_function is not None:
            self.route(VOICE_PATH, voice_function)
        if stripe_function is not None:
            self.route(STRIPE_PATH, stripe_function)
        # Twilio posts callbacks under this URL, e.g. <base>/webhooks/twilio/status (no trailing slash).
        self.url = self.api.api_endpoint

    def route(self, prefix: str, function: lambda_.IFunction) -> None:
        """`<prefix>/{proxy+}`, any method, to `function` (payload format 2.0); authorization done by the function."""
        name = "".join(part.capitalize() for part in prefix.strip("/").split("/"))
        routes = self.api.add_routes(
            path=f"{prefix}/{{proxy+}}",
            methods=[apigwv2.HttpMethod.ANY],
            integration=HttpLambdaIntegration(
                f"{name}Integration", function, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0
            ),
        )
        for route in routes:
            acknowledge(route, {"AwsSolutions-APIG4": HOW_REQUESTS_ARE_VERIFIED})
