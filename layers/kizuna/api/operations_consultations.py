"""Billed consultations: Kizuna's extension operations (pinpoint/extensions.json), under /v1/apps/{app}/consultations
and the revenue KPI under /v1/apps/{app}/kpis/consultations/revenue."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.errors import BadRequest
from kizuna.services import consultations_booking as booking
from kizuna.services.consultations_deps import ConsultationDeps


def _deps(call: Call) -> ConsultationDeps:
    if call.deps.consultations is None:
        raise BadRequest("Consultations are not configured")
    return call.deps.consultations


@operation("CreateConsultation")
def create_consultation(call: Call) -> dict:
    return booking.book(_deps(call), call.app_id, call.params.get("ConsultationRequest"))


@operation("GetConsultations")
def get_consultations(call: Call) -> dict:
    p = call.params
    return booking.list_consultations(_deps(call), call.app_id, p.get("PageSize"), p.get("Token"))


@operation("GetConsultation")
def get_consultation(call: Call) -> dict:
    return booking.get(_deps(call), call.app_id, call.params["ConsultationId"])


@operation("CancelConsultation")
def cancel_consultation(call: Call) -> dict:
    return booking.cancel(_deps(call), call.app_id, call.params["ConsultationId"])


@operation("GetConsultationRevenueKpi")
def get_consultation_revenue_kpi(call: Call) -> dict:
    p = call.params
    return booking.revenue_kpi(_deps(call), call.app_id, p.get("StartTime"), p.get("EndTime"))
