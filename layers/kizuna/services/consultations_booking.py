"""Booking, reading, listing and cancelling consultations (the extension API), and the revenue KPI.

A booking is validated whole before anything happens (400 naming the field), then the hold is placed, then the
record is written: a declined card writes nothing, and a record always has its hold. If the write itself fails the
hold is released again before the error goes back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kizuna.clock import iso
from kizuna.domain.consultation_money import MAX_AMOUNT, RoundingRule, hold_amount, is_supported
from kizuna.domain.consultations import PIN_DIGITS, Consultation, Payment, Settlement, Status, new_pin
from kizuna.errors import BadRequest, Conflict, NotFound
from kizuna.ports_consultations import PaymentDeclined, PaymentRefused, PaymentUnavailable
from kizuna.services.consultation_events import emit
from kizuna.services.consultations_deps import ConsultationDeps
from kizuna.services.consultations_settle import settle
from kizuna.services.consultations_twiml import LANGUAGES

REQUEST = "ConsultationRequest"
MAX_WINDOW = timedelta(hours=24)
MAX_MINUTES = 240  # Twilio ends any call after 4 hours
MAX_BOOKING_AHEAD = timedelta(days=366)
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 100


def _e164(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"is not a phone number in E.164 form: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class BookingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client_phone: str = Field(alias="ClientPhoneNumber")
    expert_phone: str = Field(alias="ExpertPhoneNumber")
    start_time: datetime = Field(alias="StartTime")
    end_time: datetime = Field(alias="EndTime")
    rate_per_minute: int = Field(alias="RatePerMinute", ge=1, le=MAX_AMOUNT)
    currency: str = Field(alias="Currency")
    max_minutes: int = Field(alias="MaxMinutes", ge=1, le=MAX_MINUTES)
    rounding: RoundingRule = Field(RoundingRule.PER_STARTED_MINUTE, alias="RoundingRule")
    cancellation_fee: int = Field(0, alias="CancellationFee", ge=0, le=MAX_AMOUNT)
    cancellation_window_minutes: int = Field(1440, alias="CancellationWindowMinutes", ge=0, le=60 * 24 * 30)
    language: str = Field("ja-JP", alias="Language")
    twilio_number: str | None = Field(None, alias="TwilioNumber")
    stripe_customer: str = Field(alias="StripeCustomerId", min_length=1, max_length=255)
    stripe_payment_method: str = Field(alias="StripePaymentMethodId", min_length=1, max_length=255)

    @field_validator("client_phone", "expert_phone", "twilio_number")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else _e164(value)

    @field_validator("start_time", "end_time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone offset (e.g. 2026-11-02T10:00:00+09:00)")
        return value.astimezone(UTC)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        value = value.lower()
        if not is_supported(value):
            raise ValueError(f"{value!r} is not a currency Stripe settles here")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BookingRequest:
        if self.end_time <= self.start_time:
            raise ValueError("EndTime must be after StartTime")
        if self.end_time - self.start_time > MAX_WINDOW:
            raise ValueError("the window (StartTime to EndTime) may be at most 24 hours")
        if self.client_phone == self.expert_phone:
            raise ValueError("ClientPhoneNumber and ExpertPhoneNumber must differ")
        if hold_amount(self.rate_per_minute, self.max_minutes) > MAX_AMOUNT:
            raise ValueError("RatePerMinute × MaxMinutes exceeds Stripe's largest amount")
        return self


def parse_booking(body: Any) -> BookingRequest:
    if not isinstance(body, dict):
        raise BadRequest(f"{REQUEST} must be an object")
    try:
        return BookingRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest("; ".join(_describe(e) for e in exc.errors())) from None


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"{REQUEST}.{where}: {message}" if where else f"{REQUEST}: {message}"


def book(deps: ConsultationDeps, app_id: str, body: Any) -> dict[str, Any]:
    _require_app(deps, app_id)
    request = parse_booking(body)
    now = deps.clock.now()
    if request.end_time <= now:
        raise BadRequest(f"{REQUEST}.EndTime: is in the past")
    if request.start_time - now > MAX_BOOKING_AHEAD:
        raise BadRequest(f"{REQUEST}.StartTime: is more than a year ahead")
    twilio_number = request.twilio_number or deps.default_twilio_number()
    if not twilio_number:
        raise BadRequest(f"{REQUEST}.TwilioNumber: is required (the Twilio secret names no from_number)")
    consultation_id = uuid.uuid4().hex
    pin = _free_pin(deps, twilio_number, request.start_time, request.end_time)
    amount = hold_amount(request.rate_per_minute, request.max_minutes)
    try:
        hold = deps.payments.place_hold(
            amount,
            request.currency,
            request.stripe_customer,
            request.stripe_payment_method,
            idempotency_key=f"kizuna-hold-{app_id}-{consultation_id}-0",
            metadata={"kizuna_app": app_id, "kizuna_consultation": consultation_id},
        )
    except PaymentDeclined as exc:
        raise BadRequest(f"{REQUEST}.StripePaymentMethodId: the card was declined: {exc.reason} ({exc.code})") from None
    except PaymentRefused as exc:
        raise BadRequest(f"{REQUEST}.StripePaymentMethodId: Stripe refused the hold: {exc}") from None
    except PaymentUnavailable:
        raise Conflict("Stripe is unavailable; nothing was booked, try again") from None
    if hold.status != "requires_capture":
        deps.payments.cancel(hold.id, f"kizuna-release-{app_id}-{consultation_id}")
        raise BadRequest(
            f"{REQUEST}.StripePaymentMethodId: the hold is {hold.status}, not authorized (a card that needs "
            "authentication cannot be held off-session)"
        )
    consultation = Consultation(
        app_id=app_id,
        consultation_id=consultation_id,
        client_phone=request.client_phone,
        expert_phone=request.expert_phone,
        twilio_number=twilio_number,
        language=request.language,
        start_time=request.start_time,
        end_time=request.end_time,
        rate_per_minute=request.rate_per_minute,
        currency=request.currency,
        rounding=request.rounding,
        max_minutes=request.max_minutes,
        cancellation_fee=request.cancellation_fee,
        cancellation_window_minutes=request.cancellation_window_minutes,
        pin=pin,
        stripe_customer=request.stripe_customer,
        stripe_payment_method=request.stripe_payment_method,
        created_at=now,
        updated_at=now,
        payment_intent_id=hold.id,
        hold_amount=hold.amount,
        hold_expires_at=hold.capture_before,
    )
    try:
        created = deps.store.create(consultation)
    except Exception:
        deps.payments.cancel(hold.id, f"kizuna-release-{app_id}-{consultation_id}")
        raise
    if not created:  # a uuid4 collision: release rather than leave a hold without a record
        deps.payments.cancel(hold.id, f"kizuna-release-{app_id}-{consultation_id}")
        raise Conflict("Consultation id collision; try again")
    emit(deps.events, consultation, "booked", now, metrics_={"hold_amount": float(consultation.hold_amount)})
    return to_response(consultation)


def _free_pin(deps: ConsultationDeps, number: str, start: datetime, end: datetime) -> str:
    for _ in range(10):
        pin = new_pin()
        if not deps.store.pin_in_use(number, pin, start, end):
            return pin
    raise Conflict(f"No free {PIN_DIGITS}-digit PIN for this window on {number}; try again")


def get(deps: ConsultationDeps, app_id: str, consultation_id: str) -> dict[str, Any]:
    _require_app(deps, app_id)
    consultation = _existing(deps, app_id, consultation_id)
    return to_response(consultation, deps.store.call_log(app_id, consultation_id))


def list_consultations(deps: ConsultationDeps, app_id: str, page_size: str | None, token: str | None) -> dict:
    _require_app(deps, app_id)
    try:
        limit = int(page_size) if page_size else DEFAULT_PAGE_SIZE
    except ValueError:
        raise BadRequest(f"page-size must be a number; got {page_size!r}") from None
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"page-size must be within 1..{MAX_PAGE_SIZE}")
    try:
        items, next_token = deps.store.list(app_id, limit, token or None)
    except (ValueError, TypeError):
        raise BadRequest("token is not a token this API issued") from None
    page: dict[str, Any] = {"Item": [to_response(c) for c in items]}
    if next_token:
        page["NextToken"] = next_token
    return page


def cancel(deps: ConsultationDeps, app_id: str, consultation_id: str) -> dict[str, Any]:
    """Cancel a booking: the hold is released, or the cancellation fee captured inside the cancellation window."""
    _require_app(deps, app_id)
    for _ in range(3):
        c = _existing(deps, app_id, consultation_id)
        if c.status is Status.CANCELED:
            return to_response(c)  # cancelling twice is answered like the first time
        if c.status is not Status.BOOKED or c.payment is not Payment.HELD:
            raise Conflict(f"Consultation is {c.status.value} ({c.payment.value}); only a booked one can be canceled")
        now = deps.clock.now()
        reason = "late_cancellation" if c.cancellation_is_late(now) else "canceled"
        late = reason == "late_cancellation"
        settlement = c.settlement_for_fee(reason) if late else Settlement("release", 0, "canceled")
        done = settle(deps, c, settlement, status=Status.CANCELED, status_reason=reason)
        if done.status is Status.CANCELED:
            emit(deps.events, done, "canceled", now, reason=reason)
            return to_response(done)
    raise Conflict("The consultation changed while it was being canceled; try again")


def revenue_kpi(deps: ConsultationDeps, app_id: str, start: str | None, end: str | None) -> dict[str, Any]:
    """Pinpoint's ApplicationDateRangeKpiResponse for Kizuna's KPI "consultation-revenue": one row per day and
    currency with the captured amount (minor units) and the number of settled consultations."""
    _require_app(deps, app_id)
    now = deps.clock.now()
    try:
        end_day = datetime.fromisoformat(end).astimezone(UTC).date() if end else now.date()
        start_day = datetime.fromisoformat(start).astimezone(UTC).date() if start else end_day - timedelta(days=6)
    except ValueError as exc:
        raise BadRequest(f"start-time/end-time must be ISO 8601: {exc}") from None
    if start_day > end_day or (end_day - start_day).days > 90:
        raise BadRequest("start-time must be before end-time, at most 90 days apart")
    rows = deps.store.revenue(app_id, start_day, end_day)
    return {
        "ApplicationId": app_id,
        "KpiName": "consultation-revenue",
        "StartTime": iso(datetime.combine(start_day, datetime.min.time(), UTC)),
        "EndTime": iso(datetime.combine(end_day + timedelta(days=1), datetime.min.time(), UTC)),
        "KpiResult": {
            "Rows": [
                {
                    "GroupedBys": [
                        {"Key": "Date", "Type": "String", "Value": row["day"]},
                        {"Key": "Currency", "Type": "String", "Value": row["currency"].upper()},
                    ],
                    "Values": [
                        {"Key": "Revenue", "Type": "Long", "Value": str(row["amount"])},
                        {"Key": "Consultations", "Type": "Long", "Value": str(row["count"])},
                    ],
                }
                for row in sorted(rows, key=lambda r: (r["day"], r["currency"]))
            ]
        },
    }


def _require_app(deps: ConsultationDeps, app_id: str) -> None:
    if deps.apps is not None and deps.apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")


def _existing(deps: ConsultationDeps, app_id: str, consultation_id: str) -> Consultation:
    c = deps.store.get(app_id, consultation_id)
    if c is None:
        raise NotFound(f"Consultation {consultation_id} not found")
    return c


def to_response(c: Consultation, call_log: list[dict[str, str]] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "Id": c.consultation_id,
        "ApplicationId": c.app_id,
        "Status": c.status.value,
        "PaymentStatus": c.payment.value,
        "ClientPhoneNumber": c.client_phone,
        "ExpertPhoneNumber": c.expert_phone,
        "TwilioNumber": c.twilio_number,
        "Pin": c.pin,
        "Language": c.language,
        "StartTime": iso(c.start_time),
        "EndTime": iso(c.end_time),
        "RatePerMinute": c.rate_per_minute,
        "Currency": c.currency.upper(),
        "RoundingRule": c.rounding.value,
        "MaxMinutes": c.max_minutes,
        "CancellationFee": c.cancellation_fee,
        "CancellationWindowMinutes": c.cancellation_window_minutes,
        "PaymentIntentId": c.payment_intent_id,
        "HoldAmount": c.hold_amount,
        "CreationDate": iso(c.created_at),
        "LastModifiedDate": iso(c.updated_at),
    }
    optional = {
        "HoldExpiresAt": iso(c.hold_expires_at) if c.hold_expires_at else None,
        "CallSid": c.call_sid,
        "DialCallSid": c.dial_call_sid,
        "TimeLimitSeconds": c.time_limit_s,
        "BilledSeconds": c.billed_seconds,
        "AmountCaptured": c.amount_captured,
        "StatusReason": c.status_reason,
    }
    response.update({k: v for k, v in optional.items() if v is not None})
    if call_log is not None:
        response["CallLog"] = [{k: v for k, v in entry.items() if k in CALL_LOG_FIELDS} for entry in call_log]
    return response


CALL_LOG_FIELDS = (
    "CallSid",
    "ParentCallSid",
    "CallStatus",
    "CallDuration",
    "Direction",
    "From",
    "To",
    "Timestamp",
    "SequenceNumber",
    "CallbackSource",
)
