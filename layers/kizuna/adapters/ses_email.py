"""`kizuna.ports.MessageProvider` for e-mail through Amazon SES (API v2 SendEmail).

Each e-mail carries Kizuna's message id and app as SES message tags, so the events SES publishes for the
configuration set (Send, Delivery, Bounce, Complaint, Reject) find their delivery record (services.email_events).

SES has no way to ask "did this e-mail go out?", and SendEmail is not idempotent. So the client makes exactly one
attempt per call (botocore's own retries would resend after a read timeout), a connection that never opened is
retried, and a request whose answer never came fails the message with that reason rather than risk a duplicate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from kizuna.domain.messages import OutboundMessage, ProviderReceipt
from kizuna.domain.throttle import Throttle
from kizuna.errors import PermanentProviderError, ProviderConfigurationError, RetryableProviderError

SES_DEFAULT_RATE_PER_S = 14.0  # SES's default sending rate once out of the sandbox
RETRYABLE = frozenset({"TooManyRequestsException", "LimitExceededException", "Throttling", "ThrottlingException"})
CONFIGURATION = frozenset(
    {
        "MailFromDomainNotVerifiedException",
        "AccountSuspendedException",
        "SendingPausedException",
        "NotFoundException",
        "AccessDeniedException",
    }
)
MESSAGE_ID_TAG = "kizuna_message_id"
APP_TAG = "kizuna_app"


class SesEmailProvider:
    def __init__(
        self, client: Any, rate_per_s: float = SES_DEFAULT_RATE_PER_S, default_configuration_set: str | None = None
    ) -> None:
        self._ses = client
        self._rate = rate_per_s
        self._configuration_set = default_configuration_set

    def throttle(self, message: OutboundMessage) -> Throttle:
        rate = min(self._rate, message.rate_per_s) if message.rate_per_s else self._rate
        return Throttle("ses", rate, 1.0)

    def send(self, message: OutboundMessage, status_callback: str | None) -> ProviderReceipt:
        email = message.email
        if email is None:
            raise PermanentProviderError("email-content", "the message has no e-mail content")
        body: dict[str, Any] = {}
        if message.body:
            body["Text"] = {"Data": message.body, "Charset": "UTF-8"}
        if email.html:
            body["Html"] = {"Data": email.html, "Charset": "UTF-8"}
        kwargs: dict[str, Any] = {
            "FromEmailAddress": email.from_address,
            "Destination": {"ToAddresses": [message.to]},
            "Content": {"Simple": {"Subject": {"Data": email.subject, "Charset": "UTF-8"}, "Body": body}},
            "EmailTags": [
                {"Name": MESSAGE_ID_TAG, "Value": message.message_id},
                {"Name": APP_TAG, "Value": message.app_id},
            ],
        }
        configuration_set = email.configuration_set or self._configuration_set
        if configuration_set:
            kwargs["ConfigurationSetName"] = configuration_set
        try:
            response = self._ses.send_email(**kwargs)
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise RetryableProviderError("unavailable", f"could not connect to SES: {exc}", 1.0) from exc
        except ReadTimeoutError as exc:
            raise PermanentProviderError(
                "timeout-unknown", "SES did not answer; not resent, so the recipient never gets it twice"
            ) from exc
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            text = exc.response["Error"].get("Message", code)
            if code in RETRYABLE:
                raise RetryableProviderError(code, text, 1.0) from exc
            if code in CONFIGURATION:
                raise ProviderConfigurationError(code, text) from exc
            raise PermanentProviderError(code, text) from exc
        return ProviderReceipt(response["MessageId"], "queued", 1)

    def fetch_status(self, provider_id: str) -> ProviderReceipt:
        raise PermanentProviderError("unsupported", "SES reports through its event destination only")

    def find_sent(self, message: OutboundMessage, sent_after: datetime | None) -> ProviderReceipt | None:
        # Only reached after a send whose outcome is unknown, which send() never leaves behind (see module doc).
        return None
