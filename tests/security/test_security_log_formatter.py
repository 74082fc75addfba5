"""Kizuna's logger masks phone numbers and e-mail addresses in every line it writes, whatever put them there.

Its log calls carry ids (message, consultation, job), never addresses — the local-mode capture in
test_security_log_masking.py shows it for a whole engagement. The formatter (kizuna.observability) is what keeps
that true for what a call site does not choose: the message of an exception in a traceback (Twilio's errors quote
the number), a field added later.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from kizuna.observability import MASK, logger, mask_personal_data


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What the function's log stream (CloudWatch) receives from Kizuna's logger."""
    buffer = io.StringIO()
    handler = logger.registered_handler
    saved = handler.setStream(buffer)
    saved_level = logger.log_level
    logger.setLevel("DEBUG")
    try:
        yield buffer
    finally:
        handler.setStream(saved)
        logger.setLevel(saved_level)


def _lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_an_exception_quoting_a_number_is_masked_in_the_traceback(written):
    try:
        raise RuntimeError("HTTP 400 error: Unable to create record: The 'To' number +15005550001 is not valid")
    except RuntimeError:
        logger.exception("delivery failed unexpectedly", message_id="m-123")
    (line,) = _lines(written)
    assert "+15005550001" not in json.dumps(line)
    assert MASK in line["exception"]
    assert line["message_id"] == "m-123" and line["message"] == "delivery failed unexpectedly"


@pytest.mark.parametrize(
    "value",
    [
        "+819012345678",
        "whatsapp:+819012345678",
        "+81 90-1234-5678",
        "+1 415 555 0100",
        "hanako.yamada@example.jp",
        "Hanako+news@Mail.Example.co.jp",
    ],
)
def test_fields_and_messages_holding_addresses_are_masked(written, value):
    logger.warning(f"reply from {value}", extra={"address": value, "nested": {"to": [value]}})
    text = written.getvalue()
    assert value not in text and value.split(":")[-1] not in text
    (line,) = _lines(written)
    assert line["address"].endswith(MASK) and line["nested"]["to"][0].endswith(MASK)


@pytest.mark.parametrize(
    "kept",
    [
        "2026-12-03T11:33:43.046+09:00",
        "2026-12-03 11:33:43,046+0000",
        "SM0123456789abcdef0123456789abcdef",
        "consultation 7f3c1e2a",
        "retry in 12345678 ms",
        "pi_O7rwidwrOKJAtO",
        "arn:aws:mobiletargeting:ap-northeast-1:123456789012:apps/abc",
    ],
)
def test_what_is_not_an_address_is_kept(kept):
    assert mask_personal_data(kept) == kept


def test_the_rendered_line_is_still_json_with_the_usual_keys(written):
    logger.info("journey changed meanwhile; not marked completed", extra={"journey_id": "j-1"})
    (line,) = _lines(written)
    assert {"level", "location", "message", "timestamp", "service", "journey_id"} <= set(line)
