"""Endpoints: where messages go. Addresses are normalised on the way in; partial updates merge as Pinpoint's do.

Every write (UpdateEndpoint, UpdateEndpointsBatch) goes through the same steps: validate and merge each endpoint,
check the per-user and per-app limits, register new attribute names with the app, then write. A request that
breaks any rule is refused before anything is written, with a BadRequest naming the field.

Limits are Pinpoint's endpoint quotas (docs.aws.amazon.com/pinpoint/latest/developerguide/quotas.html#quotas-endpoint)
and the field documentation in botocore's Pinpoint model (EndpointRequest.Attributes, EndpointStatus, OptOut).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from datetime import datetime
from fnmatch import fnmatchcase
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as phone_timezones

from kizuna.clock import Clock, iso
from kizuna.errors import BadRequest, NotFound, TooManyRequests
from kizuna.ports import AppStore, EndpointStore

if TYPE_CHECKING:
    from kizuna.services.erase_events import EventErasure

PHONE_CHANNELS = frozenset({"SMS", "VOICE", "WHATSAPP"})
MAX_ENDPOINT_ID_CHARS = 128
MAX_ATTRIBUTES = 250  # per endpoint, for each of Attributes, Metrics and User.UserAttributes
MAX_APP_ATTRIBUTES = 250  # per app: Attributes, Metrics and UserAttributes names together
MAX_ATTRIBUTE_NAME_CHARS = 50
MAX_ATTRIBUTE_VALUE_CHARS = 100
MAX_ATTRIBUTE_VALUES = 50
MAX_ENDPOINT_BYTES = 15 * 1024
MAX_ENDPOINTS_PER_USER = 15
MAX_BATCH_ITEMS = 100
MAX_UPDATE_ATTEMPTS = 10  # UpdateEndpoint's merges lost to concurrent writes of the same endpoint before a 429
ENDPOINT_STATUSES = ("ACTIVE", "INACTIVE")
OPT_OUT_VALUES = ("ALL", "NONE")
# RemoveAttributes' attribute-type → the registry kind it names.
ATTRIBUTE_TYPES = {
    "endpoint-custom-attributes": "custom",
    "endpoint-metric-attributes": "metric",
    "endpoint-user-attributes": "user",
}

# No e-mail library ships in the runtime dependencies, so: RFC 5321/5322 dot-atom local part (ASCII), a domain of
# LDH labels (IDNs are checked after IDNA encoding) with an alphabetic TLD, and the RFC 5321 length limits.
_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_EMAIL_DOMAIN = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$"
)
# Nested maps whose keys merge one by one on update (Pinpoint keeps keys the update does not mention).
_MERGED_MAPS = ("Attributes", "Metrics", "Demographic", "Location")


def normalise_phone(address: str, field: str) -> str:
    """E.164 or a BadRequest naming the field. Pinpoint requires the leading + and country code."""
    return parse_phone(address, field)[0]


def parse_phone(address: str, field: str) -> tuple[str, str | None]:
    """(E.164, ISO country) from one parse — the send path asks for both for every recipient."""
    try:
        number = phonenumbers.parse(address, None)
    except phonenumbers.NumberParseException as exc:
        raise BadRequest(f"Invalid phone number in {field}: {address!r} ({exc})") from None
    if not phonenumbers.is_possible_number(number):
        raise BadRequest(f"Invalid phone number in {field}: {address!r} is not a possible number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), phonenumbers.region_code_for_number(
        number
    )


def is_valid_email(address: str) -> bool:
    if len(address) > 254 or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    if not 1 <= len(local) <= 64 or not _EMAIL_LOCAL.match(local):
        return False
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return len(ascii_domain) <= 253 and bool(_EMAIL_DOMAIN.match(ascii_domain))


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_valid_timezone(name: str) -> bool:
    """An IANA zone name as zoneinfo knows them (system tz database or the tzdata package)."""
    known = _known_zones()
    if known:
        return name in known
    try:  # no listable database: ask zoneinfo directly (it refuses paths)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def estimated_timezone(e164: str) -> str | None:
    zones = phone_timezones.time_zones_for_number(phonenumbers.parse(e164, None))
    return zones[0] if zones and zones[0] != "Etc/Unknown" else None


# -- writes --------------------------------------------------------------------------------------------------------


def update_endpoint(
    apps: AppStore, endpoints: EndpointStore, clock: Clock, app_id: str, endpoint_id: str, request: dict
) -> None:
    """A partial update merges over the stored endpoint: read, merge, then write only if nothing else wrote the
    endpoint meanwhile (else merge again over what it wrote), so that two clients updating different fields of one
    endpoint at once both keep their change."""
    _require_app(apps, app_id)
    _check_endpoint_id(endpoint_id, "endpoint-id")
    for _ in range(MAX_UPDATE_ATTEMPTS):
        existing = endpoints.get_endpoint(app_id, endpoint_id)
        endpoint = prepare_endpoint(existing, request, endpoint_id, app_id, clock.now(), "EndpointRequest")
        _check_users(endpoints, app_id, {endpoint_id: (existing, endpoint)}, {endpoint_id: "EndpointRequest"})
        _register_attributes(apps, app_id, [endpoint], "EndpointRequest")
        if endpoints.replace_endpoint(app_id, endpoint, existing):
            return
    # boto3 retries a 429 by itself.
    raise TooManyRequests(f"Endpoint {endpoint_id} is being updated by other requests; retry")


def update_endpoints_batch(apps: AppStore, endpoints: EndpointStore, clock: Clock, app_id: str, request: dict) -> None:
    """Validate every item first; write all of them (BatchWriteItem) or, on any invalid item, none."""
    _require_app(apps, app_id)
    items = request.get("Item") or []
    if not 1 <= len(items) <= MAX_BATCH_ITEMS:
        raise BadRequest(f"EndpointBatchRequest.Item must hold 1 to {MAX_BATCH_ITEMS} endpoints; it holds {len(items)}")
    fields = [f"EndpointBatchRequest.Item[{i}]" for i in range(len(items))]
    ids = [item.get("Id") for item in items]
    for endpoint_id, field in zip(ids, fields, strict=True):
        _check_endpoint_id(endpoint_id, f"{field}.Id")
    existing = endpoints.get_endpoints(app_id, ids)
    now = clock.now()
    current: dict[str, dict[str, Any]] = dict(existing)
    field_of: dict[str, str] = {}
    for item, endpoint_id, field in zip(items, ids, fields, strict=True):
        body = {k: v for k, v in item.items() if k != "Id"}
        # An id listed twice merges in order, as two UpdateEndpoint calls would.
        current[endpoint_id] = prepare_endpoint(current.get(endpoint_id), body, endpoint_id, app_id, now, field)
        field_of.setdefault(endpoint_id, field)
    written = [current[e] for e in dict.fromkeys(ids)]
    _check_users(endpoints, app_id, {e["Id"]: (existing.get(e["Id"]), e) for e in written}, field_of)
    _register_attributes(apps, app_id, written, "EndpointBatchRequest")
    endpoints.put_endpoints(app_id, written)


def prepare_endpoint(
    existing: dict[str, Any] | None,
    request: dict[str, Any],
    endpoint_id: str,
    app_id: str,
    now: datetime,
    field: str,
) -> dict[str, Any]:
    """The endpoint as it will be stored: `request` validated, merged over `existing`, normalised, stamped."""
    _check_request(request, field)
    endpoint = merge_endpoint(existing, request)
    channel = endpoint.get("ChannelType")
    address = endpoint.get("Address")
    if address is not None and channel in PHONE_CHANNELS:
        endpoint["Address"] = normalise_phone(address, f"{field}.Address")
        if not endpoint.get("Demographic", {}).get("Timezone"):
            zone = estimated_timezone(endpoint["Address"])
            if zone:
                endpoint.setdefault("Demographic", {})["Timezone"] = zone
    elif address is not None and channel == "EMAIL" and not is_valid_email(address):
        raise BadRequest(f"Invalid email address in {field}.Address: {address!r}")
    _check_size(endpoint, field)
    stamp = iso(now)
    endpoint.update(
        {
            "Id": endpoint_id,
            "ApplicationId": app_id,
            "CohortId": str(zlib.crc32(endpoint_id.encode()) % 100),
            "CreationDate": (existing or {}).get("CreationDate", stamp),
            "EffectiveDate": request.get("EffectiveDate") or stamp,
        }
    )
    endpoint.setdefault("EndpointStatus", "ACTIVE")
    endpoint.setdefault("OptOut", "NONE")
    return endpoint


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


# -- rules ---------------------------------------------------------------------------------------------------------


def _require_app(apps: AppStore, app_id: str) -> None:
    if apps.get_app(app_id) is None:
        raise NotFound(f"Application {app_id} not found")


def _check_endpoint_id(endpoint_id: Any, field: str) -> None:
    if not isinstance(endpoint_id, str) or not 1 <= len(endpoint_id) <= MAX_ENDPOINT_ID_CHARS:
        raise BadRequest(f"{field} must be 1 to {MAX_ENDPOINT_ID_CHARS} characters")


def _check_request(request: dict[str, Any], field: str) -> None:
    """Rules on what the request sets (so the error names the request's field, not a stored one)."""
    for name, allowed in (("EndpointStatus", ENDPOINT_STATUSES), ("OptOut", OPT_OUT_VALUES)):
        value = request.get(name)
        if value is not None and value not in allowed:
            raise BadRequest(f"Invalid value {value!r} for {field}.{name}; valid values: {', '.join(allowed)}")
    zone = (request.get("Demographic") or {}).get("Timezone")
    if zone is not None and not is_valid_timezone(zone):
        raise BadRequest(f"Invalid value {zone!r} for {field}.Demographic.Timezone; use an IANA time zone name")
    _check_attributes(request.get("Attributes"), f"{field}.Attributes")
    _check_attributes((request.get("User") or {}).get("UserAttributes"), f"{field}.User.UserAttributes")
    metrics = request.get("Metrics") or {}
    _check_names(metrics, f"{field}.Metrics")


def _check_names(mapping: dict[str, Any], field: str) -> None:
    if len(mapping) > MAX_ATTRIBUTES:
        raise BadRequest(f"{field} has {len(mapping)} attributes; the limit is {MAX_ATTRIBUTES}")
    for name in mapping:
        if not 1 <= len(name) <= MAX_ATTRIBUTE_NAME_CHARS:
            raise BadRequest(f"{field}: attribute names must be 1 to {MAX_ATTRIBUTE_NAME_CHARS} characters: {name!r}")


def _check_attributes(attributes: dict[str, list[str]] | None, field: str) -> None:
    if not attributes:
        return
    _check_names(attributes, field)
    for name, values in attributes.items():
        if len(values) > MAX_ATTRIBUTE_VALUES:
            raise BadRequest(f"{field}.{name} has {len(values)} values; the limit is {MAX_ATTRIBUTE_VALUES}")
        for value in values:
            if len(value) > MAX_ATTRIBUTE_VALUE_CHARS:
                raise BadRequest(f"{field}.{name}: values may be at most {MAX_ATTRIBUTE_VALUE_CHARS} characters")


def _check_size(endpoint: dict[str, Any], field: str) -> None:
    size = len(json.dumps(endpoint, ensure_ascii=False).encode())
    if size > MAX_ENDPOINT_BYTES:
        raise BadRequest(f"{field} makes the endpoint {size} bytes; an endpoint may hold at most {MAX_ENDPOINT_BYTES}")


def _user_id(endpoint: dict[str, Any] | None) -> str | None:
    return ((endpoint or {}).get("User") or {}).get("UserId") or None


def _check_users(
    endpoints: EndpointStore,
    app_id: str,
    changes: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]],
    field_of: dict[str, str],
) -> None:
    """At most MAX_ENDPOINTS_PER_USER endpoints per user id once `changes` (id → (before, after)) are written.

    Pinpoint evicts the oldest push endpoint for push channels instead; Kizuna refuses for every channel.
    The by_user index is eventually consistent, so two racing writers may each see 15 and both succeed.
    """
    for user in {u for _, after in changes.values() if (u := _user_id(after))}:
        current = {e["Id"] for e in endpoints.user_endpoints(app_id, user)}
        joining = [i for i, (_, after) in changes.items() if _user_id(after) == user]
        leaving = {i for i, (_, after) in changes.items() if _user_id(after) != user}
        staying = current - leaving
        added = [i for i in joining if i not in current]
        total = len(staying) + len(added)
        if total > MAX_ENDPOINTS_PER_USER and added:
            over = added[max(0, MAX_ENDPOINTS_PER_USER - len(staying))]  # the item that crosses the limit
            raise BadRequest(
                f"{field_of[over]}.User.UserId: the user would have {total} endpoints; "
                f"a user may have at most {MAX_ENDPOINTS_PER_USER}"
            )


