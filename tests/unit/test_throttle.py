"""Sending rates: GCRA booking, Twilio's default rates per sender kind, and the sender pacing a batch by them."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta

import pytest

from kizuna.adapters.memory_sending import InMemoryProvider, InMemoryRateLimiter
from kizuna.clock import VirtualClock
from kizuna.domain.messages import OutboundMessage
from kizuna.domain.throttle import HORIZON_S, SAFETY, book, default_rate
from kizuna.services.deliver import Deliverer, Outcome
from kizuna.services.send_pacing import SLOT_LEAD_S

# -- book -----------------------------------------------------------------------------------------------------------


def test_consecutive_slots_are_spaced_by_cost_over_the_rate_paced_below_it():
    new_tat, offsets = book(tat=0.0, now=100.0, rate_per_s=2.0, costs=[1, 3, 1], horizon_s=10.0)

    effective = 2.0 * SAFETY
    assert offsets == pytest.approx([0.0, 1 / effective, 4 / effective])
    assert new_tat == pytest.approx(100.0 + 5 / effective)


def test_slots_past_the_horizon_are_not_booked_and_do_not_move_the_bucket():
    new_tat, offsets = book(tat=0.0, now=0.0, rate_per_s=1.0, costs=[1, 1, 1, 1, 1], horizon_s=1.5)

    step = 1 / SAFETY
    assert offsets[:2] == pytest.approx([0.0, step])
    assert offsets[2:] == [None, None, None]  # nothing after the first unbooked one, so order is kept
    assert new_tat == pytest.approx(2 * step)  # the unbooked ones cost nothing


def test_a_slot_starting_exactly_at_the_horizon_is_booked():
    step = 1 / SAFETY
    _, offsets = book(tat=0.0, now=0.0, rate_per_s=1.0, costs=[1, 1], horizon_s=step)

    assert offsets == pytest.approx([0.0, step])


def test_booking_continues_from_a_tat_in_the_future():
    new_tat, offsets = book(tat=105.0, now=100.0, rate_per_s=1.0, costs=[1], horizon_s=10.0)

    assert offsets == [pytest.approx(5.0)]
    assert new_tat == pytest.approx(105.0 + 1 / SAFETY)


def test_an_idle_bucket_banks_no_burst_a_past_tat_starts_now():
    new_tat, offsets = book(tat=50.0, now=100.0, rate_per_s=1.0, costs=[1, 1], horizon_s=10.0)

    assert offsets == pytest.approx([0.0, 1 / SAFETY])
    assert new_tat == pytest.approx(100.0 + 2 / SAFETY)


def test_a_bucket_already_beyond_the_horizon_books_nothing_and_keeps_its_tat():
    new_tat, offsets = book(tat=110.0, now=100.0, rate_per_s=1.0, costs=[1, 1], horizon_s=2.0)

    assert offsets == [None, None]
    assert new_tat == 110.0


@pytest.mark.parametrize("rate", [0.0, -1.0])
def test_a_rate_that_is_not_positive_is_refused(rate):
    with pytest.raises(ValueError, match="rate_per_s must be positive"):
        book(tat=0.0, now=0.0, rate_per_s=rate, costs=[1], horizon_s=2.0)


# -- default_rate ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "sender", "rate"),
    [
        ("SMS", "+12125551234", 1.0),  # US long code
        ("SMS", "+18005550100", 3.0),  # toll-free
        ("SMS", "+18885550100", 3.0),  # toll-free (888)
        ("SMS", "12345", 100.0),  # short code
        ("SMS", "+819012345678", 10.0),  # a Japanese number
        ("SMS", "KIZUNA", 10.0),  # an alphanumeric sender ID
        ("WHATSAPP", "+12125551234", 80.0),  # Meta's default, whatever the number
        ("VOICE", "+18005550100", 1.0),  # calls per second per account, whatever the number
    ],
)
def test_default_rate_is_twilios_for_the_kind_of_sender(channel, sender, rate):
    assert default_rate(channel, sender) == rate


# -- the sender's pacing --------------------------------------------------------------------------------------------


class ParallelClock(VirtualClock):
    """Virtual time as parallel threads see it: a thread's sleep moves only its own time (a shared VirtualClock
    would add up the sleeps of threads that wait side by side, and stamp sends out of step)."""

    def __init__(self) -> None:
        super().__init__()
        self._slept = threading.local()

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=getattr(self._slept, "s", 0.0))

    def sleep(self, seconds: float) -> None:
        self._slept.s = getattr(self._slept, "s", 0.0) + seconds


@pytest.fixture
def pclock() -> ParallelClock:
    return ParallelClock()


@pytest.fixture
def paced(pclock):
    return InMemoryProvider(pclock, rate_per_s=5)


@pytest.fixture
def limiter() -> InMemoryRateLimiter:
    return InMemoryRateLimiter()


@pytest.fixture
def deliverer(messages, paced, queue, pclock, limiter) -> Deliverer:
    return Deliverer(
        messages, {"SMS": paced}, queue, pclock, "https://hooks.example", 30, limiter=limiter, rng=random.Random(1)
    )


def sms(i: int, segments: int = 1, priority: str = "transactional", prefix: str = "m") -> OutboundMessage:
    return OutboundMessage(
        message_id=f"{prefix}{i}",
        app_id="app",
        to=f"+1500555{i:04d}",
        body=f"message {prefix}{i}",
        request_id="r",
        accepted_at="2026-11-01T00:00:00Z",
        segments=segments,
        priority=priority,
    )


def offsets_sent(provider, start: datetime) -> list[float]:
    """When each send left, in seconds after the first slot (slots start SLOT_LEAD_S after the batch is booked)."""
    return sorted((s["at"] - start).total_seconds() - SLOT_LEAD_S for s in provider.sent)


def test_a_batch_is_sent_at_its_booked_instants_at_the_senders_rate(deliverer, paced, pclock):
    start = pclock.now()

    outcomes = deliverer.deliver_batch([(sms(i), 1) for i in range(10)])

    assert set(outcomes.values()) == {Outcome.SENT}  # 10 at 5/s fit in the 2 s transactional horizon
    sent_at = offsets_sent(paced, start)
    assert sent_at[0] == pytest.approx(0.0, abs=1e-5)
    gaps = [b - a for a, b in zip(sent_at, sent_at[1:], strict=False)]
    assert all(gap >= 1 / 5 for gap in gaps)
    assert gaps == pytest.approx([1 / (5 * SAFETY)] * 9, abs=1e-5)  # datetimes hold microseconds


def test_messages_beyond_the_transactional_horizon_are_requeued_with_a_delay(deliverer, paced, pclock):
    start = pclock.now()

    # Two segments each: 2/(5*0.97) ≈ 0.41 s apart, so the 2 s horizon holds five of the ten.
    outcomes = deliverer.deliver_batch([(sms(i, segments=2), 1) for i in range(10)])

    assert [outcomes[f"m{i}"] for i in range(10)] == [Outcome.SENT] * 5 + [Outcome.DEFERRED] * 5
    assert offsets_sent(paced, start) == pytest.approx([k * 2 / (5 * SAFETY) for k in range(5)], abs=1e-5)
    assert all(at <= HORIZON_S["transactional"] for at in offsets_sent(paced, start))


def test_waiting_for_the_rate_requeues_and_releases_the_claim_so_no_receive_count_is_spent(deliverer, messages, queue):
    deliverer.deliver_batch([(sms(i, segments=2), 1) for i in range(10)])

    requeued = {m.message_id: delay for m, delay in queue.messages}
    assert set(requeued) == {f"m{i}" for i in range(5, 10)}  # a new queue message each: receive count 1
    assert all(delay >= 1 for delay in requeued.values())
    assert all(messages.get(f"m{i}").status == "accepted" for i in range(5, 10))  # released: the next try claims
    assert all(messages.get(f"m{i}").status == "queued" for i in range(5))


def test_bulk_traffic_books_only_one_second_ahead(deliverer, paced, pclock):
    start = pclock.now()

    outcomes = deliverer.deliver_batch([(sms(i, segments=2, priority="bulk"), 1) for i in range(10)])

    assert sum(o is Outcome.SENT for o in outcomes.values()) == 3  # 0, 0.41, 0.82 start within 1 s
    assert max(offsets_sent(paced, start)) <= HORIZON_S["bulk"]


def test_two_batches_share_one_bucket_the_second_starts_at_the_firsts_tat(deliverer, paced, pclock, limiter):
    start = pclock.now()
    deliverer.deliver_batch([(sms(i, prefix="a"), 1) for i in range(3)])
    first_tat = limiter.tats["SMS:+15005550006"] - start.timestamp() - SLOT_LEAD_S

    deliverer.deliver_batch([(sms(i, prefix="b"), 1) for i in range(3)])

    second = sorted(
        (s["at"] - start).total_seconds() - SLOT_LEAD_S for s in paced.sent if s["body"].startswith("message b")
    )
    assert first_tat == pytest.approx(3 / (5 * SAFETY))
    assert second == pytest.approx([first_tat + k / (5 * SAFETY) for k in range(3)], abs=1e-5)


class StallingLimiter(InMemoryRateLimiter):
    """A reservation that takes `stall_s` of everyone's time (a slow write, a busy process) on its first
    `stalls` calls: the slots it books have already begun when it returns."""

    def __init__(self, clock: ParallelClock, stall_s: float, stalls: int = 1) -> None:
        super().__init__()
        self._clock, self._stall_s, self._stalls = clock, stall_s, stalls

    def reserve(self, key, rate_per_s, costs, horizon_s, now):
        booked = super().reserve(key, rate_per_s, costs, horizon_s, now)
        if self.reservations <= self._stalls:
            self._clock.advance(self._stall_s)
        return booked


class HoldingProvider(InMemoryProvider):
    """Each send holds its thread for a moment of real time, as a request does: with virtual sleeps a thread could
    otherwise finish one send and take the next message's, carrying its own (later) time into it."""

    def send(self, message, status_callback):
        time.sleep(0.05)
        return super().send(message, status_callback)


