"""Pinpoint endpoint operations, the app's attribute registry, and phone number validation."""

from __future__ import annotations

from kizuna.api.app import Call, operation
from kizuna.api.operations_users import event_erasure
from kizuna.services import endpoints, phone_numbers


@operation("UpdateEndpoint")
def update_endpoint(call: Call) -> dict:
    deps = call.deps
    endpoints.update_endpoint(
        deps.apps, deps.endpoints, deps.clock, call.app_id, call.params["EndpointId"], call.params["EndpointRequest"]
    )
    return {"Message": "Accepted", "RequestID": call.request_id}


@operation("UpdateEndpointsBatch")
def update_endpoints_batch(call: Call) -> dict:
    deps = call.deps
    endpoints.update_endpoints_batch(
        deps.apps, deps.endpoints, deps.clock, call.app_id, call.params["EndpointBatchRequest"]
    )
    return {"Message": "Accepted", "RequestID": call.request_id}


@operation("GetEndpoint")
def get_endpoint(call: Call) -> dict:
    return endpoints.get_endpoint(call.deps.apps, call.deps.endpoints, call.app_id, call.params["EndpointId"])


@operation("DeleteEndpoint")
def delete_endpoint(call: Call) -> dict:
    d = call.deps
    return endpoints.delete_endpoint(d.apps, d.endpoints, call.app_id, call.params["EndpointId"], event_erasure(call))


@operation("RemoveAttributes")
def remove_attributes(call: Call) -> dict:
    return endpoints.remove_attributes(
        call.deps.apps, call.app_id, call.params["AttributeType"], call.params.get("UpdateAttributesRequest")
    )


# Not app-scoped (no ApplicationId): listed in api.app.UNSCOPED.
@operation("PhoneNumberValidate")
def phone_number_validate(call: Call) -> dict:
    return phone_numbers.validate_phone_number(call.params.get("NumberValidateRequest"))
