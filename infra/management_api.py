"""The management REST API: Pinpoint v1 paths (`/v1/{proxy+}`) to the api function.

Authentication is AWS SigV4 with Kizuna's own access keys, verified inside the function (the stock boto3 pinpoint
client signs its requests), so the methods themselves use authorization NONE.
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.nag import acknowledge
from infra.rest_api import acknowledge_api, base_url, logged_rest_api, proxy_to


class ManagementApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        self.api = logged_rest_api(
            self,
            name="kizuna-management",
            description="Kizuna management API (Pinpoint REST API v1 compatible)",
            rate_limit=100,
            burst_limit=200,
            create_cloudwatch_role=True,
        )
        proxy_to(self.api.root.add_resource("v1"), function)
        self.url = base_url(self.api)
        acknowledge_api(
            self.api,
            how_requests_are_verified="Requests are signed with AWS SigV4 using Kizuna access keys (what the stock "
            "boto3 pinpoint client sends) and the api function verifies the signature before anything else; "
            "neither IAM nor Cognito authorizers can check Kizuna's own keys.",
        )
        acknowledge(
            self.api,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]": "The account-level role API Gateway uses to write "
                "execution logs; the AWS managed policy is the documented one and is scoped to CloudWatch Logs.",
            },
        )

    @property
    def cloudwatch_account(self) -> apigateway.CfnAccount | None:
        """The account-level setting naming the role REST stages log with (the links API's stage waits for it)."""
        return self.api.node.try_find_child("Account")
