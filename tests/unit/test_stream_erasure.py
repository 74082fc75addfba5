"""Erasing a person from event-stream lines (kizuna.domain.stream_erasure) and the identifier filter that narrows
which objects an erasure reads (kizuna.domain.identifier_filter)."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.domain.analytics_events import StreamEvent
from kizuna.domain.identifier_filter import FALSE_POSITIVE_RATE, IdentifierFilter
from kizuna.domain.stream_erasure import (
    ERASED_MARK,
    erasure_identifiers,
    fingerprint,
    fingerprints_of,
    identifiers_of,
    scrub_lines,
)
from kizuna.services.event_stream import pinpoint_event, status_event
from kizuna.services.ingest_events import stream_event

APP = "app1"
PHONE = "+819012345678"


def _line(event: dict) -> bytes:
    return (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _sms_status(endpoint_id: str, to: str) -> dict:
    from datetime import UTC, datetime

    from kizuna.domain.messages import DeliveryRecord

    record = DeliveryRecord(
        message_id=f"m-{endpoint_id}", app_id=APP, status="delivered", to=to, channel="SMS",
        endpoint_id=endpoint_id, segments=1, country="JP", attribution={"campaign_id": "c1"},
    )  # fmt: skip
    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    return status_event(record, "delivered", None, now, now)


def _custom(endpoint_id: str, nickname: str, user_id: str = "u-1", address: str = PHONE) -> dict:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    event = {"EventType": "viewed", "Timestamp": now.isoformat(), "Attributes": {"nickname": nickname}}
    endpoint = {"Address": address, "User": {"UserId": user_id}, "Demographic": {"Model": "Pixel"}}
    return stream_event(APP, endpoint_id, f"ev-{endpoint_id}", event, endpoint, now, "f")


def _reply(sender: str, body: str) -> dict:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    attributes = {"message_id": "SM1", "origination_number": f"whatsapp:{sender}", "message_body": body}
    return pinpoint_event("_WHATSAPP.RECEIVED", APP, now, now, attributes, ident=str(uuid.uuid4()))


def test_a_fingerprint_is_scoped_to_its_app_and_hides_the_identifier():
    assert fingerprint(APP, PHONE) == fingerprint(APP, PHONE)
    assert fingerprint(APP, PHONE) != fingerprint("app2", PHONE)
    assert PHONE[1:] not in fingerprint(APP, PHONE) and len(fingerprint(APP, PHONE)) == 32


def test_a_line_names_its_endpoint_its_addresses_and_the_endpoint_document():
    assert identifiers_of(_sms_status("ep1", PHONE)) == {"ep1", PHONE}
    assert identifiers_of(_custom("ep1", "x", user_id="u-9")) == {"ep1", PHONE, "u-9"}
    assert identifiers_of(_reply(PHONE, "hi")) == {PHONE}  # whatsapp: prefix dropped, no endpoint on a reply
    opt_out = pinpoint_event("_SMS.OPTOUT", APP, *[_now()] * 2, {"origination_number": PHONE, "endpoint_ids": "a,b"})
    assert identifiers_of(opt_out) == {PHONE, "a", "b"}


def _now():  # noqa: ANN202
    from datetime import UTC, datetime

    return datetime(2026, 11, 20, 9, tzinfo=UTC)


def test_scrubbing_changes_only_the_lines_that_name_an_erased_identifier():
    kept = [_line(_sms_status("keep", "+819000000002")), _line(_custom("keep", "のこる", "u-2", "+819000000002"))]
    erased = [_line(_sms_status("gone", PHONE)), _line(_custom("gone", "はなちゃん")), _line(_reply(PHONE, "消して"))]
    data = b"".join([kept[0], erased[0], kept[1], erased[1], erased[2]])
    targets = {fingerprint(APP, i) for i in erasure_identifiers([{"Id": "gone", "Address": PHONE}], "u-1")}

    result = scrub_lines(data, targets)

    lines = result.body.splitlines(keepends=True)
    assert (lines[0], lines[2]) == (kept[0], kept[1])  # byte for byte
    assert result.scrubbed == 3 and result.lines == 5
    text = result.body.decode()
    for needle in (PHONE, PHONE[1:], "はなちゃん", "消して", '"gone"', "ev-gone", '"u-1"'):
        assert needle not in text, needle
    assert b"Pixel" in lines[2] and b"Pixel" not in lines[3]  # the device of the erased app event goes
    scrubbed = [json.loads(lines[i]) for i in (1, 3, 4)]
    for event in scrubbed:
        StreamEvent.model_validate(event)  # still Pinpoint's event-stream shape
        assert event["attributes"][ERASED_MARK] == "true" and event["client"]["client_id"] == ""
    status, custom, reply = scrubbed
    assert status["event_type"] == "_SMS.SUCCESS" and status["attributes"]["iso_country_code"] == "JP"
    assert status["attributes"]["campaign_id"] == "c1" and status["metrics"] == {"message_parts": 1.0}
    assert custom["event_type"] == "viewed" and custom["event_id"].startswith("erased-")
    assert "endpoint" not in custom and custom["attributes"] == {ERASED_MARK: "true"}
    assert reply["attributes"]["message_id"] == "SM1"
    # the ledger items of the scrubbed events, by their original keys
    assert (APP, "gone", "ev-gone") in result.events


def test_scrubbing_is_idempotent_and_leaves_other_endpoints_in_an_opt_out_list():
    opt_out = pinpoint_event(
        "_SMS.OPTOUT", APP, _now(), _now(), {"origination_number": PHONE, "endpoint_ids": "gone,x"}
    )
    targets = {fingerprint(APP, "gone"), fingerprint(APP, PHONE)}
    once = scrub_lines(_line(opt_out) + _line(_sms_status("keep", "+819000000002")), targets)
    assert json.loads(once.body.splitlines()[0])["attributes"]["endpoint_ids"] == "x"
    twice = scrub_lines(once.body, targets)
    assert twice.scrubbed == 0 and twice.body == once.body


def test_lines_that_are_not_json_are_kept_as_they_are():
    data = b'not json\n{"a": 1}\n\n' + _line(_sms_status("gone", PHONE))
    result = scrub_lines(data, {fingerprint(APP, "gone")})
    assert result.body.startswith(b'not json\n{"a": 1}\n\n') and result.scrubbed == 1


def test_the_fingerprints_of_a_line_are_those_of_its_identifiers():
    event = _sms_status("ep1", PHONE)
    assert fingerprints_of(event) == {fingerprint(APP, "ep1"), fingerprint(APP, PHONE)}


# -- the identifier filter ------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(st.sets(st.text(min_size=1, max_size=20), min_size=0, max_size=300))
def test_the_filter_never_says_no_to_an_identifier_it_holds(identifiers):
    fps = {fingerprint(APP, i) for i in identifiers}
    restored = IdentifierFilter.from_bytes(IdentifierFilter.of(fps).to_bytes())
    assert all(restored.might_hold(fp) for fp in fps)


def test_the_filter_says_maybe_to_strangers_about_as_often_as_it_was_sized_for():
    held = {fingerprint(APP, f"ep-{i}") for i in range(2000)}
    strangers = [fingerprint(APP, f"other-{i}") for i in range(20000)]
    loose = IdentifierFilter.of(held, rate=0.01)  # a rate the sample can measure
    rate = sum(loose.might_hold(fp) for fp in strangers) / len(strangers)
    assert rate < 0.02  # 1% ± sampling noise; a broken filter says maybe far more often
    assert len(loose.to_bytes()) < 1.3 * len(held)  # ~1.2 bytes an identifier at 1%
    default = IdentifierFilter.of(held)
    assert sum(default.might_hold(fp) for fp in strangers) <= 20000 * FALSE_POSITIVE_RATE * 3
    assert len(default.to_bytes()) < 2.6 * len(held)  # ~2.4 bytes an identifier at 0.01%


def test_a_corrupt_filter_is_refused():
    blob = IdentifierFilter.of({fingerprint(APP, "a")}).to_bytes()
    with pytest.raises(ValueError):
        IdentifierFilter.from_bytes(blob[:-1])
    with pytest.raises(ValueError):
        IdentifierFilter.from_bytes(b"\x00")
