"""Consultation events for the event stream, in Pinpoint's event-stream form (services/event_stream.py).

One event per step: _consultation.booked, .call_started, .call_ended, .warned, .settled, .canceled, .alert.
Ids are deterministic (consultation id + step + detail), so a replayed callback or a retried settlement emits the
same event id and downstream deduplication holds. Phone numbers stay out of the stream.
"""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools import Logger

from kizuna.domain.consultations import Consultation
from kizuna.observability import metrics
from kizuna.ports import EventSink
from kizuna.services.event_stream import event_id, pinpoint_event

logger = Logger(child=True)


def emit(
    sink: EventSink,
    c: Consultation,
    step: str,
    now: datetime,
    detail: str = "",
    metrics_: dict[str, float] | None = None,
    **attributes: str,
) -> None:
    event_type = f"_consultation.{step}"
    attrs = {
        "consultation_id": c.consultation_id,
        "status": c.status.value,
        "payment_status": c.payment.value,
        "currency": c.currency,
        **attributes,
    }
    sink.emit(
        [
            pinpoint_event(
                event_type,
                c.app_id,
                now,
                now,
                attrs,
                metrics=metrics_,
                client_id=c.consultation_id,
                ident=event_id(c.consultation_id, event_type, detail),
            )
        ]
    )


def alert(sink: EventSink, c: Consultation, reason: str, now: datetime) -> None:
    """Something an operator must look at (a hold expired before capture, a capture refused): an error log, a
    metric the stack alarms on, and an event in the stream."""
    logger.error("consultation needs attention", consultation_id=c.consultation_id, app_id=c.app_id, reason=reason)
    metrics.add_metric(name="ConsultationAlerts", unit="Count", value=1)
    emit(sink, c, "alert", now, detail=reason, reason=reason)


def settled(sink: EventSink, c: Consultation, now: datetime) -> None:
    s = c.settlement
    emit(
        sink,
        c,
        "settled",
        now,
        detail=c.payment.value,
        metrics_={"amount": float(c.amount_captured or 0), "billed_seconds": float(c.billed_seconds or 0)},
        action=s.action if s else "",
        reason=s.reason if s else "",
        payment_intent_id=c.payment_intent_id,
    )
    if c.amount_captured:
        metrics.add_metric(name="ConsultationRevenue", unit="Count", value=float(c.amount_captured))
