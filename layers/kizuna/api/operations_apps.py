"""Pinpoint app operations."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.errors import Forbidden
from kizuna.services import apps


@operation("CreateApp")
def create_app(call: Call) -> dict:
    if call.caller.app_ids is not None:
        raise Forbidden("This access key is scoped to specific apps and cannot create apps")
    app = apps.create_app(
        call.deps.apps, call.deps.clock, call.deps.arn_prefix, call.params["CreateApplicationRequest"]
    )
    return app.to_pinpoint()


@operation("GetApp")
def get_app(call: Call) -> dict:
    return apps.get_app(call.deps.apps, call.app_id).to_pinpoint()


@operation("GetApps")
def get_apps(call: Call) -> dict:
    return apps.list_apps(call.deps.apps, call.params.get("PageSize"), call.params.get("Token"), call.caller.app_ids)


@operation("DeleteApp")
def delete_app(call: Call) -> dict:
    d = call.deps
    return apps.delete_app(d.apps, call.app_id, d.segments, d.jobs_queue).to_pinpoint()
