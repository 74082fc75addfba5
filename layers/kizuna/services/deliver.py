"""Deliver recipient-messages through their channel's provider: exactly once, at the sender's rate, within the
app's spend cap, and never after they have expired.

The delivery record is the claim: a conditional write moves it to "sending" with a lease before the provider is
called. A second delivery of the same queue message finds the claim and does nothing (or retries later while a
live lease is held). If an earlier attempt's outcome is unknown (a crash or a timeout after the provider may have
accepted), the provider is asked whether it already has the message before anything is sent again.

Pacing: `deliver_batch` claims the batch, then books one slot per message in each sender's shared bucket
(domain.throttle) with one write per bucket, then sends the batch concurrently, each message at its slot
(services.send_pacing, which also re-books a batch that wakes late in one write). A message that gets no slot within its
priority's horizon, one held for quiet time, and one the provider throttled are re-enqueued with a delay: waiting
never spends a receive count, which is kept for real faults (a crash, an unreachable provider), and those end in
the dead-letter queue.

Events: the sender's own event (queued with the provider's id, or its failure) is emitted after the batch, so a
crash or a failed emit after the record was written loses it while the record says the work is done. A later
delivery of a settled message emits that event again under the same deterministic id (message id + status): the
analytics ledger counts it once, and a lost one is recovered.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from kizuna.clock import Clock
from kizuna.domain.messages import Claim, DeliveryRecord, OutboundMessage, ProviderReceipt
from kizuna.domain.throttle import Throttle
from kizuna.errors import PermanentProviderError, ProviderConfigurationError, RetryableProviderError
from kizuna.ports import MessageProvider, MessageStore, RateLimiter, SendQueue, SpendLedger
from kizuna.services.event_stream import record_for, status_event
from kizuna.services.send_pacing import BatchPacer, Slot

logger = Logger(child=True)

MAX_BACKOFF_S = 900  # SQS's largest DelaySeconds
MAX_PARALLEL_SENDS = 10  # one SQS batch
RATE_LIMITED = frozenset({"20429", "429"})
RATE_LIMITED_MAX_BACKOFF_S = 30


class Outcome(enum.Enum):
    SENT = "sent"
    ALREADY_DONE = "already_done"
    FAILED = "failed"  # permanent: recorded, never retried
    EXPIRED = "expired"  # could not go out before its not_after: recorded, never sent
    DEFERRED = "deferred"  # re-enqueued with a delay; the receive count is not spent
    RETRY = "retry"  # leave it to SQS (counts toward the DLQ)


@dataclass(frozen=True)
class _Ready:
    """Claimed and charged: waiting for its slot."""

    message: OutboundMessage
    charge: Charge
    day: str


class Charge(enum.Enum):
    NONE = "none"  # no cap, nothing to charge, or charged by an earlier attempt
    CHARGED = "charged"
    REFUSED = "refused"  # the charge would pass the app's daily cap


@dataclass
class Deliverer:
    store: MessageStore
    providers: Mapping[str, MessageProvider]  # by channel
    queue: SendQueue
    clock: Clock
    status_callback_base: str
    lease_s: int
    limiter: RateLimiter | None = None
    spend: SpendLedger | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)

    def deliver(self, message: OutboundMessage, receive_count: int = 1) -> Outcome:
        return self.deliver_batch([(message, receive_count)])[message.message_id]

    def deliver_batch(self, batch: Sequence[tuple[OutboundMessage, int]]) -> dict[str, Outcome]:
        """Deliver (message, receive count) pairs: claim them all, book their slots, then send each at its slot,
        concurrently. Booking after the claims means nothing but a sleep stands between a slot and its send.
        Never raises for one message: an unexpected error becomes that message's RETRY (SQS redelivers just it)."""
        # SQS may hand the same message over twice in one batch: it is delivered once and both answers are its.
        unique = list({m.message_id: m for m, _ in reversed(batch)}.values())[::-1]
        if not unique:
            return {}
        outcomes: dict[str, Outcome] = {}
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_SENDS, len(unique))) as pool:
            claimed = {m.message_id: pool.submit(self._safely, self._claim, m) for m in unique}
            ready: list[_Ready] = []
            for message_id, future in claimed.items():
                result = future.result()
                if isinstance(result, _Ready):
                    ready.append(result)
                else:
                    outcomes[message_id] = result
            pacer = BatchPacer(self.limiter, self._throttle, self.clock)
            pacer.book([r.message for r in ready])
            sent = {r.message.message_id: pool.submit(self._safely, self._send, r, pacer) for r in ready}
            for message_id, future in sent.items():
                outcomes[message_id] = future.result()
        return outcomes

    def _claim(self, message: OutboundMessage) -> Outcome | _Ready:
        """Everything before the provider call: expiry, quiet-time hold, the claim, the lookup, the spend cap."""
        now = self.clock.now()
        if self._expired(message):
            return self._expire(message, now)
        if self._held(message):
            remaining = _parse(message.not_before).timestamp() - now.timestamp()
            return self._requeue(message, remaining, "held until the recipient's quiet time ends")
        result = self.store.claim(message, now, self.lease_s)
        if result.claim is Claim.DONE:
            self._replay_event(message, result.record)
            return Outcome.ALREADY_DONE
        if result.claim is Claim.BUSY:
            return self._requeue(message, self.lease_s, "another sender holds the claim")
        if result.claim is Claim.NEEDS_LOOKUP:
            earlier = self.providers[message.channel].find_sent(message, _parse(result.record.first_attempt_at))
            if earlier is not None:
                logger.info("adopting earlier provider message", message_id=message.message_id)
                self._record_sent(message, earlier)
                return Outcome.ALREADY_DONE
        # Charged once per message: on a fresh claim only (a lookup retry was charged by the attempt that timed
        # out), and refunded whenever the provider definitely did not take it.
        day = now.date().isoformat()
        charge = self._charge(message, day) if result.claim is Claim.CLAIMED else Charge.NONE
        if charge is Charge.REFUSED:
            return self._fail(message, "SPEND_CAP", "the app's daily spend cap for this channel is reached")
        if result.claim is Claim.CLAIMED and not self._within_conversation_tier(message, now):
            self._refund(message, charge, day)
            return self._fail(
                message, "WHATSAPP_TIER", "the WhatsApp sender's business-initiated conversations for 24 h are used up"
            )
        return _Ready(message, charge, day)

    def _within_conversation_tier(self, message: OutboundMessage, now: datetime) -> bool:
        """A template message opens a business-initiated conversation; Meta's tier caps them per rolling 24 h
        (counted per template send: a second template to the same person within 24 h counts again, so the count
        errs on the safe side)."""
        if message.conversation_cap is None or self.spend is None:
            return True
        sender = self._throttle(message).key
        return self.spend.open_conversation(sender, now, message.conversation_cap)

    def _throttle(self, message: OutboundMessage) -> Throttle:
        return self.providers[message.channel].throttle(message)

    def _send(self, ready: _Ready, pacer: BatchPacer) -> Outcome:
        message, charge, day = ready.message, ready.charge, ready.day
        unbooked: Slot | None = pacer.wait_turn(message)
        if unbooked is not None:  # the sender is booked beyond the horizon: wait off the clock, without the claim
            self.store.release(message.message_id, "sender at its rate", self.clock.now())
            self._refund(message, charge, day)
            return self._requeue(message, unbooked.wait_s, "sender at its rate")
        try:
            receipt = self.providers[message.channel].send(message, self._callback_url(message))
        except (PermanentProviderError, ProviderConfigurationError) as exc:
            # A configuration error is permanent for this message too: retrying with the same
            # credentials or sender cannot succeed, and an alarm on the failure events tells the operator.
            self._refund(message, charge, day)
            return self._fail(message, exc.code, exc.message)
        except RetryableProviderError as exc:
            if exc.code == "timeout":
                # The provider may have taken it: keep the claim's "outcome pending" so the next attempt looks first.
                return self._defer(message, message.deferrals, exc.retry_after, "provider timeout", release=False)
            self._refund(message, charge, day)
            # Twilio's 20429 passes within seconds: back off, but never for long (21611, a full queue, takes hours).
            ceiling = RATE_LIMITED_MAX_BACKOFF_S if exc.code in RATE_LIMITED else MAX_BACKOFF_S
            return self._defer(message, message.deferrals, exc.retry_after, f"provider {exc.code}", ceiling=ceiling)
        self._record_sent(message, receipt)
        return Outcome.SENT

    def _safely(self, step: Callable[..., Any], *args: Any) -> Any:
        try:
            return step(*args)
        except Exception:  # noqa: BLE001 - one message's fault must not fail its batch-mates; SQS retries it
            logger.exception("delivery failed unexpectedly", message_id=args[0].message.message_id
                             if isinstance(args[0], _Ready) else args[0].message_id)  # fmt: skip
            return Outcome.RETRY

    def _record_sent(self, message: OutboundMessage, receipt: ProviderReceipt) -> None:
        now = self.clock.now()
        self.store.record_sent(message.message_id, receipt, now)
        record = replace(record_for(message, "queued"), provider_id=receipt.provider_id, segments=receipt.segments)
        self.events.append(status_event(record, "queued", None, now, now))

    def _replay_event(self, message: OutboundMessage, done: DeliveryRecord | None) -> None:
        """The event the sender emitted (or should have) for a settled message, again: the same id, so it is counted
        once however often it is emitted."""
        if done is None:
            return
        now = self.clock.now()
        if done.provider_id is None and done.status in ("failed", "expired"):  # decided here, not by the provider
            record = replace(record_for(message, done.status), reason=done.reason)
            self.events.append(status_event(record, done.status, done.error_code, now, now))
            return
        record = replace(record_for(message, "queued"), provider_id=done.provider_id,
                         segments=done.segments or message.segments)  # fmt: skip
        self.events.append(status_event(record, "queued", None, now, now))

    def _fail(self, message: OutboundMessage, code: str, reason: str) -> Outcome:
        now = self.clock.now()
        self.store.record_failed(message.message_id, code, reason, now)
        record = replace(record_for(message, "failed"), reason=reason)
        self.events.append(status_event(record, "failed", code, now, now))
        return Outcome.FAILED

    def _expire(self, message: OutboundMessage, now: datetime) -> Outcome:
        """Past its not_after: recorded as expired (claimed first, so a concurrent delivery cannot send it)."""
        result = self.store.claim(message, now, self.lease_s)
        if result.claim is Claim.DONE:
            self._replay_event(message, result.record)
            return Outcome.ALREADY_DONE
        if result.claim is Claim.BUSY:
            return self._requeue(message, self.lease_s, "busy")
        if result.claim is Claim.NEEDS_LOOKUP:
            earlier = self.providers[message.channel].find_sent(message, _parse(result.record.first_attempt_at))
            if earlier is not None:
                self._record_sent(message, earlier)
                return Outcome.ALREADY_DONE
        reason = f"not sent before {message.not_after}"
        self.store.record_failed(message.message_id, "expired", reason, now, status="expired")
        record = replace(record_for(message, "expired"), reason=reason)
        self.events.append(status_event(record, "expired", "expired", now, now))
        return Outcome.EXPIRED

    def _charge(self, message: OutboundMessage, day: str) -> Charge:
        if self.spend is None or message.spend_cap_usd is None or message.cost_usd <= 0:
            return Charge.NONE
        if self.spend.try_spend(message.app_id, message.channel, day, message.cost_usd, message.spend_cap_usd):
            return Charge.CHARGED
        return Charge.REFUSED

    def _refund(self, message: OutboundMessage, charge: Charge, day: str) -> None:
        if charge is Charge.CHARGED and self.spend is not None:
            self.spend.refund(message.app_id, message.channel, day, message.cost_usd)

    def _requeue(self, message: OutboundMessage, wait_s: float, reason: str) -> Outcome:
        """Wait without a claim: the message goes back with a delay, nothing recorded, no receive count spent."""
        delay = int(min(MAX_BACKOFF_S, max(1, round(wait_s + 0.5))))
        if self.queue.enqueue([message], delay_s=delay):
            return Outcome.RETRY
        logger.debug("send requeued", message_id=message.message_id, reason=reason, delay_s=delay)
        return Outcome.DEFERRED

    def _defer(
        self,
        message: OutboundMessage,
        attempt: int,
        hint_s: float,
        reason: str,
        release: bool = True,
        ceiling: int = 0,
    ) -> Outcome:
        if release:
            self.store.release(message.message_id, reason, self.clock.now())
        delay = backoff_s(attempt, hint_s, self.rng, ceiling or MAX_BACKOFF_S)
        failed = self.queue.enqueue([message.model_copy(update={"deferrals": message.deferrals + 1})], delay_s=delay)
        if failed:
            return Outcome.RETRY
        logger.info("send deferred", message_id=message.message_id, reason=reason, delay_s=delay)
        return Outcome.DEFERRED

    def _held(self, message: OutboundMessage) -> bool:
        return message.not_before is not None and self.clock.now() < _parse(message.not_before)

    def _expired(self, message: OutboundMessage) -> bool:
        return message.not_after is not None and self.clock.now() > _parse(message.not_after)

    def _callback_url(self, message: OutboundMessage) -> str:
        base = self.status_callback_base.rstrip("/")
        kind = "call-status" if message.channel == "VOICE" else "status"
        return f"{base}/webhooks/twilio/{kind}?app={message.app_id}&m={message.message_id}"


def backoff_s(attempt: int, hint_s: float, rng: random.Random, limit: int = MAX_BACKOFF_S) -> int:
    """Full jitter exponential backoff, never below the provider's hint, within `limit` (SQS's delay limit)."""
    ceiling = min(limit, 2 ** min(attempt, 10))
    return int(min(MAX_BACKOFF_S, max(hint_s, rng.uniform(0, ceiling))))


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
