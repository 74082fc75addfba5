"""Pinpoint application settings operations."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.services import app_settings


@operation("GetApplicationSettings")
def get_application_settings(call: Call) -> dict:
    return app_settings.get_settings(call.deps.apps, call.app_id)


@operation("UpdateApplicationSettings")
def update_application_settings(call: Call) -> dict:
    return app_settings.update_settings(
        call.deps.apps, call.deps.clock, call.app_id, call.params.get("WriteApplicationSettingsRequest") or {}
    )