def test_a_batch_that_wakes_late_is_rebooked_in_one_reservation_and_keeps_the_rate(messages, queue, pclock):
    start = pclock.now()
    paced = HoldingProvider(pclock, rate_per_s=5)
    limiter = StallingLimiter(pclock, stall_s=1.0)
    deliverer = Deliverer(messages, {"SMS": paced}, queue, pclock, "https://hooks.example", 30, limiter=limiter)

    outcomes = deliverer.deliver_batch([(sms(i), 1) for i in range(10)])

    assert set(outcomes.values()) == {Outcome.SENT}
    # The first four slots (0.25 s + k × 0.206 s) had passed when the booking returned at 1 s: all four are
    # re-booked by the first of them to wake, in one reservation; the other six go at their slots.
    assert limiter.reservations == 2
    sent_at = offsets_sent(paced, start)
    gaps = [b - a for a, b in zip(sent_at, sent_at[1:], strict=False)]
    assert min(gaps) >= 1 / (5 * SAFETY) - 1e-5  # nothing squeezed between later slots
    assert sent_at[0] >= 1.0 - SLOT_LEAD_S  # nothing left at a slot that had passed


def test_a_message_late_again_after_its_rebooking_goes_when_it_wakes(messages, paced, queue, pclock):
    """A process too busy to keep any slot: each message is re-booked once, not over and over."""
    limiter = StallingLimiter(pclock, stall_s=5.0, stalls=100)
    deliverer = Deliverer(messages, {"SMS": paced}, queue, pclock, "https://hooks.example", 30, limiter=limiter)

    outcomes = deliverer.deliver_batch([(sms(i), 1) for i in range(3)])

    assert outcomes == {f"m{i}": Outcome.SENT for i in range(3)}
    assert limiter.reservations == 2  # the booking, then one re-booking of all three by whichever woke first
    assert queue.messages == []
