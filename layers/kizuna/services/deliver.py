"""Deliver one recipient-message through the provider, exactly once.

The delivery record is the claim: a conditional write moves it to "sending" with a lease before the provider is
called. A second delivery of the same queue message finds the claim and does nothing (or retries later while a
live lease is held). If an earlier attempt's outcome is unknown (a crash or a timeout after the provider may have
accepted), the provider is asked whether it already has the message before anything is sent again.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.clock import Clock
from kizuna.domain.messages import Claim, OutboundMessage, ProviderReceipt
from kizuna.errors import PermanentProviderError, ProviderConfigurationError, RetryableProviderError
from kizuna.ports import MessageStore, SendQueue, SmsProvider
from kizuna.services.event_stream import record_for, sms_status_event

logger = Logger(child=True)

MAX_BACKOFF_S = 900  # SQS's largest DelaySeconds


class Outcome(enum.Enum):
    SENT = "sent"
    ALREADY_DONE = "already_done"
    FAILED = "failed"  # permanent: recorded, never retried
    DEFERRED = "deferred"  # re-enqueued with a delay; the receive count is not spent
    RETRY = "retry"  # leave it to SQS (counts toward the DLQ)


@dataclass
class Deliverer:
    store: MessageStore
    provider: SmsProvider
    queue: SendQueue
    clock: Clock
    status_callback_base: str
    lease_s: int
    events: list[dict[str, Any]] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)

    def deliver(self, message: OutboundMessage, receive_count: int = 1) -> Outcome:
        now = self.clock.now()
        result = self.store.claim(message, now, self.lease_s)
        if result.claim is Claim.DONE:
            return Outcome.ALREADY_DONE
        if result.claim is Claim.BUSY:
            return self._defer(message, 0, self.lease_s, "another sender holds the claim", release=False)
        if result.claim is Claim.NEEDS_LOOKUP:
            earlier = self.provider.find_sent(message.to, message.body, _parse(result.record.first_attempt_at))
            if earlier is not None:
                logger.info("adopting earlier provider message", message_id=message.message_id)
                self._record_sent(message, earlier)
                return Outcome.ALREADY_DONE
        try:
            receipt = self.provider.send_sms(
                message.to, message.body, message.sender, self._callback_url(message), None
            )
        except (PermanentProviderError, ProviderConfigurationError) as exc:
            # A configuration error is permanent for this message too: retrying with the same
            # credentials or sender cannot succeed, and an alarm on _SMS.FAILURE tells the operator.
            self.store.record_failed(message.message_id, exc.code, exc.message, self.clock.now())
            now = self.clock.now()
            record = replace(record_for(message, "failed"), reason=exc.message)
            self.events.append(sms_status_event(record, "failed", exc.code, now, now))
            return Outcome.FAILED
        except RetryableProviderError as exc:
            if exc.code == "timeout":
                # The provider may have taken it: keep the claim's "outcome pending" so the next attempt looks first.
                return self._defer(message, receive_count, exc.retry_after, "provider timeout", release=False)
            return self._defer(message, receive_count, exc.retry_after, f"provider {exc.code}")
        self._record_sent(message, receipt)
        return Outcome.SENT

    def _record_sent(self, message: OutboundMessage, receipt: ProviderReceipt) -> None:
        now = self.clock.now()
        self.store.record_sent(message.message_id, receipt, now)
        record = replace(record_for(message, "queued"), provider_id=receipt.provider_id, segments=receipt.segments)
        self.events.append(sms_status_event(record, "queued", None, now, now))

    def _defer(
        self, message: OutboundMessage, attempt: int, hint_s: float, reason: str, release: bool = True
    ) -> Outcome:
        if release:
            self.store.release(message.message_id, reason, self.clock.now())
        delay = backoff_s(attempt, hint_s, self.rng)
        failed = self.queue.enqueue([message], delay_s=delay)
        if failed:
            return Outcome.RETRY
        logger.info("send deferred", message_id=message.message_id, reason=reason, delay_s=delay)
        return Outcome.DEFERRED

    def _callback_url(self, message: OutboundMessage) -> str:
        base = self.status_callback_base.rstrip("/")
        return f"{base}/webhooks/twilio/status?app={message.app_id}&m={message.message_id}"


def backoff_s(attempt: int, hint_s: float, rng: random.Random) -> int:
    """Full jitter exponential backoff, never below the provider's hint, within SQS's delay limit."""
    ceiling = min(MAX_BACKOFF_S, 2 ** min(attempt, 10))
    return int(min(MAX_BACKOFF_S, max(hint_s, rng.uniform(0, ceiling))))


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
