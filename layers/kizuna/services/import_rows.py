"""Endpoint definition files: cutting an object into line-aligned pieces, and parsing a piece's rows.

Formats are Pinpoint's (docs.aws.amazon.com/pinpoint/latest/developerguide/audience-define-import.html): CSV with a
header of dotted EndpointRequest paths (ChannelType, Address, Location.Country, User.UserAttributes.x ...), or
newline-delimited JSON, one EndpointRequest per line with its Id (what an export writes, so OptOut round-trips).
Both UTF-8, with or without a byte-order mark.

Rows are numbered from 1 within their object, counting every record after the CSV header (blank ones too), so
"row N" is line N + 1 of a CSV file and line N of a JSON file when no field holds a line break.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

BOM = b"\xef\xbb\xbf"

# EndpointRequest members an import may set (botocore model); Id is the endpoint's id.
_SCALARS = ("Id", "ChannelType", "Address", "EffectiveDate", "EndpointStatus", "OptOut", "RequestId")
# What an export writes beyond EndpointRequest: read back, then replaced by the importing app's values.
_EXPORT_ONLY = ("ApplicationId", "CohortId", "CreationDate")
_DEMOGRAPHIC = ("AppVersion", "Locale", "Make", "Model", "ModelVersion", "Platform", "PlatformVersion", "Timezone")
_LOCATION = ("City", "Country", "Latitude", "Longitude", "PostalCode", "Region")


class HeaderError(ValueError):
    """The CSV header names something that is not an endpoint field: no row of the object can be read."""


@dataclass(frozen=True)
class Span:
    """A piece of an object: bytes start..end inclusive, whose first record is data row `first_row`."""

    start: int
    end: int
    first_row: int


@dataclass(frozen=True)
class Plan:
    header: str | None  # the CSV header line (decoded, BOM and line break removed)
    spans: list[Span]


# -- planning ------------------------------------------------------------------------------------------------------


def plan_spans(chunks: Iterable[bytes], csv_format: bool, max_bytes: int, max_rows: int) -> Plan:
    """Stream an object once and cut it at record boundaries every `max_bytes` bytes or `max_rows` rows.

    A CSV record ends at a line break outside double quotes (a quoted field may hold line breaks); the first record
    of a CSV object is its header, carried in the plan rather than in a span. A byte-order mark stays in the first
    span (or the header), where the parser drops it.
    """
    offset = 0  # absolute position of the current chunk
    quotes_open = False
    in_header = csv_format
    header = bytearray()
    piece_start = 0
    first_row = 1
    rows = 0
    spans: list[Span] = []
    for chunk in chunks:
        position = 0
        while True:
            newline = chunk.find(b"\n", position)
            stop = len(chunk) if newline < 0 else newline
            if csv_format and chunk.count(b'"', position, stop) % 2:
                quotes_open = not quotes_open
            if in_header:
                header += chunk[position : stop if newline < 0 else newline + 1]
            if newline < 0:
                break
            position = newline + 1
            if quotes_open:
                continue
            boundary = offset + newline  # absolute index of the record's line break
            if in_header:
                in_header = False
                piece_start = boundary + 1
                continue
            rows += 1
            if boundary + 1 - piece_start >= max_bytes or rows >= max_rows:
                spans.append(Span(piece_start, boundary, first_row))
                first_row += rows
                rows = 0
                piece_start = boundary + 1
        offset += len(chunk)
    if offset > piece_start and not in_header:
        spans.append(Span(piece_start, offset - 1, first_row))
    if not csv_format:
        return Plan(None, spans)
    text = bytes(header).decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    return Plan(text if header else None, spans if header else [])


# -- parsing -------------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _User(_Strict):
    UserId: str | None = None
    UserAttributes: dict[str, list[str]] | None = None


class _Demographic(_Strict):
    AppVersion: str | None = None
    Locale: str | None = None
    Make: str | None = None
    Model: str | None = None
    ModelVersion: str | None = None
    Platform: str | None = None
    PlatformVersion: str | None = None
    Timezone: str | None = None


class _Location(_Strict):
    City: str | None = None
    Country: str | None = None
    Latitude: float | None = None
    Longitude: float | None = None
    PostalCode: str | None = None
    Region: str | None = None


class EndpointRow(_Strict):
    """One row as an EndpointRequest plus its Id; types checked, unknown fields refused."""

    Id: str | None = None
    ChannelType: str | None = None
    Address: str | None = None
    EffectiveDate: str | None = None
    EndpointStatus: str | None = None
    OptOut: str | None = None
    RequestId: str | None = None
    Attributes: dict[str, list[str]] | None = None
    Metrics: dict[str, float] | None = None
    Demographic: _Demographic | None = None
    Location: _Location | None = None
    User: _User | None = None


@dataclass(frozen=True)
class Row:
    number: int
    request: dict[str, Any] | None  # the EndpointRequest with Id, or None when the row is bad
    error: str = ""


def parse_rows(data: bytes, csv_format: bool, header: str | None, first_row: int) -> Iterator[Row]:
    """Every record of a piece, numbered; blank records are skipped (but keep their numbers)."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    # surrogateescape keeps undecodable bytes visible per row instead of failing the whole piece.
    text = data.decode("utf-8", errors="surrogateescape")
    records = _csv_records(text, header or "") if csv_format else _json_records(text)
    for number, record in enumerate(records, start=first_row):
        if record is None:
            continue
        if isinstance(record, str):
            yield Row(number, None, record)
            continue
        yield _validated(number, record)


