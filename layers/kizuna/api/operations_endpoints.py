"""Pinpoint endpoint operations."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.services import endpoints


@operation("UpdateEndpoint")
def update_endpoint(call: Call) -> dict:
    deps = call.deps
    endpoints.update_endpoint(
        deps.apps, deps.endpoints, deps.clock, call.app_id, call.params["EndpointId"], call.params["EndpointRequest"]
    )
    return {"Message": "Accepted", "RequestID": call.request_id}


@operation("GetEndpoint")
def get_endpoint(call: Call) -> dict:
    return endpoints.get_endpoint(call.deps.apps, call.deps.endpoints, call.app_id, call.params["EndpointId"])


@operation("DeleteEndpoint")
def delete_endpoint(call: Call) -> dict:
    return endpoints.delete_endpoint(call.deps.apps, call.deps.endpoints, call.app_id, call.params["EndpointId"])