def attribute_names(endpoint: dict[str, Any]) -> dict[str, set[str]]:
    return {
        "custom": set(endpoint.get("Attributes") or {}),
        "metric": set(endpoint.get("Metrics") or {}),
        "user": set((endpoint.get("User") or {}).get("UserAttributes") or {}),
    }


def _register_attributes(apps: AppStore, app_id: str, written: Sequence[dict[str, Any]], field: str) -> None:
    """Keep the app's attribute registry (what RemoveAttributes edits) in step, within MAX_APP_ATTRIBUTES."""
    names: dict[str, set[str]] = {kind: set() for kind in ATTRIBUTE_TYPES.values()}
    for endpoint in written:
        for kind, found in attribute_names(endpoint).items():
            names[kind] |= found
    registry = apps.get_attribute_registry(app_id)
    new = {kind: found - registry.get(kind, set()) for kind, found in names.items()}
    if not any(new.values()):
        return
    total = sum(len(n) for n in registry.values()) + sum(len(n) for n in new.values())
    if total > MAX_APP_ATTRIBUTES:
        raise BadRequest(
            f"{field} would give the application {total} attribute names (custom, metric and user attributes "
            f"together); the limit is {MAX_APP_ATTRIBUTES}. Remove unused ones with RemoveAttributes"
        )
    apps.register_attributes(app_id, {kind: n for kind, n in new.items() if n})


