"""Pinpoint message operations."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.services.send_messages import send_messages, send_users_messages


@operation("SendMessages")
def send(call: Call) -> dict:
    return send_messages(call.deps.send_deps(), call.app_id, call.params["MessageRequest"])


@operation("SendUsersMessages")
def send_to_users(call: Call) -> dict:
    return send_users_messages(call.deps.send_deps(), call.app_id, call.params["SendUsersMessageRequest"])
