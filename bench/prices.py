"""Every price the benchmarks compute with, in one table: USD per unit, with where it was read and when.

AWS prices are us-east-1 on-demand list prices (first tier where a service is tiered); Twilio's are its published
pay-as-you-go rates; Pinpoint's are its last published prices (it stopped taking new customers on 2026-05-20 and
ended support on 2026-10-30). Where a price was read through a copy of the vendor's page (the vendor page itself
is not in the stored corpus this was looked up in), the copy is named after the page.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    usd: float  # per unit
    unit: str
    source: str
    read: str  # when the figure was read (YYYY-MM or YYYY-MM-DD)


_LAMBDA = "aws.amazon.com/lambda/pricing"
_DDB = "aws.amazon.com/dynamodb/pricing/on-demand (after the 2024-11 cut)"
_FIREHOSE = "aws.amazon.com/firehose/pricing"
_PINPOINT = (
    "aws.amazon.com/pinpoint/pricing, as recorded by api-evangelist/amazon-pinpoint "
    "`plans/amazon-pinpoint-plans-pricing.yml` (read from the AWS page 2026-08-13)"
)

PRICES: dict[str, Price] = {
    # -- compute and APIs
    "lambda.request": Price(0.20e-6, "request", _LAMBDA, "2026-11"),
    "lambda.gb_second_arm64": Price(0.0000133334, "GB-second (arm64, first 7.5 billion)", _LAMBDA, "2026-11"),
    "apigateway.rest_request": Price(
        3.50e-6,
        "REST API request (first 333 million a month)",
        "aws.amazon.com/api-gateway/pricing, as quoted by docs.aws.amazon.com/whitepapers/latest/"
        "best-practices-api-gateway-private-apis-integration/cost-optimization.html",
        "2026-12-03",
    ),
    # The webhooks API (infra/webhooks_api.py): Twilio's status callbacks, each far under 512 KB.
    "apigateway.http_request": Price(
        1.00e-6,
        "HTTP API request, metered in 512 KB increments (first 300 million a month)",
        "aws.amazon.com/api-gateway/pricing, as quoted by the same whitepaper (us-east-1: $1.00 per million, "
        "$0.90 above 300 million) and by api-evangelist/amazon-web-services "
        "`plans/amazon-web-services-plans-pricing.yml` (read from the AWS page's pricing example 2026-09-20)",
        "2026-12-03",
    ),
    "stepfunctions.transition": Price(
        0.025e-3, "Standard state transition", "aws.amazon.com/step-functions/pricing", "2026-12"
    ),
    # -- data
    "dynamodb.write_request_unit": Price(0.625e-6, "WRU (1 KB written; a transaction's item 2)", _DDB, "2026-11"),
    "dynamodb.read_request_unit": Price(0.125e-6, "RRU (4 KB strongly consistent, 8 KB eventual)", _DDB, "2026-11"),
    "dynamodb.storage_gb_month": Price(
        0.25, "GB-month (Standard table class)", "aws.amazon.com/dynamodb/pricing", "2026-11"
    ),
    "sqs.request": Price(0.40e-6, "standard-queue request per 64 KB chunk", "aws.amazon.com/sqs/pricing", "2026-11"),
    "s3.put": Price(0.005e-3, "PUT/POST/LIST request (S3 Standard)", "aws.amazon.com/s3/pricing", "2026-11"),
    "s3.get": Price(0.0004e-3, "GET request (S3 Standard)", "aws.amazon.com/s3/pricing", "2026-11"),
    "s3.storage_gb_month": Price(0.023, "GB-month (S3 Standard, first 50 TB)", "aws.amazon.com/s3/pricing", "2026-11"),
    "firehose.ingest_gb": Price(
        0.029, "GB ingested by Direct PUT, each record rounded up to 5 KB (first 500 TB)", _FIREHOSE, "2026-12-03"
    ),
    "firehose.partitioning_gb": Price(0.020, "GB delivered with dynamic partitioning", _FIREHOSE, "2026-12-03"),
    "firehose.partitioning_object": Price(
        0.005e-3, "S3 object delivered with dynamic partitioning", _FIREHOSE, "2026-12-03"
    ),
    "firehose.jq_hour": Price(
        0.07, "JQ processing hour (dynamic partitioning's metadata extraction)", _FIREHOSE, "2026-12-03"
    ),
    # -- operations
    "logs.ingest_gb": Price(
        0.50, "GB ingested into CloudWatch Logs (Standard class)", "aws.amazon.com/cloudwatch/pricing", "2026-12"
    ),
    "logs.storage_gb_month": Price(
        0.03, "GB-month archived (compressed)", "aws.amazon.com/cloudwatch/pricing", "2026-12"
    ),
    "cloudwatch.alarm_month": Price(
        0.10, "standard-resolution alarm-month", "aws.amazon.com/cloudwatch/pricing", "2026-12"
    ),
    "xray.trace": Price(5.00e-6, "trace recorded", "aws.amazon.com/xray/pricing", "2026-12"),
    "kms.request": Price(0.03e-4, "KMS API request", "aws.amazon.com/kms/pricing", "2026-12"),
    "kms.key_month": Price(1.00, "customer managed key-month", "aws.amazon.com/kms/pricing", "2026-12"),
    "secretsmanager.request": Price(
        0.05e-4, "Secrets Manager API call", "aws.amazon.com/secrets-manager/pricing", "2026-12"
    ),
    "secretsmanager.secret_month": Price(0.40, "secret-month", "aws.amazon.com/secrets-manager/pricing", "2026-12"),
    # -- Twilio (per outbound SMS segment, before carrier fees)
    "twilio.sms_us": Price(
        0.0083,
        "outbound SMS segment to the US, long code (carrier fees extra)",
        "twilio.com/en-us/sms/pricing/us, as quoted by api-evangelist/posts 2026-11-12 (read from Twilio's page "
        "2026-11-09, 'current as of October 2026')",
        "2026-12-03",
    ),
    "twilio.sms_jp": Price(
        0.0890,
        "outbound SMS segment to Japan, long code",
        "twilio.com/en-us/sms/pricing/jp, as quoted in two public repositories' notes (2026)",
        "2026-12-03",
    ),
    # -- Amazon Pinpoint (its own fee; carriers' fees for SMS are extra)
    "pinpoint.sms_us": Price(
        0.00581,
        "US SMS part, AWS's base price (toll-free; carrier fee extra)",
        "aws.amazon.com/end-user-messaging/pricing (Pinpoint's SMS), as quoted in public repositories' notes",
        "2026-12-03",
    ),
    "pinpoint.sms_jp": Price(
        0.07451,
        "Japan SMS part (all networks)",
        "aws.amazon.com/jp/end-user-messaging/pricing, as quoted by dev.classmethod.jp (2026-05-18)",
        "2026-12-03",
    ),
    "pinpoint.event": Price(
        1.0e-6, "application event ingested (above 100 million a month free)", _PINPOINT, "2026-08-13"
    ),
    "pinpoint.mta_endpoint": Price(
        0.0012, "endpoint targeted by a campaign or journey in a month (above 5,000 free)", _PINPOINT, "2026-08-13"
    ),
}
PINPOINT_FREE_EVENTS = 100_000_000  # a month
PINPOINT_FREE_MTA = 5_000  # endpoints a month

PRICES_USD = {key: price.usd for key, price in PRICES.items()}


def usd(key: str) -> float:
    return PRICES[key].usd
