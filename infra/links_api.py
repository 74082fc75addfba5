"""The tracked-links REST API: `/l/{proxy+}` to the analytics_web function, and nothing else.

Tracked links (kizuna.services.links) go out in SMS and WhatsApp bodies as `<LinksBaseUrl>/l/<code>` and redirect
for 180 days, so their base URL must never change: a message already sent cannot be edited. Before the webhooks
moved to an HTTP API (infra/webhooks_api.py), the links were served by the webhooks REST API, at its stage URL. This
construct is that REST API, kept: the stack creates it with the construct id the webhooks REST API had
(`WebhooksApi`, in infra/stack.py), so its logical ids (the API, its `prod` stage, the `/l` resources) are the ones
CloudFormation already has, it updates them in place and the URL stays `https://<same id>.execute-api.../prod`.
Links in new messages use the same base, so a link URL never changes again.

Why REST and not the HTTP API the webhooks now use: an HTTP API has a new id, so a new URL (the links already sent
would break), and clicks are few (a fraction of the messages that carry a link; Twilio's ~three status callbacks
per message are what moved to the HTTP API for cost), so REST's $3.50 per million instead of $1.00 buys a URL that
stays put. The stage is throttled and access-logged as the webhooks REST API's was.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.rest_api import acknowledge_api, base_url, logged_rest_api, proxy_to

LINKS_PART = "l"  # kizuna.services.links.LINK_PATH
# The webhooks REST API's figures, which the links had: one click is one request, far below this.
RATE_LIMIT = 50
BURST_LIMIT = 100


class LinksApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        self.api = logged_rest_api(
            self,
            # The name is an updatable property: renaming it does not replace the API (nor change its URL).
            name="kizuna-links",
            description="Kizuna tracked links (/l/<code> redirects in messages already sent: this URL must not change)",
            rate_limit=RATE_LIMIT,
            burst_limit=BURST_LIMIT,
            create_cloudwatch_role=False,  # the management API sets up the account's role (infra/stack.py)
        )
        proxy_to(self.api.root.add_resource(LINKS_PART), function)
        # The base of every tracked link: <url>/l/<code> (the stage URL, with /prod, as before the webhooks moved).
        self.url = base_url(self.api)
        acknowledge_api(
            self.api,
            how_requests_are_verified="Tracked links are public by design: a click is a redirect to the URL the "
            "message carried, and the function answers 404 to any code it did not store.",
        )
