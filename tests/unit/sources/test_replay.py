"""The replay source: files or a video become frames in a fixed order, paced, looped, with ground truth."""

from __future__ import annotations

import re
import threading
import time
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from structlog.testing import capture_logs

from edge_inspect.config.sources import ReplaySourceConfig
from edge_inspect.errors import SourceError
from edge_inspect.sources import open_source
from edge_inspect.sources.replay import Pacer, ReplaySource
from edge_inspect.types import Frame, FrameSource, SourceState


class RecordingStatus:
    """A StatusListener that keeps every state change it is told."""

    def __init__(self) -> None:
        self.states: list[tuple[str, SourceState, str | None]] = []

    def source_state(self, camera: str, state: SourceState, reason: str | None = None) -> None:
        self.states.append((camera, state, reason))

    @property
    def names(self) -> list[SourceState]:
        return [state for _, state, _ in self.states]


def image(value: int, shape: tuple[int, ...] = (24, 32), dtype: type = np.uint8) -> np.ndarray:
    pixels: np.ndarray = np.full(shape, value, dtype=dtype)
    pixels[0, 0] = 0  # not flat: a wrongly scaled decode would still show
    return pixels


def write(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), pixels)
    return path


def replay(status: RecordingStatus | None = None, **fields: Any) -> ReplaySource:
    config = ReplaySourceConfig.model_validate({"type": "replay", **fields})
    return ReplaySource(config, "cam-1", status or RecordingStatus())


