"""What the aggregator counts: a table, read by generic code. A new event type is a new row here, not new code.

For every event the aggregator finds its scopes (the app; its campaign and its journey when the attributes name
them), and in each scope:
- each MEASURE whose event types (fnmatch patterns) and attribute conditions match adds 1 (or the named metric) to
  the scope's day total, and to the day counter of every DIMENSION that applies to it (e.g. per country);
- each SKETCH whose event types match adds the event's endpoint to a distinct-endpoint sketch of that day.
The endpoint activity measures (sessions, new endpoints, retention) come from domain/endpoint_activity.py.

Event names are Pinpoint's where Pinpoint had them (_SMS.BUFFERED/SUCCESS/FAILURE/OPTOUT/RECEIVED, _email.send,
_email.delivered, ...). WhatsApp and voice rows assume the same shape under _WHATSAPP.* and _VOICE.*; the
messaging issue owns those names and adjusts these rows if it chose others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from kizuna.domain.analytics_events import AnalyticsEvent, is_app_event

APP, CAMPAIGN, JOURNEY = "app", "campaign", "journey"


@dataclass(frozen=True)
class Measure:
    name: str
    event_types: tuple[str, ...]
    where: tuple[tuple[str, str], ...] = ()  # attribute == value
    without: tuple[str, ...] = ()  # attributes that must be absent
    metric: str | None = None  # sum this metric instead of counting events
    amount: float = 1.0  # what one matching event counts (-1: it takes back one counted before)

    def value(self, event: AnalyticsEvent) -> float | None:
        if not any(fnmatchcase(event.event_type, pattern) for pattern in self.event_types):
            return None
        if any(event.attributes.get(k) != v for k, v in self.where):
            return None
        if any(k in event.attributes for k in self.without):
            return None
        if self.metric is None:
            return self.amount
        return event.metrics.get(self.metric)


@dataclass(frozen=True)
class Dimension:
    name: str
    scopes: frozenset[str]
    of: Callable[[AnalyticsEvent], str | None]
    measures: tuple[str, ...] = ("*",)  # fnmatch patterns of the measures it breaks down

    def applies_to(self, measure: str) -> bool:
        return any(fnmatchcase(measure, pattern) for pattern in self.measures)


@dataclass(frozen=True)
class Sketch:
    name: str
    matches: Callable[[AnalyticsEvent], bool]
    # scope -> the dimensions it is kept by; None is the scope's day total.
    dims: dict[str, tuple[str | None, ...]]


def origin(event: AnalyticsEvent) -> str:
    """Pinpoint's split of metrics: campaign messages, journey messages, and transactional ("txn") ones."""
    if event.attributes.get("campaign_id"):
        return "campaign"
    if event.attributes.get("journey_id"):
        return "journey"
    return "txn"


def _attribute(name: str) -> Callable[[AnalyticsEvent], str | None]:
    return lambda event: event.attributes.get(name) or None


def _txn(of: Callable[[AnalyticsEvent], str | None]) -> Callable[[AnalyticsEvent], str | None]:
    return lambda event: of(event) if origin(event) == "txn" else None


def error_code(event: AnalyticsEvent) -> str | None:
    # A correction is counted under the error of the failure it takes back (event_stream.status_event).
    attributes = event.attributes
    return attributes.get("corrected_error") or attributes.get("provider_error_code") or attributes.get("record_status")


def _types(*patterns: str) -> tuple[str, ...]:
    return patterns


# Phone channels share Pinpoint's SMS event shape. "sent" is a send attempt: the message was handed to the
# provider (BUFFERED with record_status PENDING, which the sender emits once) or refused by it at submission (a
# FAILURE without a provider message id, which no BUFFERED preceded). A SUCCESS that corrects an `undelivered`
# (a late delivery receipt, kizuna.domain.messages) takes that FAILURE back out of "failed", so a message is counted
# either failed or delivered, as its record says. The take-back lands on the day of the delivery: a range that holds
# both days nets to the record; a day alone may show the correction.
_PHONE_CHANNELS = {"sms": "_SMS", "whatsapp": "_WHATSAPP", "voice": "_VOICE"}
_CORRECTION = (("corrected_status", "undelivered"),)


def _phone_measures(short: str, prefix: str) -> tuple[Measure, ...]:
    sent = (
        Measure(f"{short}.sent", (f"{prefix}.BUFFERED",), where=(("record_status", "PENDING"),)),
        Measure(f"{short}.sent", (f"{prefix}.FAILURE",), without=("provider_message_id",)),
    )
    return (
        *sent,
        *(Measure("messages.sent", m.event_types, m.where, m.without) for m in sent),
        Measure(f"{short}.delivered", (f"{prefix}.SUCCESS",)),
        Measure("messages.delivered", (f"{prefix}.SUCCESS",)),
        Measure(f"{short}.failed", (f"{prefix}.FAILURE",)),
        Measure("messages.failed", (f"{prefix}.FAILURE",)),
        Measure(f"{short}.failed", (f"{prefix}.SUCCESS",), where=_CORRECTION, amount=-1.0),
        Measure("messages.failed", (f"{prefix}.SUCCESS",), where=_CORRECTION, amount=-1.0),
        Measure(f"{short}.price", (f"{prefix}.*",), metric="price_in_millicents_usd"),
        Measure(f"{short}.optout", (f"{prefix}.OPTOUT",)),
        Measure(f"{short}.received", (f"{prefix}.RECEIVED",)),
        Measure(f"{short}.click", (f"{prefix}.CLICK",)),
        Measure("clicks", (f"{prefix}.CLICK",)),
    )


