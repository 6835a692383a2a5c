"""The session number: larger at every start with the same state folder, whatever the clock does."""

from __future__ import annotations

from pathlib import Path

from edge_inspect.publish.session import FILE_NAME, next_session


def test_given_starts_when_numbered_then_each_is_the_start_time_in_ms_and_kept(tmp_path: Path) -> None:
    first = next_session(tmp_path, now=1_700_000_000.0)
    second = next_session(tmp_path, now=1_700_000_005.5)

    assert (first, second) == (1_700_000_000_000, 1_700_000_005_500)
    assert (tmp_path / FILE_NAME).read_text() == "1700000005500\n"


def test_given_a_clock_stepped_back_when_started_then_the_session_still_grows(tmp_path: Path) -> None:
    before = next_session(tmp_path, now=1_800_000_000.0)

    after = [next_session(tmp_path, now=1_700_000_000.0) for _ in range(3)]

    assert after == [before + 1, before + 2, before + 3]


def test_given_a_damaged_session_file_when_started_then_the_clock_decides(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"\xff\xfe garbage")

    assert next_session(tmp_path, now=1_700_000_000.0) == 1_700_000_000_000


def test_given_no_state_folder_when_started_then_the_clock_alone_numbers_it() -> None:
    assert next_session(None, now=1_700_000_000.25) == 1_700_000_000_250


def test_given_an_unwritable_folder_when_started_then_a_session_is_still_given(tmp_path: Path) -> None:
    missing = tmp_path / "not-there"

    assert next_session(missing, now=1_700_000_000.0) == 1_700_000_000_000
