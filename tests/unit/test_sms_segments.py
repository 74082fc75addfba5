import math

from hypothesis import given
from hypothesis import strategies as st

from kizuna.sms_segments import GSM7_BASIC, GSM7_EXTENSION, count_segments

GSM_BASIC_TEXT = st.text(alphabet=sorted(GSM7_BASIC - {"\x1b"}), max_size=800)
GSM_TEXT = st.text(alphabet=sorted((GSM7_BASIC | GSM7_EXTENSION) - {"\x1b"}), max_size=800)
ANY_TEXT = st.text(max_size=800)


def test_japanese_is_ucs2_and_splits_at_67() -> None:
    assert count_segments("あ" * 200).segments == 3
    assert count_segments("あ" * 200).encoding == "UCS-2"
    assert count_segments("あ" * 70).segments == 1
    assert count_segments("あ" * 71).segments == 2
    assert count_segments("あ" * 134).segments == 2
    assert count_segments("あ" * 135).segments == 3


def test_gsm7_limits() -> None:
    assert count_segments("a" * 160) == count_segments("a" * 160)
    assert count_segments("a" * 160).segments == 1
    assert count_segments("a" * 161).segments == 2
    assert count_segments("a" * 306).segments == 2
    assert count_segments("a" * 307).segments == 3
    assert count_segments("").segments == 1


def test_extension_characters_cost_two_septets() -> None:
    assert count_segments("€").units == 2
    assert count_segments("a" * 158 + "€").segments == 1  # 160 septets
    assert count_segments("a" * 159 + "€").segments == 2  # 161 septets
    assert count_segments("a" * 159 + "€").encoding == "GSM-7"
    # an escape sequence is never split: 152 + 2 does not fit in a 153-septet part
    assert count_segments("a" * 152 + "€" + "a" * 153).segments == 3


def test_one_non_gsm_character_switches_to_ucs2() -> None:
    assert count_segments("a" * 100 + "ä").encoding == "GSM-7"  # ä is in the GSM table
    result = count_segments("a" * 100 + "あ")
    assert (result.encoding, result.segments) == ("UCS-2", 2)


def test_astral_characters_take_two_code_units() -> None:
    assert count_segments("😀" * 35).segments == 1
    assert count_segments("😀" * 36).segments == 2
    assert count_segments("😀").characters == 1


@given(ANY_TEXT)
def test_segments_bounded_by_units(body: str) -> None:
    result = count_segments(body)
    single, part = (160, 153) if result.encoding == "GSM-7" else (70, 67)
    assert result.segments >= 1
    assert result.characters == len(body)
    if result.units <= single:
        assert result.segments == 1
    else:
        assert result.segments >= math.ceil(result.units / part)
        assert result.segments <= math.ceil(result.units / (part - 1))  # at most one unit wasted per part


@given(GSM_BASIC_TEXT)
def test_basic_gsm_text_is_exact_arithmetic(body: str) -> None:
    result = count_segments(body)
    assert result.encoding == "GSM-7"
    assert result.units == len(body)
    expected = 1 if len(body) <= 160 else math.ceil(len(body) / 153)
    assert result.segments == expected


@given(GSM_TEXT, st.text(min_size=1, max_size=20))
def test_appending_never_reduces_segments_within_an_encoding(body: str, more: str) -> None:
    before, after = count_segments(body), count_segments(body + more)
    if before.encoding == after.encoding:
        assert after.segments >= before.segments
    assert after.units >= before.units or after.encoding != before.encoding


@given(ANY_TEXT)
def test_encoding_is_gsm_iff_every_character_is_in_the_tables(body: str) -> None:
    gsm = all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body)
    assert (count_segments(body).encoding == "GSM-7") == gsm