def _json_records(text: str) -> Iterator[dict[str, Any] | str | None]:
    for line in text.split("\n"):
        if not line.strip():
            yield None
            continue
        if _has_bad_bytes(line):
            yield "not valid UTF-8"
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        if not isinstance(value, dict):
            yield "a JSON line must hold one endpoint object"
            continue
        yield {k: v for k, v in value.items() if k not in _EXPORT_ONLY}


def csv_columns(header: str) -> list[tuple[str, ...]]:
    """The header's dotted paths, checked against EndpointRequest; HeaderError names the first unknown column."""
    names = next(csv.reader([header.lstrip("\ufeff")]), [])
    if not names:
        raise HeaderError("the CSV header is empty")
    paths = [_column_path(name.strip()) for name in names]
    seen = [p for p in paths]
    if len(set(seen)) != len(seen):
        raise HeaderError("the CSV header names a column twice")
    return paths


def _column_path(name: str) -> tuple[str, ...]:
    head, _, rest = name.partition(".")
    if head in _SCALARS and not rest:
        return (head,)
    if head in ("Attributes", "Metrics") and rest:
        return (head, rest)
    if head == "Demographic" and rest in _DEMOGRAPHIC:
        return (head, rest)
    if head == "Location" and rest in _LOCATION:
        return (head, rest)
    if head == "User" and rest == "UserId":
        return ("User", "UserId")
    if head == "User" and rest.startswith("UserAttributes.") and len(rest) > len("UserAttributes."):
        return ("User", "UserAttributes", rest[len("UserAttributes.") :])
    raise HeaderError(f"unknown column {name!r} in the CSV header (use EndpointRequest paths such as Location.Country)")


def _csv_records(text: str, header: str) -> Iterator[dict[str, Any] | str | None]:
    paths = csv_columns(header)
    for cells in csv.reader(io.StringIO(text, newline="")):
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            yield None
            continue
        if len(cells) != len(paths):
            yield f"{len(cells)} values for {len(paths)} header columns"
            continue
        if any(_has_bad_bytes(cell) for cell in cells):
            yield "not valid UTF-8"
            continue
        record: dict[str, Any] = {}
        for path, cell in zip(paths, cells, strict=True):
            if cell == "":
                continue
            target = record
            for part in path[:-1]:
                target = target.setdefault(part, {})
            is_list = path[0] == "Attributes" or path[:2] == ("User", "UserAttributes")
            target[path[-1]] = [cell] if is_list else cell
        yield record


def _validated(number: int, record: dict[str, Any]) -> Row:
    try:
        row = EndpointRow.model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "row"
        return Row(number, None, f"{where}: {first['msg']}")
    return Row(number, row.model_dump(exclude_none=True))


def _has_bad_bytes(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)
