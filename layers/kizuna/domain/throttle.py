"""Sending rates: which bucket a message draws from, how fast it refills, and how slots are booked (GCRA).

Twilio counts throughput per sender: SMS segments per second per number (long code 1, toll-free 3, short code 100+,
numbers outside the US and Canada and alphanumeric sender IDs about 10), messages per second for WhatsApp senders
(Meta's default 80), and calls per second per account for voice (1 by default). Sending faster only earns 20429s
or a queue that overflows into 21611, so Kizuna paces itself below the rate and never relies on Twilio's errors.

Booking is the generic cell rate algorithm: a bucket is one number, its theoretical arrival time (TAT). A message
costing c tokens at rate r starts at max(TAT, now) and moves TAT on by c / r. Consecutive bookings are therefore
spaced exactly at the rate, whichever sender process made them, and a batch books its messages in one write.
Messages whose slot would start beyond the caller's horizon are not booked: the caller re-enqueues them with a
delay, which costs nothing of their SQS receive count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Pace a little under the rate: requests leave a process some milliseconds apart from their booked instants, and a
# sliding one-second window on the provider's side must never see rate + 1.
SAFETY = 0.97

# How far ahead a batch may book, by priority. Bulk traffic (campaigns, journeys) books less far ahead, so a
# transactional message (an order confirmation, a one-time password) never queues more than ~1 s behind a campaign.
HORIZON_S = {"transactional": 2.0, "bulk": 1.0}

_SHORT_CODE = re.compile(r"^\d{3,8}$")
_NANP = re.compile(r"^\+1\d{10}$")
_TOLL_FREE = re.compile(r"^\+18(00|33|44|55|66|77|88)\d{7}$")

LONG_CODE_US_PER_S = 1.0
TOLL_FREE_PER_S = 3.0
SHORT_CODE_PER_S = 100.0
INTERNATIONAL_PER_S = 10.0
WHATSAPP_PER_S = 80.0
VOICE_CALLS_PER_S = 1.0


@dataclass(frozen=True, slots=True)
class Throttle:
    key: str  # the bucket: a sender identity, or the account for calls
    rate_per_s: float
    cost: float = 1.0


def default_rate(channel: str, sender: str) -> float:
    """Twilio's documented default throughput for a sender of this kind (an operator can set the real one)."""
    if channel == "VOICE":
        return VOICE_CALLS_PER_S
    if channel == "WHATSAPP":
        return WHATSAPP_PER_S
    if _SHORT_CODE.match(sender):
        return SHORT_CODE_PER_S
    if _TOLL_FREE.match(sender):
        return TOLL_FREE_PER_S
    if _NANP.match(sender):
        return LONG_CODE_US_PER_S
    return INTERNATIONAL_PER_S  # other E.164 numbers, alphanumeric sender IDs, messaging services


def book(tat: float, now: float, rate_per_s: float, costs: Sequence[float], horizon_s: float) -> tuple[float, list]:
    """Book consecutive slots for `costs`, in order, while they start within `horizon_s` of `now`.

    Returns the bucket's new TAT and, per cost, the slot's start as seconds after `now` (None once the horizon is
    passed: those are not booked, and neither is anything after them, so order is kept)."""
    if rate_per_s <= 0:
        raise ValueError("rate_per_s must be positive")
    effective = rate_per_s * SAFETY
    t = max(tat, now)
    offsets: list[float | None] = []
    for cost in costs:
        start = t - now
        if start > horizon_s:
            offsets.extend([None] * (len(costs) - len(offsets)))
            break
        offsets.append(start)
        t += cost / effective
    return t, offsets


def wait_estimate(tat: float, now: float) -> float:
    """Seconds until the bucket frees up: what a message that was not booked should be delayed by."""
    return max(0.0, tat - now)
