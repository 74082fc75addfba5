"""Per-minute billing in Stripe's minor units: rounding rules, the cap at the hold, zero-decimal currencies."""

from __future__ import annotations

import pytest

from kizuna.domain.consultation_money import (
    RoundingRule,
    amount_for,
    format_amount,
    minimum_charge,
    minor_per_major,
)

RATE = 100  # ¥100 a minute
MAX = 30


@pytest.mark.parametrize(
    ("seconds", "started", "completed", "per_second"),
    [
        (0, 0, 0, 0),
        (1, 100, 0, 2),  # 100/60 = 1.67 → 2
        (59, 100, 0, 98),  # 98.33 → 98
        (60, 100, 100, 100),
        (61, 200, 100, 102),  # 101.67 → 102
        (MAX * 60, MAX * RATE, MAX * RATE, MAX * RATE),
        (MAX * 60 + 1, MAX * RATE, MAX * RATE, MAX * RATE),  # never beyond the hold
        (-5, 0, 0, 0),
    ],
)
def test_amount_per_rounding_rule(seconds, started, completed, per_second):
    assert amount_for(seconds, RATE, RoundingRule.PER_STARTED_MINUTE, MAX) == started
    assert amount_for(seconds, RATE, RoundingRule.PER_COMPLETED_MINUTE, MAX) == completed
    assert amount_for(seconds, RATE, RoundingRule.PER_SECOND, MAX) == per_second


def test_half_minor_units_round_half_up():
    # 90 s at 1 cent a minute = 1.5 cents → 2
    assert amount_for(90, 1, RoundingRule.PER_SECOND, 10) == 2


def test_zero_decimal_and_two_decimal_currencies():
    assert (minor_per_major("jpy"), minor_per_major("usd")) == (1, 100)
    assert (minimum_charge("jpy"), minimum_charge("usd"), minimum_charge("gbp")) == (50, 50, 30)
    assert format_amount(1200, "jpy") == "1,200 JPY"
    assert format_amount(1250, "usd") == "12.50 USD"