# -- reads, deletes, the attribute registry ------------------------------------------------------------------------


def get_endpoint(apps: AppStore, endpoints: EndpointStore, app_id: str, endpoint_id: str) -> dict[str, Any]:
    _require_app(apps, app_id)
    endpoint = endpoints.get_endpoint(app_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"Endpoint {endpoint_id} not found")
    return endpoint


def delete_endpoint(
    apps: AppStore, endpoints: EndpointStore, app_id: str, endpoint_id: str, events: EventErasure | None = None
) -> dict[str, Any]:
    """Delete the endpoint, after queueing the erasure of its events (id and address) from the event stream and the
    ledger (kizuna.services.erase_events), so a failed request retried still finds the endpoint."""
    endpoint = get_endpoint(apps, endpoints, app_id, endpoint_id)
    if events is not None:
        events.start(app_id, [endpoint])
    endpoints.delete_endpoint(app_id, endpoint_id)
    return endpoint


def remove_attributes(apps: AppStore, app_id: str, attribute_type: str, request: dict | None) -> dict[str, Any]:
    """RemoveAttributes: drop names (exact or glob) from the app's attribute registry; returns what remains.

    As in Pinpoint, endpoints keep their values: the registry is the app-level list (the console's attribute
    pickers, the per-app limit). A later endpoint write that uses a removed name registers it again.
    """
    _require_app(apps, app_id)
    kind = ATTRIBUTE_TYPES.get(attribute_type)
    if kind is None:
        raise BadRequest(f"Invalid attribute-type {attribute_type!r}; valid values: {', '.join(ATTRIBUTE_TYPES)}")
    patterns = (request or {}).get("Blacklist") or []
    if not patterns:
        raise BadRequest("UpdateAttributesRequest.Blacklist must name at least one attribute or glob pattern")
    registered = apps.get_attribute_registry(app_id).get(kind, set())
    removed = {name for name in registered if any(fnmatchcase(name, p) for p in patterns)}
    apps.unregister_attributes(app_id, kind, removed)
    return {"ApplicationId": app_id, "AttributeType": attribute_type, "Attributes": sorted(registered - removed)}
