"""Retention: the oldest saved frames go first, by count, size and age; a frame's files go together."""

from __future__ import annotations

import os
from pathlib import Path

from edge_inspect.sinks.retention import RetentionIndex, RetentionLimits, SavedFrame, excess, scan


def frames(*sizes_and_times: tuple[int, float]) -> list[SavedFrame]:
    return [
        SavedFrame(f"f{i}", (Path(f"/x/f{i}.png"),), size, t) for i, (size, t) in enumerate(sizes_and_times)
    ]


def test_nothing_goes_within_every_limit() -> None:
    kept = frames((10, 100.0), (10, 101.0))
    assert excess(kept, 20, 102.0, RetentionLimits(max_frames=2, max_bytes=20, max_age_s=10.0)) == 0


def test_count_limit_drops_the_oldest() -> None:
    assert excess(frames((1, 1.0), (1, 2.0), (1, 3.0)), 3, 3.0, RetentionLimits(max_frames=1)) == 2


def test_size_limit_drops_until_the_total_fits() -> None:
    # 50 + 30 + 20 = 100 bytes, limit 45: dropping 50 leaves 50, dropping 30 leaves 20
    assert excess(frames((50, 1.0), (30, 2.0), (20, 3.0)), 100, 3.0, RetentionLimits(max_bytes=45)) == 2


def test_age_limit_drops_what_is_older() -> None:
    assert excess(frames((1, 0.0), (1, 50.0), (1, 95.0)), 3, 100.0, RetentionLimits(max_age_s=60.0)) == 1


def test_no_limits_keep_everything() -> None:
    assert excess(frames((10**9, 0.0)), 10**9, 10**9, RetentionLimits()) == 0


def write(path: Path, size: int, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))
    return path


def test_scan_groups_a_frames_files_orders_by_time_and_removes_partial_files(tmp_path: Path) -> None:
    # given two saved frames on two days, and a partial file left by a crash
    write(tmp_path / "20250101" / "a.png", 100, 1000.0)
    write(tmp_path / "20250101" / "a.overlay.jpg", 20, 1001.0)
    write(tmp_path / "20250102" / "b.png", 50, 2000.0)
    partial = write(tmp_path / "20250102" / "c.png.part", 5, 3000.0)
    # when scanned
    found = scan(tmp_path)
    # then: oldest first, the original and overlay as one frame, the partial file gone
    assert [(f.key, f.size, f.mtime, len(f.files)) for f in found] == [
        ("a", 120, 1001.0, 2),
        ("b", 50, 2000.0, 1),
    ]
    assert not partial.exists()


def test_scan_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert scan(tmp_path / "nope") == []


def test_enforce_deletes_the_oldest_frames_files_and_their_empty_day_folder(tmp_path: Path) -> None:
    write(tmp_path / "20250101" / "a.png", 100, 1000.0)
    write(tmp_path / "20250101" / "a.overlay.jpg", 20, 1000.0)
    write(tmp_path / "20250102" / "b.png", 50, 2000.0)
    index = RetentionIndex(tmp_path, RetentionLimits(max_frames=1), scan(tmp_path))
    assert (len(index), index.total_bytes) == (2, 170)
    gone = index.enforce(now=2000.0)
    assert [f.key for f in gone] == ["a"]
    assert not (tmp_path / "20250101").exists()
    assert (tmp_path / "20250102" / "b.png").exists()
    assert (len(index), index.total_bytes, index.deleted) == (1, 50, 1)


def test_enforce_never_removes_the_root_folder(tmp_path: Path) -> None:
    write(tmp_path / "a.png", 10, 1.0)
    index = RetentionIndex(tmp_path, RetentionLimits(max_age_s=1.0), scan(tmp_path))
    assert len(index.enforce(now=100.0)) == 1
    assert tmp_path.is_dir()
