"""The Stripe account consultations are billed through, as stored (JSON) in the Secrets Manager secret named by
the catalog ("stripe")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr


class StripeAccount(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    api_key: SecretStr  # sk_live_... / sk_test_... (a restricted key with PaymentIntents write is enough)
    webhook_secret: SecretStr  # whsec_... of the webhook endpoint pointed at /webhooks/stripe/events
    # Only for local mode and tests: localstripe's base URL instead of api.stripe.com.
    api_base_url: str | None = None
