"""Billed consultations in the synthesized stack: webhook routes to their own functions, the reconciliation
schedule, the Stripe secret without a value, and an alarm on consultation alerts."""

from __future__ import annotations

import pytest

from kizuna.catalog import SCHEDULES

pytestmark = pytest.mark.infra


def _resource_paths(synthesized) -> dict[str, str]:
    """Logical id → full path of every API Gateway resource (walking ParentId chains)."""
    resources = synthesized.of_type("AWS::ApiGateway::Resource")

    def path(logical_id: str) -> str:
        props = resources[logical_id]["Properties"]
        parent = props["ParentId"]
        prefix = path(parent["Ref"]) if isinstance(parent, dict) and "Ref" in parent else ""
        return f"{prefix}/{props['PathPart']}"

    return {logical_id: path(logical_id) for logical_id in resources}


def _handler_of(synthesized, method: dict) -> str:
    uri = method["Properties"]["Integration"]["Uri"]["Fn::Join"][1]
    (function_ref,) = [part["Fn::GetAtt"][0] for part in uri if isinstance(part, dict) and "Fn::GetAtt" in part]
    return synthesized.resources[function_ref]["Properties"]["Handler"]


@pytest.mark.parametrize(
    ("path", "handler"),
    [
        ("/webhooks/twilio/voice/{proxy+}", "voice_webhook/handler.handler"),
        ("/webhooks/stripe/{proxy+}", "stripe_webhook/handler.handler"),
        ("/webhooks/twilio/{proxy+}", "twilio_webhook/handler.handler"),
    ],
)
def test_webhook_paths_reach_their_own_functions(synthesized, path, handler):
    paths = _resource_paths(synthesized)
    methods = [
        m
        for m in synthesized.of_type("AWS::ApiGateway::Method").values()
        if paths.get(m["Properties"]["ResourceId"].get("Ref", "")) == path
    ]
    assert methods and {_handler_of(synthesized, m) for m in methods} == {handler}


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