_EMAIL = {
    "sent": "_email.send",
    "delivered": "_email.delivered",
    "hardbounce": "_email.hardbounce",
    "softbounce": "_email.softbounce",
    "complaint": "_email.complaint",
    "open": "_email.open",
    "click": "_email.click",
    "rejected": "_email.rejected",
    "unsubscribe": "_email.unsubscribe",
}

MEASURES: tuple[Measure, ...] = (
    Measure("events", _types("*")),
    *(m for short, prefix in _PHONE_CHANNELS.items() for m in _phone_measures(short, prefix)),
    *(Measure(f"email.{name}", (event_type,)) for name, event_type in _EMAIL.items()),
    Measure("email.softbounce", (_EMAIL["delivered"],), where=_CORRECTION, amount=-1.0),  # e-mail's undelivered
    Measure("messages.sent", (_EMAIL["sent"],)),
    Measure("messages.delivered", (_EMAIL["delivered"],)),
    Measure("messages.failed", (_EMAIL["hardbounce"], _EMAIL["rejected"])),
    Measure("clicks", (_EMAIL["click"],)),
)

# Counted by the endpoint activity state, not by matching single events (names used by the KPI table).
ACTIVITY_MEASURES = (
    "sessions",
    "endpoints.new",
    "endpoints.retained.7",
    "endpoints.retained.14",
    "endpoints.retained.30",
)
RETENTION_DAYS = (7, 14, 30)

DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("event_type", frozenset({APP, CAMPAIGN, JOURNEY}), lambda e: e.event_type, measures=("events",)),
    Dimension("origin", frozenset({APP}), origin, measures=("*.*",)),
    Dimension("campaign", frozenset({APP}), _attribute("campaign_id"), measures=("*.*", "clicks")),
    Dimension("txn_country", frozenset({APP}), _txn(_attribute("iso_country_code")), measures=("*.*",)),
    Dimension("txn_error", frozenset({APP}), _txn(error_code), measures=("*.failed",)),
    Dimension("error", frozenset({APP, CAMPAIGN, JOURNEY}), error_code, measures=("*.failed",)),
    Dimension("campaign_activity", frozenset({CAMPAIGN}), _attribute("campaign_activity_id"), ("*.*", "clicks")),
    Dimension("treatment", frozenset({CAMPAIGN}), _attribute("treatment_id")),
    Dimension("journey_activity", frozenset({JOURNEY}), _attribute("journey_activity_id"), ("*.*", "clicks")),
)
DIMENSIONS_BY_NAME = {d.name: d for d in DIMENSIONS}

_DELIVERED = ("_SMS.SUCCESS", "_WHATSAPP.SUCCESS", "_VOICE.SUCCESS", "_email.delivered")
_MESSAGE_SKETCH_DIMS = {
    APP: ("origin", "campaign"),
    CAMPAIGN: (None, "campaign_activity"),
    JOURNEY: (None, "journey_activity"),
}

SKETCHES: tuple[Sketch, ...] = (
    Sketch("delivered", lambda e: e.event_type in _DELIVERED, _MESSAGE_SKETCH_DIMS),
    Sketch("email.open", lambda e: e.event_type == _EMAIL["open"], _MESSAGE_SKETCH_DIMS),
    Sketch("email.click", lambda e: e.event_type == _EMAIL["click"], _MESSAGE_SKETCH_DIMS),
    # Endpoints active in the app (they reported app events): daily and monthly active endpoints.
    Sketch("active", lambda e: is_app_event(e.event_type), {APP: (None,)}),
)
SKETCHES_BY_NAME = {s.name: s for s in SKETCHES}


def scopes_of(event: AnalyticsEvent) -> list[tuple[str, str]]:
    """(scope kind, scope key) pairs: ("app", "app"), ("campaign", "c:<id>"), ("journey", "j:<id>")."""
    scopes = [(APP, APP)]
    if event.attributes.get("campaign_id"):
        scopes.append((CAMPAIGN, campaign_scope(event.attributes["campaign_id"])))
    if event.attributes.get("journey_id"):
        scopes.append((JOURNEY, journey_scope(event.attributes["journey_id"])))
    return scopes


def campaign_scope(campaign_id: str) -> str:
    return f"c:{campaign_id}"


def journey_scope(journey_id: str) -> str:
    return f"j:{journey_id}"


def kind_of(scope: str) -> str:
    return CAMPAIGN if scope.startswith("c:") else JOURNEY if scope.startswith("j:") else APP
