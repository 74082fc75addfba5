"""Pinpoint message operations."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.services.send_messages import send_messages


@operation("SendMessages")
def send(call: Call) -> dict:
    deps = call.deps
    return send_messages(
        deps.apps, deps.endpoints, deps.queue, deps.clock, call.app_id, call.params["MessageRequest"], deps.templates
    )
