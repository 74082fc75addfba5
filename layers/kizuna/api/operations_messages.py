"""Pinpoint message operations."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.errors import BadRequest
from kizuna.services import otp
from kizuna.services.send_messages import send_messages, send_users_messages


@operation("SendMessages")
def send(call: Call) -> dict:
    return send_messages(call.deps.send_deps(), call.app_id, call.params["MessageRequest"])


@operation("SendUsersMessages")
def send_to_users(call: Call) -> dict:
    return send_users_messages(call.deps.send_deps(), call.app_id, call.params["SendUsersMessageRequest"])


@operation("SendOTPMessage")
def send_otp(call: Call) -> dict:
    return otp.send_otp(_otp(call), call.app_id, call.params["SendOTPMessageRequestParameters"])


@operation("VerifyOTPMessage")
def verify_otp(call: Call) -> dict:
    params = call.params["VerifyOTPMessageRequestParameters"]
    return otp.verify_otp(_otp(call).store, call.deps.clock.now(), call.app_id, params)


def _otp(call: Call) -> otp.OtpDeps:
    if call.deps.otp is None:
        raise BadRequest("One-time passwords are not configured")
    return call.deps.otp()
