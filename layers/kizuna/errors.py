"""Domain errors. Each maps to one Pinpoint error type and HTTP status in one place (api/errors.py)."""

from __future__ import annotations


class KizunaError(Exception):
    """Base class; `message` is safe to show to the API caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(KizunaError):
    """The request is malformed or violates a limit; the message names the field."""


class NotFound(KizunaError):
    pass


class Forbidden(KizunaError):
    pass


class Conflict(KizunaError):
    pass


class PayloadTooLarge(KizunaError):
    pass


class TooManyRequests(KizunaError):
    pass


class StatusNotApplied(KizunaError):
    """A provider status callback that should change a delivery record could not be applied now (no such record,
    or concurrent writes kept moving it). The webhook answers 503, so the provider retries it, rather than 200 and
    the status lost."""


# Provider outcomes: adapters translate SDK exceptions into these, services decide what to do.
class ProviderError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PermanentProviderError(ProviderError):
    """The provider refused the message for a reason that retrying cannot fix (bad number, opted out...)."""


class RetryableProviderError(ProviderError):
    """Transient: 5xx, timeouts, throttling (20429). `retry_after` is a hint in seconds."""

    def __init__(self, code: str, message: str, retry_after: float = 0.0) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


class ProviderConfigurationError(ProviderError):
    """Our credentials or sender configuration are wrong: retrying will not help, an operator must act."""
