"""Endpoints: where messages go. Addresses are normalised on the way in; partial updates merge as Pinpoint's do."""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import phonenumbers
from phonenumbers import timezone as phone_timezones

from kizuna.clock import Clock, iso
from kizuna.errors import BadRequest, NotFound
from kizuna.ports import AppStore, EndpointStore

PHONE_CHANNELS = frozenset({"SMS", "VOICE", "WHATSAPP"})
MAX_ATTRIBUTES = 250
MAX_ENDPOINT_BYTES = 15 * 1024
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Nested maps whose keys merge one by one on update (Pinpoint keeps keys the update does not mention).
_MERGED_MAPS = ("Attributes", "Metrics", "Demographic", "Location")


def normalise_phone(address: str, field: str) -> str:
    """E.164 or a BadRequest naming the field. Pinpoint requires the leading + and country code."""
    try:
        number = phonenumbers.parse(address, None)
    except phonenumbers.NumberParseException as exc:
        raise BadRequest(f"Invalid phone number in {field}: {address!r} ({exc})") from None
    if not phonenumbers.is_possible_number(number):
        raise BadRequest(f"Invalid phone number in {field}: {address!r} is not a possible number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def estimated_timezone(e164: str) -> str | None:
    zones = phone_timezones.time_zones_for_number(phonenumbers.parse(e164, None))
    return zones[0] if zones and zones[0] != "Etc/Unknown" else None


def update_endpoint(
    apps: AppStore, endpoints: EndpointStore, clock: Clock, app_id: str, endpoint_id: str, request: dict
) -> None:
    if apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")
    if not endpoint_id or len(endpoint_id) > 128:
        raise BadRequest("endpoint-id must be 1 to 128 characters")
    existing = endpoints.get_endpoint(app_id, endpoint_id)
    endpoint = merge_endpoint(existing, request)
    channel = endpoint.get("ChannelType")
    address = endpoint.get("Address")
    if address is not None and channel in PHONE_CHANNELS:
        endpoint["Address"] = normalise_phone(address, "EndpointRequest.Address")
        if not endpoint.get("Demographic", {}).get("Timezone"):
            zone = estimated_timezone(endpoint["Address"])
            if zone:
                endpoint.setdefault("Demographic", {})["Timezone"] = zone
    elif address is not None and channel == "EMAIL" and not _EMAIL.match(address):
        raise BadRequest(f"Invalid email address in EndpointRequest.Address: {address!r}")
    _check_limits(endpoint)
    now = iso(clock.now())
    endpoint.update(
        {
            "Id": endpoint_id,
            "ApplicationId": app_id,
            "CohortId": str(zlib.crc32(endpoint_id.encode()) % 100),
            "CreationDate": (existing or {}).get("CreationDate", now),
            "EffectiveDate": request.get("EffectiveDate") or now,
        }
    )
    endpoint.setdefault("EndpointStatus", "ACTIVE")
    endpoint.setdefault("OptOut", "NONE")
    endpoints.put_endpoint(app_id, endpoint)


def merge_endpoint(existing: dict[str, Any] | None, request: dict[str, Any]) -> dict[str, Any]:
    merged = json.loads(json.dumps(existing)) if existing else {}
    for key, value in request.items():
        if key in _MERGED_MAPS and isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        elif key == "User" and isinstance(value, dict):
            user = merged.get("User", {})
            if "UserId" in value:
                user["UserId"] = value["UserId"]
            if "UserAttributes" in value:
                user["UserAttributes"] = {**user.get("UserAttributes", {}), **value["UserAttributes"]}
            merged["User"] = user
        else:
            merged[key] = value
    return merged


def _check_limits(endpoint: dict[str, Any]) -> None:
    count = len(endpoint.get("Attributes", {})) + len(endpoint.get("User", {}).get("UserAttributes", {}))
    if count > MAX_ATTRIBUTES:
        raise BadRequest(f"EndpointRequest has {count} attributes; the limit is {MAX_ATTRIBUTES}")
    size = len(json.dumps(endpoint, ensure_ascii=False).encode())
    if size > MAX_ENDPOINT_BYTES:
        raise BadRequest(f"EndpointRequest is {size} bytes; an endpoint may hold at most {MAX_ENDPOINT_BYTES}")


def get_endpoint(apps: AppStore, endpoints: EndpointStore, app_id: str, endpoint_id: str) -> dict[str, Any]:
    if apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")
    endpoint = endpoints.get_endpoint(app_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"Endpoint {endpoint_id} not found")
    return endpoint


def delete_endpoint(apps: AppStore, endpoints: EndpointStore, app_id: str, endpoint_id: str) -> dict[str, Any]:
    endpoint = get_endpoint(apps, endpoints, app_id, endpoint_id)
    endpoints.delete_endpoint(app_id, endpoint_id)
    return endpoint
