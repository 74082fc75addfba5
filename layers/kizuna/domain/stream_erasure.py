"""Erasing a person from event-stream lines: which identifiers a line names, their fingerprints, and the scrubbed
form of a line that names an erased one.

Erasure works on fingerprints, never on the identifiers themselves: the erasure job, its queue messages and the
tombstones hold `fingerprint(app, identifier)` (a 128-bit BLAKE2b keyed with the app id) of each erased endpoint
id, address and user id, so none of them stores an address in readable form. A line is erased when any identifier
it names — the endpoint (`client.client_id`), a destination or origination address, an opt-out's endpoint list, the
endpoint document PutEvents carried — has an erased fingerprint.

A scrubbed line keeps what the aggregates were counted from and holds no personal data: its type, times, message
id, status, campaign and journey attribution, country and metrics stay; the endpoint id becomes "", addresses,
message bodies, failure texts and the endpoint document go; an app event (custom, session) loses its attributes,
device and session, and its app-chosen event id is replaced by a hash of it. Lines that do not match are kept
byte for byte. Scrubbing is idempotent: a scrubbed line names no erased identifier any more.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from kizuna.domain.analytics_events import is_app_event

FINGERPRINT_BYTES = 16
# Attributes of system events that hold an address or what a person wrote.
PERSONAL_ATTRIBUTES = (
    "destination_phone_number",
    "destination_email",
    "origination_number",
    "message_body",
    "failure_reason",  # providers quote the number in some failure texts
)
ADDRESS_ATTRIBUTES = ("destination_phone_number", "destination_email", "origination_number")
ENDPOINT_LIST_ATTRIBUTE = "endpoint_ids"  # opt-out / opt-in events name every endpoint of the number
ERASED_MARK = "kizuna_erased"  # attribute of a scrubbed line, so an analyst sees why it is anonymous


def fingerprint(app_id: str, identifier: str) -> str:
    key = f"kizuna-erasure:{app_id}".encode()[:64]
    return hashlib.blake2b(identifier.encode(), key=key, digest_size=FINGERPRINT_BYTES).hexdigest()


def erasure_identifiers(
    endpoints: Iterable[dict[str, Any]], user_id: str | None = None, addresses: Iterable[str] = ()
) -> set[str]:
    """What an erased user (or endpoint) is known by in the stream: endpoint ids, addresses, and the user id when the
    whole user goes (an endpoint deleted alone leaves its user's other endpoints, whose lines name the user too)."""
    found: set[str] = {user_id} if user_id else set()
    found.update(_address(a) for a in addresses)
    for endpoint in endpoints:
        found.add(endpoint["Id"])
        if endpoint.get("Address"):
            found.add(_address(endpoint["Address"]))
    return found


def identifiers_of(event: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    client_id = (event.get("client") or {}).get("client_id")
    if client_id:
        found.add(client_id)
    attributes = event.get("attributes") or {}
    for name in ADDRESS_ATTRIBUTES:
        if attributes.get(name):
            found.add(_address(attributes[name]))
    found.update(i for i in (attributes.get(ENDPOINT_LIST_ATTRIBUTE) or "").split(",") if i)
    endpoint = event.get("endpoint") or {}
    if isinstance(endpoint, dict):
        if endpoint.get("Address"):
            found.add(_address(str(endpoint["Address"])))
        user = endpoint.get("User") or {}
        if isinstance(user, dict) and user.get("UserId"):
            found.add(str(user["UserId"]))
    return found


def app_of(event: dict[str, Any]) -> str:
    return str((event.get("application") or {}).get("app_id") or "")


def fingerprints_of(event: dict[str, Any]) -> set[str]:
    app_id = app_of(event)
    return {fingerprint(app_id, i) for i in identifiers_of(event)}


def scrub_event(event: dict[str, Any], erased: Set[str]) -> dict[str, Any]:
    """The event without the personal data of the erased fingerprints (see the module docstring)."""
    app_id = app_of(event)
    attributes = dict(event.get("attributes") or {})
    scrubbed = {k: v for k, v in event.items() if k != "endpoint"}
    scrubbed["client"] = {**(event.get("client") or {}), "client_id": ""}
    if is_app_event(str(event.get("event_type") or "")):
        ident = str(event.get("event_id") or "")
        if ident:
            scrubbed["event_id"] = "erased-" + hashlib.sha256(f"{app_id}|{ident}".encode()).hexdigest()[:32]
        scrubbed["device"] = {"platform": {}}
        scrubbed["session"] = {}
        attributes = {}
    else:
        country = _country(attributes.get("destination_phone_number"))
        if country and "iso_country_code" not in attributes:
            attributes["iso_country_code"] = country
        for name in PERSONAL_ATTRIBUTES:
            attributes.pop(name, None)
        if ENDPOINT_LIST_ATTRIBUTE in attributes:
            kept = [
                i for i in attributes[ENDPOINT_LIST_ATTRIBUTE].split(",") if i and fingerprint(app_id, i) not in erased
            ]
            attributes[ENDPOINT_LIST_ATTRIBUTE] = ",".join(kept)
    attributes[ERASED_MARK] = "true"
    scrubbed["attributes"] = attributes
    return scrubbed


@dataclass
class ScrubbedObject:
    body: bytes  # the object as it should be stored (unchanged lines byte for byte)
    lines: int = 0
    scrubbed: int = 0
    # (app id, endpoint id, event id) of each scrubbed event: the ledger items to scrub too
    events: list[tuple[str, str, str]] = field(default_factory=list)


def scrub_lines(data: bytes, erased: Set[str]) -> ScrubbedObject:
    """Every line of an event object, scrubbed where it names an erased fingerprint. Lines that are not JSON are
    kept: nothing that Kizuna writes is, and guessing at them could destroy what is not ours to judge."""
    out: list[bytes] = []
    result = ScrubbedObject(b"")
    for line in data.splitlines(keepends=True):
        if not line.strip():
            out.append(line)
            continue
        result.lines += 1
        event = _parse(line)
        if event is None or not (fingerprints_of(event) & erased):
            out.append(line)
            continue
        result.scrubbed += 1
        client_id = str((event.get("client") or {}).get("client_id") or "")
        result.events.append((app_of(event), client_id, str(event.get("event_id") or "")))
        ending = b"\n" if line.endswith(b"\n") else b""
        out.append(json.dumps(scrub_event(event, erased), ensure_ascii=False, separators=(",", ":")).encode() + ending)
    result.body = b"".join(out)
    return result


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _address(address: str) -> str:
    address = address.removeprefix("whatsapp:").strip()
    return address.lower() if "@" in address else address  # e-mail addresses compare without case


def _country(number: str | None) -> str | None:
    if not number or not number.startswith(("+", "whatsapp:+")):
        return None
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(_address(number), None)) or None
    except phonenumbers.NumberParseException:
        return None