def all_frames(source: ReplaySource) -> list[Frame]:
    source.open()
    try:
        return list(source.frames())
    finally:
        source.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three 8-bit images written out of order, plus a file that is not an image by extension."""
    for name, value in (("0003.png", 30), ("0001.png", 10), ("0002.png", 20)):
        write(tmp_path / "images" / name, image(value))
    (tmp_path / "images" / "notes.txt").write_text("not replayed")
    return tmp_path / "images"


def test_a_folder_replays_its_images_in_sorted_order_with_provenance(folder: Path) -> None:
    frames = all_frames(replay(path=str(folder)))
    assert [Path(f.source.path or "").name for f in frames] == ["0001.png", "0002.png", "0003.png"]
    assert [f.seq for f in frames] == [0, 1, 2]
    assert [f.source.index for f in frames] == [0, 1, 2]
    assert [int(f.image[5, 5]) for f in frames if f.image is not None] == [10, 20, 30]
    assert all(f.camera == "cam-1" and f.source.kind == "replay" and f.error is None for f in frames)
    assert all(abs(f.captured_at - time.time()) < 60 for f in frames)
    assert [f.monotonic for f in frames] == sorted(f.monotonic for f in frames)


def test_a_glob_selects_only_the_files_it_matches(folder: Path) -> None:
    frames = all_frames(replay(path=str(folder / "000[12].png")))
    assert [Path(f.source.path or "").name for f in frames] == ["0001.png", "0002.png"]


def test_sixteen_bit_and_colour_images_keep_their_depth_and_channels(tmp_path: Path) -> None:
    write(tmp_path / "a.png", image(40000, dtype=np.uint16))
    write(tmp_path / "b.tif", image(200, shape=(24, 32, 3)))
    deep, colour = all_frames(replay(path=str(tmp_path)))
    assert deep.image is not None
    assert deep.image.dtype == np.uint16
    assert int(deep.image[5, 5]) == 40000
    assert colour.image is not None
    assert colour.image.shape == (24, 32, 3)


def test_loops_repeat_the_files_and_sequence_numbers_keep_counting(folder: Path) -> None:
    frames = all_frames(replay(path=str(folder), loop=2))
    assert [f.seq for f in frames] == list(range(6))
    assert [f.source.index for f in frames] == [0, 1, 2, 0, 1, 2]
    assert [f.source.extra["pass"] for f in frames] == [0, 0, 0, 1, 1, 1]


def test_loop_zero_replays_until_stopped(folder: Path) -> None:
    status = RecordingStatus()
    source = replay(status, path=str(folder), loop=0)
    source.open()
    stream = source.frames()
    taken = list(islice(stream, 7))
    source.stop()
    rest = list(stream)
    assert [f.seq for f in taken] == list(range(7))
    assert rest == []
    assert status.names == [SourceState.STARTING, SourceState.ONLINE, SourceState.ENDED]


def test_fps_paces_frames_on_a_monotonic_schedule(folder: Path) -> None:
    # Given 3 files looped to 12 frames at 50 fps
    frames = all_frames(replay(path=str(folder), fps=50, loop=4))
    # Then frame k is released k/50 s after the first, without accumulated sleep overshoot
    offsets = [f.monotonic - frames[0].monotonic for f in frames]
    expected = [k / 50 for k in range(len(frames))]
    assert offsets[-1] == pytest.approx(expected[-1], abs=0.05)
    assert all(offset >= wanted - 0.002 for offset, wanted in zip(offsets, expected, strict=True))


def test_stop_from_another_thread_ends_a_paced_replay_promptly(folder: Path) -> None:
    # Given a replay that waits 5 s between frames
    source = replay(path=str(folder), fps=0.2, loop=0)
    source.open()
    stream = source.frames()
    first = next(stream)
    # When another thread stops it while it waits for the second frame
    timer = threading.Timer(0.1, source.stop)
    timer.start()
    started = time.monotonic()
    rest = list(stream)
    # Then frames() ends at once, without the second frame
    assert time.monotonic() - started < 1.0
    assert first.seq == 0
    assert rest == []
    timer.join()


def test_the_pacer_does_not_burst_after_a_slow_consumer() -> None:
    # Given a 100 fps pacer whose consumer stalls for 10 periods after the first frame
    pacer = Pacer(100.0, threading.Event())
    assert pacer.wait()
    time.sleep(0.1)
    # When it asks for the next frames
    released = []
    for _ in range(4):
        assert pacer.wait()
        released.append(time.monotonic())
    # Then one frame comes at once and the rest keep the period again (no catch-up burst): the 3 gaps
    # span 3 periods. (A single gap may be short: the pacer takes a sleep's overshoot off the next one,
    # and a busy machine overshoots; a burst would release all 4 within a millisecond or two.)
    assert released[-1] - released[0] >= 0.02


def test_bad_files_become_error_frames_and_the_replay_goes_on(tmp_path: Path) -> None:
    # Given a folder with a good image, an empty file, a truncated PNG, a text file named .png,
    # and a file that disappears after the replay listed it
    write(tmp_path / "a_good.png", image(50))
    (tmp_path / "b_empty.png").write_bytes(b"")
    _ok, png = cv2.imencode(".png", image(60))
    (tmp_path / "c_truncated.png").write_bytes(png.tobytes()[:-20])
    (tmp_path / "d_text.png").write_text("hello")
    vanishing = write(tmp_path / "e_vanishing.png", image(70))
    write(tmp_path / "f_good.png", image(80))
    source = replay(path=str(tmp_path))
    source.open()
    vanishing.unlink()
    # When it is replayed
    with capture_logs() as logs:
        frames = list(source.frames())
    # Then every file gives one frame; the bad ones carry no image and an error naming file and reason
    assert len(frames) == 6
    good = [f for f in frames if f.error is None]
    assert [int(f.image[5, 5]) for f in good if f.image is not None] == [50, 80]
    errors = {Path(f.source.path or "").name: f.error for f in frames if f.error is not None}
    assert all(f.image is None for f in frames if f.error is not None)
    assert errors["b_empty.png"] == f"{tmp_path / 'b_empty.png'}: empty file (0 bytes)"
    assert errors["c_truncated.png"].startswith(f"{tmp_path / 'c_truncated.png'}: truncated PNG")
    assert errors["d_text.png"].startswith(f"{tmp_path / 'd_text.png'}: too short to be an image")
    assert errors["e_vanishing.png"] == f"{vanishing}: cannot read: No such file or directory"
    # And each is logged as a warning
    warned = [entry["error"] for entry in logs if entry["log_level"] == "warning"]
    assert sorted(warned) == sorted(errors.values())


def test_a_path_that_matches_nothing_fails_at_open_and_names_the_path(tmp_path: Path) -> None:
    status = RecordingStatus()
    missing = tmp_path / "nowhere" / "*.png"
    source = replay(status, path=str(missing))
    with pytest.raises(SourceError, match=re.escape(f"source.path {missing}: no such folder or file")):
        source.open()
    assert status.names == [SourceState.STARTING, SourceState.OFFLINE]


def test_a_folder_without_images_fails_at_open(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match=r"the folder has no .*\.png"):
        replay(path=str(tmp_path)).open()


def test_frames_before_open_is_an_error(folder: Path) -> None:
    with pytest.raises(SourceError, match="before open"):
        next(replay(path=str(folder)).frames())


def test_dagm_labels_are_found_automatically_and_unlabelled_images_are_defect_free(tmp_path: Path) -> None:
    # Given a DAGM folder: 0001 has a label (0/255 ellipse), 0002 has none
    write(tmp_path / "0001.PNG", image(100))
    write(tmp_path / "0002.PNG", image(110))
    label = np.zeros((24, 32), dtype=np.uint8)
    label[5:10, 6:12] = 255
    write(tmp_path / "Label" / "0001_label.PNG", label)
    # When replayed with the default ground_truth: auto
    labelled, clean = all_frames(replay(path=str(tmp_path)))
    # Then the label becomes a 0/1 mask and the unlabelled image an all-zero one
    assert labelled.ground_truth is not None
    assert clean.ground_truth is not None
    assert np.array_equal(labelled.ground_truth, (label > 0).astype(np.uint8))
    assert clean.ground_truth.shape == (24, 32)
    assert not clean.ground_truth.any()


def test_without_a_label_folder_auto_gives_no_ground_truth(folder: Path) -> None:
    assert all(f.ground_truth is None for f in all_frames(replay(path=str(folder))))


def test_a_mask_folder_gives_each_image_its_mask(folder: Path, tmp_path: Path) -> None:
    mask = np.zeros((24, 32), dtype=np.uint8)
    mask[1:3, 1:3] = 2  # a multi-class mask keeps its class id
    write(tmp_path / "masks" / "0002.png", mask)
    frames = all_frames(replay(path=str(folder), ground_truth=str(tmp_path / "masks")))
    assert [int(f.ground_truth.max()) for f in frames if f.ground_truth is not None] == [0, 2, 0]


def test_a_missing_mask_folder_fails_at_open(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"source\.ground_truth .*masks: mask folder not found"):
        replay(path=str(folder), ground_truth=str(tmp_path / "masks")).open()


def test_a_mask_of_the_wrong_size_is_an_error_frame_naming_the_mask(folder: Path, tmp_path: Path) -> None:
    bad = write(tmp_path / "masks" / "0001.png", np.zeros((5, 5), dtype=np.uint8))
    with capture_logs():
        first, *_ = all_frames(replay(path=str(folder), ground_truth=str(tmp_path / "masks")))
    assert first.image is None
    assert first.error == f"{bad}: ground-truth mask is 5x5, the image {folder / '0001.png'} is 32x24"


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.avi"
    fourcc = cv2.VideoWriter_fourcc(*"MJPG")  # type: ignore[attr-defined]
    writer = cv2.VideoWriter(str(path), fourcc, 10, (32, 24))
    assert writer.isOpened()
    for i in range(5):
        writer.write(np.full((24, 32, 3), 40 * i + 20, dtype=np.uint8))
    writer.release()
    return path


def test_a_video_file_replays_every_frame_each_loop(video: Path) -> None:
    frames = all_frames(replay(path=str(video), loop=2))
    assert [f.source.index for f in frames] == [0, 1, 2, 3, 4] * 2
    assert [f.seq for f in frames] == list(range(10))
    levels = [int(f.image[12, 16, 0]) for f in frames[:5] if f.image is not None]
    assert levels == pytest.approx([20, 60, 100, 140, 180], abs=4)


def test_a_file_that_is_neither_image_nor_video_fails_at_open(tmp_path: Path) -> None:
    junk = tmp_path / "clip.avi"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(SourceError, match="cannot open it as a video"):
        replay(path=str(junk)).open()


def test_cache_in_memory_replays_without_touching_the_files_again(folder: Path) -> None:
    # Given a cached replay, opened
    source = replay(path=str(folder), loop=2, cache_in_memory=True)
    source.open()
    # When the files are deleted afterwards
    for path in folder.glob("*.png"):
        path.unlink()
    frames = list(source.frames())
    # Then both passes still come from memory, as read-only arrays that no stage can alter for the next pass
    assert [int(f.image[5, 5]) for f in frames if f.image is not None] == [10, 20, 30] * 2
    assert all(f.image is not None and not f.image.flags.writeable for f in frames)


def test_open_source_builds_the_plug_in_named_by_the_config(folder: Path) -> None:
    config = ReplaySourceConfig(type="replay", path=str(folder))
    source = open_source(config, "cam-9", RecordingStatus())
    assert isinstance(source, ReplaySource)
    assert isinstance(source, FrameSource)


def test_entries_that_are_not_regular_files_are_skipped_logged_and_counted(folder: Path) -> None:
    # Given a folder that also holds a folder named like an image and links to a device and to nothing
    (folder / "y.png").mkdir()
    (folder / "zero.png").symlink_to("/dev/zero")
    (folder / "gone.png").symlink_to(folder / "missing.png")
    source = replay(path=str(folder))
    # When it is replayed
    with capture_logs() as logs:
        frames = all_frames(source)
    # Then only the three images are frames, and each skipped entry is one warning with its reason
    assert [Path(f.source.path or "").name for f in frames] == ["0001.png", "0002.png", "0003.png"]
    skipped = {Path(e["path"]).name: e["reason"] for e in logs if e["event"] == "replay_entry_skipped"}
    assert skipped == {
        "y.png": "a folder",
        "zero.png": "a device, pipe or socket (refused)",
        "gone.png": "a broken link",
    }
    assert source.stats() == {"skipped_files": 3.0}


def test_a_device_named_as_the_source_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="a device, pipe or socket"):
        replay(path="/dev/zero").open()
