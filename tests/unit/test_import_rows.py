"""Endpoint definition files: CSV dotted columns, JSON lines, BOM, Japanese text, bad rows, and line-aligned pieces."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.services.import_rows import BOM, HeaderError, parse_rows, plan_spans

CSV_HEADER = (
    "ChannelType,Address,Id,Attributes.Color,User.UserId,User.UserAttributes.Name,Demographic.Timezone,"
    "Location.Country,Metrics.Score,OptOut"
)


def rows_of(data: bytes, csv_format: bool = True):
    plan = plan_spans([data], csv_format, max_bytes=1 << 20, max_rows=5000)
    found = []
    for span in plan.spans:
        found += parse_rows(data[span.start : span.end + 1], csv_format, plan.header, span.first_row)
    return found


def test_csv_dotted_columns_become_nested_endpoint_fields():
    data = (CSV_HEADER + "\nSMS,+81 90 1234 5678,ep-1,青,u-1,山田太郎,Asia/Tokyo,JP,4.5,ALL\n").encode()

    [row] = rows_of(data)

    assert row.number == 1 and row.error == ""
    assert row.request == {
        "ChannelType": "SMS",
        "Address": "+81 90 1234 5678",
        "Id": "ep-1",
        "Attributes": {"Color": ["青"]},
        "User": {"UserId": "u-1", "UserAttributes": {"Name": ["山田太郎"]}},
        "Demographic": {"Timezone": "Asia/Tokyo"},
        "Location": {"Country": "JP"},
        "Metrics": {"Score": 4.5},
        "OptOut": "ALL",
    }


def test_csv_with_bom_and_crlf_reads_the_header():
    data = BOM + b"ChannelType,Address\r\nEMAIL,a@example.com\r\nEMAIL,b@example.com\r\n"

    rows = rows_of(data)

    assert [r.request for r in rows] == [
        {"ChannelType": "EMAIL", "Address": "a@example.com"},
        {"ChannelType": "EMAIL", "Address": "b@example.com"},
    ]


def test_csv_empty_cells_are_left_out_and_quoted_line_breaks_stay_in_one_row():
    data = b'ChannelType,Address,Attributes.Note\nEMAIL,a@example.com,\nEMAIL,b@example.com,"two\nlines"\n'

    rows = rows_of(data)

    assert rows[0].request == {"ChannelType": "EMAIL", "Address": "a@example.com"}
    assert rows[1].request["Attributes"] == {"Note": ["two\nlines"]}
    assert [r.number for r in rows] == [1, 2]


def test_bad_rows_fail_alone_with_their_number():
    data = (
        b"ChannelType,Address,Metrics.Score\n"
        b"SMS,+15005550006,1\nSMS,+15005550007\nSMS,+15005550008,lots\n\xff\xfe,x,1\n"
    )

    rows = rows_of(data)

    assert [(r.number, bool(r.request)) for r in rows] == [(1, True), (2, False), (3, False), (4, False)]
    assert rows[1].error == "2 values for 3 header columns"
    assert rows[2].error.startswith("Metrics.Score:")
    assert rows[3].error == "not valid UTF-8"


def test_unknown_csv_column_is_a_header_error():
    plan = plan_spans([b"ChannelType,Adress\nSMS,+15005550006\n"], True, 1 << 20, 5000)

    with pytest.raises(HeaderError, match="Adress"):
        list(parse_rows(b"SMS,+15005550006\n", True, plan.header, 1))


def test_json_lines_keep_export_fields_that_an_import_can_set():
    exported = {
        "Id": "ep-1",
        "ApplicationId": "other-app",
        "CohortId": "12",
        "CreationDate": "2026-01-01T00:00:00.000Z",
        "ChannelType": "SMS",
        "Address": "+819012345678",
        "OptOut": "ALL",
        "EndpointStatus": "INACTIVE",
        "User": {"UserId": "u-1", "UserAttributes": {"名前": ["花子"]}},
    }
    data = BOM + (json.dumps(exported, ensure_ascii=False) + "\n\nnot json\n[1]\n").encode()

    rows = rows_of(data, csv_format=False)

    assert rows[0].request == {
        k: v for k, v in exported.items() if k not in ("ApplicationId", "CohortId", "CreationDate")
    }
    assert [r.number for r in rows] == [1, 3, 4]  # the blank line keeps its number
    assert rows[1].error.startswith("not valid JSON")
    assert rows[2].error == "a JSON line must hold one endpoint object"


def test_json_unknown_fields_and_wrong_types_are_row_errors():
    data = b'{"Id":"a","Colour":"red"}\n{"Id":"b","Attributes":{"x":"not-a-list"}}\n'

    rows = rows_of(data, csv_format=False)

    assert rows[0].error.startswith("Colour:")
    assert rows[1].error.startswith("Attributes.x:")


def test_pieces_cut_at_the_row_limit():
    data = b"ChannelType,Address\n" + b"".join(b"EMAIL,u%d@example.com\n" % i for i in range(10))

    plan = plan_spans([data], True, max_bytes=1 << 20, max_rows=4)

    assert [s.first_row for s in plan.spans] == [1, 5, 9]
    assert all(data[s.end : s.end + 1] == b"\n" for s in plan.spans)


def test_header_only_or_empty_objects_have_no_pieces():
    assert plan_spans([b"ChannelType,Address\n"], True, 100, 10).spans == []
    assert plan_spans([b""], False, 100, 10).spans == []


lines = st.lists(
    st.text(alphabet=st.sampled_from('ab,"日\r'), max_size=40).map(lambda s: s.replace('"', "")),
    min_size=0,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(
    body=lines,
    csv_format=st.booleans(),
    trailing_newline=st.booleans(),
    chunk=st.integers(1, 64),
    max_bytes=st.integers(1, 200),
    max_rows=st.integers(1, 20),
)
def test_pieces_cover_every_row_exactly_once(body, csv_format, trailing_newline, chunk, max_bytes, max_rows):
    """Whatever the line lengths, chunking and limits: pieces are contiguous, line-aligned, numbered right."""
    text = ("H\n" if csv_format else "") + "\n".join(body) + ("\n" if trailing_newline and body else "")
    data = text.encode()
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]

    plan = plan_spans(chunks, csv_format, max_bytes, max_rows)

    start = len(b"H\n") if csv_format else 0
    pieces = [data[s.start : s.end + 1] for s in plan.spans]
    assert b"".join(pieces) == data[start:]  # nothing lost, nothing twice
    records = 0
    for i, (span, piece) in enumerate(zip(plan.spans, pieces, strict=True)):
        assert span.first_row == records + 1  # row numbers continue across pieces
        assert piece.endswith(b"\n") or i == len(pieces) - 1  # cut only after a line break
        records += piece.count(b"\n") + (0 if piece.endswith(b"\n") else 1)
    rest = data[start:]
    assert records == rest.count(b"\n") + (1 if rest and not rest.endswith(b"\n") else 0)
