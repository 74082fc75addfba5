"""The Twilio account a stack sends through, as stored (JSON) in the Secrets Manager secret named by the catalog."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator


class TwilioAccount(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    account_sid: str
    auth_token: SecretStr
    from_number: str | None = None
    messaging_service_sid: str | None = None
    # The number voice messages call from (default: from_number).
    voice_from: str | None = None
    # The WhatsApp sender (a WhatsApp-enabled number of the account), unless an app's WhatsApp channel names one.
    whatsapp_from: str | None = None
    # Throughput the account really has per sender (number, sender ID, messaging service SID), per second: SMS
    # segments, WhatsApp messages, calls ("voice" for the account's calls). Absent: Twilio's default for the kind.
    sender_rates: dict[str, float] = {}
    # Only for local mode and tests: the sandbox's base URL instead of api.twilio.com.
    api_base_url: str | None = None

    @model_validator(mode="after")
    def _has_a_sender(self) -> TwilioAccount:
        if not (self.from_number or self.messaging_service_sid):
            raise ValueError("the Twilio secret needs from_number or messaging_service_sid")
        return self
