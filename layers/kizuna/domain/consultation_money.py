"""Money for billed consultations: Stripe's minor units, its minimum charge per currency, and per-minute billing.

Amounts are integers in the currency's minor unit, as Stripe's API takes them (JPY is zero-decimal: 100 means
¥100; USD 150 means $1.50). Arithmetic is Decimal; rounding always favours the client (never bill a fraction up
beyond the rule) except where the rule itself rounds up (a started minute is a billed minute).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum

# Stripe's zero-decimal currencies: the amount is in the major unit.
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)

# Stripe's minimum charge amounts (major units) for the currencies it lists; a capture under the minimum is
# refused by Stripe, so Kizuna releases the hold instead. Currencies outside this table are refused at booking.
MINIMUM_CHARGE: dict[str, Decimal] = {
    "usd": Decimal("0.50"),
    "aed": Decimal("2.00"),
    "aud": Decimal("0.50"),
    "bgn": Decimal("1.00"),
    "brl": Decimal("0.50"),
    "cad": Decimal("0.50"),
    "chf": Decimal("0.50"),
    "czk": Decimal("15.00"),
    "dkk": Decimal("2.50"),
    "eur": Decimal("0.50"),
    "gbp": Decimal("0.30"),
    "hkd": Decimal("4.00"),
    "huf": Decimal("175.00"),
    "inr": Decimal("0.50"),
    "jpy": Decimal("50"),
    "mxn": Decimal("10"),
    "myr": Decimal("2"),
    "nok": Decimal("3.00"),
    "nzd": Decimal("0.50"),
    "pln": Decimal("2.00"),
    "ron": Decimal("2.00"),
    "sek": Decimal("3.00"),
    "sgd": Decimal("0.50"),
    "thb": Decimal("10"),
}

# Stripe's largest amount is eight digits in the minor unit.
MAX_AMOUNT = 99_999_999


class RoundingRule(StrEnum):
    PER_STARTED_MINUTE = "PER_STARTED_MINUTE"  # 1..60 s → 1 minute, 61 s → 2 (the default)
    PER_COMPLETED_MINUTE = "PER_COMPLETED_MINUTE"  # 59 s → 0, 61 s → 1
    PER_SECOND = "PER_SECOND"  # rate × seconds / 60, rounded half up to the minor unit


def is_supported(currency: str) -> bool:
    return currency in MINIMUM_CHARGE


def minor_per_major(currency: str) -> int:
    return 1 if currency in ZERO_DECIMAL else 100


def minimum_charge(currency: str) -> int:
    """Stripe's minimum charge in minor units."""
    return int(MINIMUM_CHARGE[currency] * minor_per_major(currency))


def billable_minutes(seconds: int, rule: RoundingRule) -> Decimal:
    if seconds <= 0:
        return Decimal(0)
    minutes = Decimal(seconds) / Decimal(60)
    if rule is RoundingRule.PER_STARTED_MINUTE:
        return minutes.to_integral_value(rounding=ROUND_CEILING)
    if rule is RoundingRule.PER_COMPLETED_MINUTE:
        return minutes.to_integral_value(rounding=ROUND_FLOOR)
    return minutes


def amount_for(seconds: int, rate_per_minute: int, rule: RoundingRule, max_minutes: int) -> int:
    """What `seconds` of talk cost, never more than `max_minutes` (the hold covers exactly that)."""
    capped = min(max(seconds, 0), max_minutes * 60)
    amount = billable_minutes(capped, rule) * Decimal(rate_per_minute)
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def hold_amount(rate_per_minute: int, max_minutes: int) -> int:
    return rate_per_minute * max_minutes


def format_amount(amount: int, currency: str) -> str:
    """Human form for logs and the demo: 1200 jpy → "¥1,200" style digits without the symbol ("1,200 JPY")."""
    if currency in ZERO_DECIMAL:
        return f"{amount:,} {currency.upper()}"
    return f"{Decimal(amount) / 100:,.2f} {currency.upper()}"
