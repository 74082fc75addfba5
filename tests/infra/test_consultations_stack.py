"""Billed consultations in the synthesized stack: webhook routes to their own functions, the reconciliation
schedule, the Stripe secret without a value, and an alarm on consultation alerts."""

from __future__ import annotations

import pytest

from kizuna.catalog import SCHEDULES

pytestmark = pytest.mark.infra


def _route_handlers(synthesized) -> dict[str, str]:
    """Route key of every HTTP API route → the handler of the function its integration invokes."""
    integrations = synthesized.of_type("AWS::ApiGatewayV2::Integration")
    found = {}
    for route in synthesized.of_type("AWS::ApiGatewayV2::Route").values():
        (integration,) = [p["Ref"] for p in route["Properties"]["Target"]["Fn::Join"][1] if isinstance(p, dict)]
        function = integrations[integration]["Properties"]["IntegrationUri"]["Fn::GetAtt"][0]
        found[route["Properties"]["RouteKey"]] = synthesized.resources[function]["Properties"]["Handler"]
    return found


@pytest.mark.parametrize(
    ("path", "handler"),
    [
        ("/webhooks/twilio/voice/{proxy+}", "voice_webhook/handler.handler"),
        ("/webhooks/stripe/{proxy+}", "stripe_webhook/handler.handler"),
        ("/webhooks/twilio/{proxy+}", "twilio_webhook/handler.handler"),
    ],
)
def test_webhook_paths_reach_their_own_functions(synthesized, path, handler):
    # (an HTTP API picks the most specific route: voice/ before twilio/)
    assert _route_handlers(synthesized)[f"ANY {path}"] == handler


def test_consultations_are_reconciled_every_five_minutes(synthesized):
    spec = SCHEDULES["reconcile_consultations"]
    synthesized.template.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": f"rate({spec.rate_minutes} minutes)",
            "Description": f"kizuna {spec.key}: {spec.function} every {spec.rate_minutes} minutes",
        },  # fmt: skip
    )
    assert spec.rate_minutes == 5


def test_consultation_alerts_are_alarmed(synthesized):
    alarms = [
        a["Properties"]
        for a in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ConsultationAlerts"
    ]
    services = {d["Value"] for a in alarms for d in a["Dimensions"]}
    assert services == {f"kizuna-{k}" for k in ("voice_webhook", "stripe_webhook", "consultations_reconciler",
                                                 "consultation_timers")}  # fmt: skip
    assert all(a["AlarmActions"] for a in alarms)
