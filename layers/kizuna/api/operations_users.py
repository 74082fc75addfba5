"""Pinpoint user operations: a user's endpoints, and DeleteUserEndpoints as the erasure request."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.services import users
from kizuna.services.erase_events import EventErasure


def event_erasure(call: Call) -> EventErasure | None:
    """Erasure jobs for the event stream and the ledger, where the jobs queue is wired (always, in Lambda)."""
    d = call.deps
    if d.jobs is None or d.jobs_queue is None:
        return None
    return EventErasure(d.jobs, d.jobs_queue, d.clock, d.endpoints, d.apps)


@operation("GetUserEndpoints")
def get_user_endpoints(call: Call) -> dict:
    return users.get_user_endpoints(call.deps.apps, call.deps.endpoints, call.app_id, call.params["UserId"])


@operation("DeleteUserEndpoints")
def delete_user_endpoints(call: Call) -> dict:
    deps = call.deps
    return users.delete_user_endpoints(
        deps.apps,
        deps.endpoints,
        deps.segments,
        deps.clock,
        call.app_id,
        call.params["UserId"],
        deps.engagement,
        event_erasure(call),
    )
