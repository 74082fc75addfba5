"""SMS segment counting: GSM-7 (160 single / 153 per concatenated part) or UCS-2 (70 / 67).

A body is GSM-7 when every character is in the GSM 03.38 basic table or its extension table; extension-table
characters (``^ { } [ ] ~ | € \\``, form feed) cost two septets (escape + character). Any other character makes the
whole message UCS-2, where length is counted in UTF-16 code units (characters outside the BMP, e.g. most emoji,
take two). When a message is split, an escape sequence or a surrogate pair is never cut across two parts, which is
why the counting walks the text instead of dividing a length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_BODY_CHARACTERS = 1600  # Twilio's limit on the concatenated body (error 21617)

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SegmentCount:
    encoding: Encoding
    segments: int
    characters: int  # code points in the body
    units: int = 0  # septets (GSM-7) or UTF-16 code units (UCS-2)


def is_gsm7(body: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body)


def _unit_cost(ch: str, gsm: bool) -> int:
    if gsm:
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def count_segments(body: str) -> SegmentCount:
    """How many SMS segments `body` needs. An empty body still counts as one segment."""
    gsm = is_gsm7(body)
    single, part = (GSM7_SINGLE, GSM7_PART) if gsm else (UCS2_SINGLE, UCS2_PART)
    costs = [_unit_cost(ch, gsm) for ch in body]
    units = sum(costs)
    encoding: Encoding = "GSM-7" if gsm else "UCS-2"
    if units <= single:
        return SegmentCount(encoding, 1, len(body), units)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:  # never split an escape sequence or a surrogate pair
            segments += 1
            used = 0
        used += cost
    return SegmentCount(encoding, segments, len(body), units)
