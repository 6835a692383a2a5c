"""The register map's encodings: part ids two characters per register, high byte first, NUL padded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_inspect.errors import TriggerError
from edge_inspect.plc.registers import (
    PART_ID_WORDS,
    decode_part_id,
    encode_part_id,
    join_uint32,
    split_uint32,
)

PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20)


def test_a_part_id_is_two_ascii_characters_per_register_high_byte_first_nul_padded() -> None:
    words = encode_part_id("P-123")
    assert words == [0x502D, 0x3132, 0x3300] + [0] * 7
    assert len(words) == PART_ID_WORDS
    assert decode_part_id(words) == "P-123"


@given(PRINTABLE)
def test_every_printable_id_of_up_to_20_characters_comes_back_unchanged(part_id: str) -> None:
    assert decode_part_id(encode_part_id(part_id)) == part_id


def test_all_nul_registers_mean_no_id_and_the_station_numbers_the_part() -> None:
    assert decode_part_id([0] * PART_ID_WORDS) is None


@pytest.mark.parametrize(
    ("words", "where"),
    [
        ([0x4101] + [0] * 9, "register 1 byte 1: 0x01 is not printable"),
        ([0x41FF] + [0] * 9, "register 1 byte 1: 0xff is not printable"),
        ([0x4100, 0x4200] + [0] * 8, "register 2 byte 0: 0x42 after the NUL padding"),
    ],
)
def test_garbage_in_the_id_registers_is_refused_naming_register_and_byte(
    words: list[int], where: str
) -> None:
    with pytest.raises(TriggerError, match=where):
        decode_part_id(words)


def test_trigger_to_verdict_time_is_a_uint32_high_word_first() -> None:
    assert split_uint32(70_000) == (1, 70_000 - 65_536)
    assert join_uint32(*split_uint32(123_456_789)) == 123_456_789
    assert split_uint32(-5) == (0, 0)
    assert split_uint32(2**40) == (0xFFFF, 0xFFFF)
