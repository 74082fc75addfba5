"""The KPI table: Pinpoint's metric names (docs.aws.amazon.com/pinpoint/latest/developerguide/analytics-standard-
metrics.html) and Kizuna's extensions, each a formula over the day aggregates of domain/analytics_rules.py.

A formula's terms read counters (`Count`) or distinct-endpoint sketches (`Distinct`) of one scope, optionally
filtered to one value of a dimension (e.g. origin = txn for the transactional metrics). A KPI is answered per date,
per value of a dimension, or once for the whole range. Result keys follow Pinpoint's examples: the KPI name in
PascalCase without its grouping ("txn-sms-sent-grouped-by-date" → "TxnSmsSent"); values are Doubles as strings;
rates are fractions between 0 and 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from kizuna.domain.analytics_rules import APP, CAMPAIGN, JOURNEY, RETENTION_DAYS

Filter = tuple[str, str] | None  # (dimension, value)
MILLICENTS_PER_USD = 100_000


@dataclass(frozen=True)
class Count:
    measure: str
    filter: Filter = None


@dataclass(frozen=True)
class Distinct:
    sketch: str
    filter: Filter = None


@dataclass(frozen=True)
class Ratio:
    numerator: Formula
    denominator: Formula


@dataclass(frozen=True)
class Scaled:
    inner: Formula
    factor: float


@dataclass(frozen=True)
class ActiveOver:
    """Distinct active endpoints over the `days` days ending on each date (monthly active endpoints: 30)."""

    days: int


Formula = Count | Distinct | Ratio | Scaled | ActiveOver

# Grouping → the GroupedBys key Pinpoint's responses carry.
GROUP_KEYS = {
    "date": "Date",
    "campaign": "CampaignId",
    "campaign_activity": "CampaignActivityId",
    "journey_activity": "JourneyActivityId",
    "treatment": "TreatmentId",
    "txn_country": "Country",
    "txn_error": "ErrorCode",
    "error": "ErrorCode",
    "event_type": "EventType",
}
_SUFFIXES = {
    None: "",
    "date": "-grouped-by-date",
    "campaign": "-grouped-by-campaign",
    "campaign_activity": "-grouped-by-campaign-activity",
    "journey_activity": "-grouped-by-journey-activity",
    "treatment": "-grouped-by-treatment",
    "txn_country": "-grouped-by-country",
    "event_type": "-grouped-by-event-type",
    "txn_error": "",  # txn-sms-error-distribution: grouped by error code, without a suffix
    "error": "",
}


@dataclass(frozen=True)
class Kpi:
    name: str
    kind: str  # app, campaign or journey
    formula: Formula
    group: str | None  # None, "date" or a dimension name
    value_key: str
    # Only dates at least this many days in the past are answered (a 30-day retention of yesterday's cohort is
    # not known yet).
    settled_after_days: int = 0
    extension: bool = False


KPIS: dict[tuple[str, str], Kpi] = {}


def _key(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def _add(
    kind: str,
    base: str,
    formula: Formula,
    groups: tuple[str | None, ...],
    *,
    extension: bool = False,
    settled_after_days: int = 0,
    value_key: str | None = None,
) -> None:
    for group in groups:
        name = base + _SUFFIXES[group]
        KPIS[(kind, name)] = Kpi(name, kind, formula, group, value_key or _key(base), settled_after_days, extension)


CAMPAIGNS: Filter = ("origin", "campaign")
TXN: Filter = ("origin", "txn")


def _ungrouped(formula: Formula) -> Formula:
    """The same formula without its filter, for breakdowns by a dimension that already implies it."""
    if isinstance(formula, Count):
        return Count(formula.measure)
    if isinstance(formula, Distinct):
        return Distinct(formula.sketch)
    if isinstance(formula, Ratio):
        return Ratio(_ungrouped(formula.numerator), _ungrouped(formula.denominator))
    if isinstance(formula, Scaled):
        return Scaled(_ungrouped(formula.inner), formula.factor)
    return formula


def _add_split(kind: str, base: str, formula: Formula, dated: bool, by: tuple[str, ...], **kw) -> None:
    _add(kind, base, formula, (None, "date") if dated else (None,), **kw)
    for dim in by:
        _add(kind, base, _ungrouped(formula), (dim,), **kw)


def _rate(numerator: str, denominator: str, f: Filter = None) -> Ratio:
    return Ratio(Count(numerator, f), Count(denominator, f))


# -- application metrics for campaigns ------------------------------------------------------------------------
_add_split(
    APP, "successful-delivery-rate", _rate("messages.delivered", "messages.sent", CAMPAIGNS), True, ("campaign",)
)
_add_split(APP, "email-open-rate", _rate("email.open", "email.delivered", CAMPAIGNS), True, ("campaign",))
_add_split(APP, "unique-deliveries", Distinct("delivered", CAMPAIGNS), True, ("campaign",))
_add(APP, "successful-deliveries", Count("messages.delivered"), ("campaign",))

# -- application metrics for transactional email and SMS ------------------------------------------------------
_EMAIL_TXN = {
    "txn-emails-clicked": Count("email.click", TXN),
    "txn-emails-complaint-rate": _rate("email.complaint", "email.sent", TXN),
    "txn-emails-with-complaints": Count("email.complaint", TXN),
    "txn-emails-delivered": Count("email.delivered", TXN),
    "txn-emails-delivery-rate": _rate("email.delivered", "email.sent", TXN),
    "txn-emails-hard-bounced": Count("email.hardbounce", TXN),
    "txn-emails-opened": Count("email.open", TXN),
    "txn-emails-sent": Count("email.sent", TXN),
    "txn-emails-soft-bounced": Count("email.softbounce", TXN),
    "txn-emails-unique-clicks": Distinct("email.click", TXN),
    "txn-emails-unique-opens": Distinct("email.open", TXN),
}
for _name, _formula in _EMAIL_TXN.items():
    _add(APP, _name, _formula, (None, "date"))

# SMS as Pinpoint named it; WhatsApp and voice the same way (Kizuna extensions: txn-whatsapp-*, txn-voice-*).
for _short in ("sms", "whatsapp", "voice"):
    _ext = _short != "sms"
    _usd = Scaled(Count(f"{_short}.price", TXN), 1 / MILLICENTS_PER_USD)
    _add(APP, f"txn-{_short}-sent", Count(f"{_short}.sent", TXN), (None, "date"), extension=_ext)
    _add(APP, f"txn-{_short}-sent", Count(f"{_short}.sent"), ("txn_country",), extension=_ext)
    _add(APP, f"txn-{_short}-delivered", Count(f"{_short}.delivered", TXN), (None, "date"), extension=_ext)
    _add(APP, f"txn-{_short}-delivered", Count(f"{_short}.delivered"), ("txn_country",), extension=_ext)
    _add(APP, f"txn-{_short}-delivery-rate", _rate(f"{_short}.delivered", f"{_short}.sent", TXN), (None, "date"))
    _add(APP, f"txn-{_short}-error-distribution", Count(f"{_short}.failed"), ("txn_error",), extension=_ext)
    _add(APP, f"txn-{_short}-total-price", _ungrouped(_usd), ("txn_country",), extension=_ext)
    _add(
        APP,
        f"txn-{_short}-average-price",
        Ratio(_ungrouped(_usd), Count(f"{_short}.sent")),
        ("txn_country",),
        extension=_ext,
    )
    # Kizuna extensions: every message of the channel, campaign and journey ones included.
    _add(APP, f"{_short}-spend", Scaled(Count(f"{_short}.price"), 1 / MILLICENTS_PER_USD), (None, "date"))
    _add(APP, f"{_short}-opt-outs", Count(f"{_short}.optout"), (None, "date"), extension=True)
    _add(APP, f"{_short}-replies", Count(f"{_short}.received"), (None, "date"), extension=True)
    _add(APP, f"{_short}-clicks", Count(f"{_short}.click"), (None, "date"), extension=True)
    _add(APP, f"{_short}-error-distribution", Count(f"{_short}.failed"), ("error",), extension=True)
for _kpi in list(KPIS.values()):  # the rate and spend names above that Pinpoint did not have
    if _kpi.name.startswith(("txn-whatsapp", "txn-voice", "whatsapp-", "voice-")):
        KPIS[(_kpi.kind, _kpi.name)] = Kpi(**{**_kpi.__dict__, "extension": True})

# -- every message of every channel and origin (Kizuna extensions; the dashboard's funnel) ----------------------
for _kind in (APP, CAMPAIGN, JOURNEY):
    for _word in ("sent", "delivered", "failed"):
        _add(_kind, f"messages-{_word}", Count(f"messages.{_word}"), (None, "date"), extension=True)
    _add(_kind, "messages-delivery-rate", _rate("messages.delivered", "messages.sent"), (None, "date"), extension=True)
    _add(_kind, "message-error-distribution", Count("messages.failed"), ("error",), extension=True)

# -- app analytics (Kizuna extensions) ------------------------------------------------------------------------
_add(APP, "daily-active-endpoints", Distinct("active"), ("date",), extension=True)
_add(APP, "active-endpoints", Distinct("active"), (None,), extension=True)
_add(APP, "monthly-active-endpoints", ActiveOver(30), ("date",), extension=True)
_add(APP, "sticky-factor", Ratio(Distinct("active"), ActiveOver(30)), ("date",), extension=True)
_add(APP, "new-endpoints", Count("endpoints.new"), (None, "date"), extension=True)
_add(APP, "sessions", Count("sessions"), (None, "date"), extension=True)
_add(APP, "events", Count("events"), (None, "date", "event_type"), extension=True)
_add(APP, "link-clicks", Count("clicks"), (None, "date", "campaign"), extension=True)
for _days in RETENTION_DAYS:
    _add(
        APP,
        f"retention-{_days}-day",
        _rate(f"endpoints.retained.{_days}", "endpoints.new"),
        ("date",),
        extension=True,
        settled_after_days=_days,
    )

# -- campaign metrics -----------------------------------------------------------------------------------------
_BY_ACTIVITY = ("campaign_activity",)
_add_split(CAMPAIGN, "hard-bounce-rate", _rate("email.hardbounce", "email.sent"), False, _BY_ACTIVITY)
_add_split(CAMPAIGN, "successful-delivery-rate", _rate("messages.delivered", "messages.sent"), True, _BY_ACTIVITY)
_add_split(CAMPAIGN, "email-open-rate", _rate("email.open", "email.delivered"), False, _BY_ACTIVITY)
_add(CAMPAIGN, "direct-email-opens", Count("email.open"), _BY_ACTIVITY)
_add_split(CAMPAIGN, "unique-deliveries", Distinct("delivered"), True, _BY_ACTIVITY)
_add(CAMPAIGN, "clicks", Count("clicks"), _BY_ACTIVITY)
_add(CAMPAIGN, "clicks", Count("clicks"), (None, "date"), extension=True)
_add(CAMPAIGN, "successful-deliveries", Count("messages.delivered"), _BY_ACTIVITY)
_add(CAMPAIGN, "attempted-deliveries", Count("messages.sent"), _BY_ACTIVITY)
_add(CAMPAIGN, "attempted-deliveries", Count("messages.sent"), (None, "date"), extension=True)
_add(CAMPAIGN, "successful-deliveries", Count("messages.delivered"), (None, "date"), extension=True)
# A/B results (Kizuna extensions): each treatment's sends and deliveries, "0" being the campaign's own message.
_add(CAMPAIGN, "attempted-deliveries", Count("messages.sent"), ("treatment",), extension=True)
_add(CAMPAIGN, "successful-deliveries", Count("messages.delivered"), ("treatment",), extension=True)
_add(CAMPAIGN, "successful-delivery-rate", _rate("messages.delivered", "messages.sent"), ("treatment",), extension=True)

# -- journey engagement metrics (email as Pinpoint; SMS, WhatsApp and voice as Kizuna extensions) ---------------
_JOURNEY_EMAIL = {
    "clicked": "email.click",
    "complained": "email.complaint",
    "delivered": "email.delivered",
    "hardbounced": "email.hardbounce",
    "opened": "email.open",
    "rejected": "email.rejected",
    "sent": "email.sent",
    "softbounced": "email.softbounce",
    "unsubscribed": "email.unsubscribe",
}
for _word, _measure in _JOURNEY_EMAIL.items():
    _add(JOURNEY, f"journey-emails-{_word}", Count(_measure), (None,))
    _add(JOURNEY, f"emails-{_word}", Count(_measure), ("journey_activity",))
for _short in ("sms", "whatsapp", "voice"):
    for _word, _suffix in (("sent", "sent"), ("delivered", "delivered"), ("failed", "failed"), ("clicked", "click")):
        _add(JOURNEY, f"journey-{_short}-{_word}", Count(f"{_short}.{_suffix}"), (None,), extension=True)
        _add(JOURNEY, f"{_short}-{_word}", Count(f"{_short}.{_suffix}"), ("journey_activity",), extension=True)


def kpi(kind: str, name: str) -> Kpi | None:
    return KPIS.get((kind, name))


def names(kind: str) -> list[str]:
    return sorted(name for k, name in KPIS if k == kind)
