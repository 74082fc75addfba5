"""The public webhook REST API: Twilio callbacks (`/webhooks/twilio/{proxy+}`) to the twilio_webhook function;
consultation calls (`/webhooks/twilio/voice/{proxy+}`) to voice_webhook; Stripe events (`/webhooks/stripe/{proxy+}`)
to stripe_webhook.

Twilio and Stripe cannot sign with AWS credentials; each function verifies the provider's signature
(X-Twilio-Signature, Stripe-Signature) and rejects anything else with 403 (Stripe: 400).
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.rest_api import acknowledge_api, base_url, logged_rest_api, proxy_to

TWILIO_PATH = ("webhooks", "twilio")
VOICE_PART = "voice"  # under TWILIO_PATH
STRIPE_PART = "stripe"  # under "webhooks"


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
        # Billed consultations (issue 8): more specific paths than twilio/{proxy+}, so API Gateway prefers them.
        if voice_function is not None:
            proxy_to(resource.add_resource(VOICE_PART), voice_function)
        if stripe_function is not None:
            proxy_to(self.api.root.get_resource(TWILIO_PATH[0]).add_resource(STRIPE_PART), stripe_function)
        # Twilio posts callbacks under this URL, e.g. <base>/webhooks/twilio/status.
        self.url = base_url(self.api)
        acknowledge_api(
            self.api,
            how_requests_are_verified="Twilio and Stripe cannot present AWS or Cognito credentials; the webhook "
            "functions verify the X-Twilio-Signature / Stripe-Signature HMAC of every request and reject unsigned "
            "or tampered ones.",
        )
