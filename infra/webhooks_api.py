"""The public webhook REST API: Twilio callbacks (`/webhooks/twilio/{proxy+}`) to the twilio_webhook function.

Twilio cannot sign with AWS credentials; the function verifies X-Twilio-Signature and rejects anything else with 403.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.rest_api import acknowledge_api, base_url, logged_rest_api, proxy_to

TWILIO_PATH = ("webhooks", "twilio")


class WebhooksApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, twilio_function: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        self.api = logged_rest_api(
            self,
            name="kizuna-webhooks",
            description="Kizuna provider webhooks (Twilio status callbacks, inbound messages, voice)",
            rate_limit=50,
            burst_limit=100,
            create_cloudwatch_role=False,
        )
        resource = self.api.root
        for part in TWILIO_PATH:
            resource = resource.add_resource(part)
        proxy_to(resource, twilio_function)
        # Twilio posts callbacks under this URL, e.g. <base>/webhooks/twilio/status.
        self.url = base_url(self.api)
        acknowledge_api(
            self.api,
            how_requests_are_verified="Twilio cannot present AWS or Cognito credentials; the twilio_webhook function "
            "verifies the X-Twilio-Signature HMAC of every request and rejects unsigned or tampered ones with 403.",
        )
