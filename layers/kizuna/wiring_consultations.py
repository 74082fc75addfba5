"""Composition root for billed consultations: real adapters from a function's settings (see wiring.py).

Stripe and Twilio clients are built on first use and kept per credentials, so a rotated secret reaches warm
functions within wiring.SECRET_MAX_AGE_S, and the voice webhook imports the stripe SDK only when it settles.
"""

from __future__ import annotations

from typing import Any

from kizuna import wiring
from kizuna.adapters.dynamo_consultations import DynamoConsultationStore
from kizuna.clock import Clock, SystemClock
from kizuna.domain.stripe_account import StripeAccount
from kizuna.ports_consultations import CallControl, Payments
from kizuna.services.consultations_deps import ConsultationDeps

_payments: dict[tuple[str, str | None], Payments] = {}
_call_controls: dict[tuple[str, str, str | None], CallControl] = {}


def stripe_account(secret_id: str) -> StripeAccount:
    return StripeAccount.model_validate(
        wiring._secrets().get(secret_id, transform="json", max_age=wiring.SECRET_MAX_AGE_S)
    )


def payments(secret_id: str) -> Payments:
    account = stripe_account(secret_id)
    key = (account.api_key.get_secret_value(), account.api_base_url)
    if key not in _payments:
        from kizuna.adapters.stripe_payments import StripePayments, make_stripe_client

        _payments[key] = StripePayments(make_stripe_client(key[0], account.api_base_url))
    return _payments[key]


def call_control(secret_id: str) -> CallControl:
    account = wiring.twilio_account(secret_id)
    key = (account.account_sid, account.auth_token.get_secret_value(), account.api_base_url)
    if key not in _call_controls:
        from kizuna.adapters.twilio_calls import TwilioCallControl
        from kizuna.adapters.twilio_messaging import make_twilio_client

        _call_controls[key] = TwilioCallControl(make_twilio_client(key[0], key[1], key[2], timeout_s=5.0))
    return _call_controls[key]


def consultation_store(table: str) -> DynamoConsultationStore:
    return DynamoConsultationStore(table, wiring.aws("dynamodb"))


def call_timers(queue_url: str) -> Any:
    from kizuna.adapters.sqs_call_timers import SqsCallTimers

    return SqsCallTimers(queue_url, wiring.aws("sqs"))


def consultation_deps(settings: Any, clock: Clock | None = None, apps: Any = None) -> ConsultationDeps:
    """Deps for any consultation function: what its settings model names is wired, the rest stays unset."""
    stripe_secret = getattr(settings, "stripe_secret_id", None)
    twilio_secret = getattr(settings, "twilio_secret_id", None)
    timers_url = getattr(settings, "call_timers_queue_url", None)
    deps = ConsultationDeps(
        store=consultation_store(settings.consultations_table),
        events=wiring.event_sink(settings.events_stream),
        clock=clock or SystemClock(),
        timers=call_timers(timers_url) if timers_url else None,
        apps=apps,
    )
    if stripe_secret:
        deps.payments_factory = lambda: payments(stripe_secret)
    if twilio_secret:
        deps.calls_factory = lambda: call_control(twilio_secret)
        deps.default_twilio_number = lambda: wiring.twilio_account(twilio_secret).from_number
    return deps
