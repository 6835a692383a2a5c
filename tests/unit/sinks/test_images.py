"""The image saver: NG and sampled PASS frames saved as original + overlay, off the hot path, with limits."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_inspect.config.images import ImagesConfig
from edge_inspect.errors import ConfigError
from edge_inspect.runtime.stats import Stats
from edge_inspect.sinks.images import ImageSaver, overlay_path, relative_path
from edge_inspect.sinks.overlay import Bgr8
from edge_inspect.types import Decision, Frame, InspectionResult, SourceInfo, Verdict
from tests.helpers.results import defect, result

CLASSES = ("defect",)


def config(**changes: Any) -> ImagesConfig:
    return ImagesConfig.model_validate({"enabled": True, **changes})


def frame(seq: int = 1, image: np.ndarray | None = None) -> Frame:
    pixels = (
        image if image is not None else np.random.default_rng(seq).integers(0, 255, (64, 96), dtype=np.uint8)
    )
    return Frame(
        seq=seq,
        camera="cam-1",
        captured_at=time.time(),
        monotonic=time.monotonic(),
        source=SourceInfo(kind="replay", path=f"/data/{seq}.png", index=seq),
        image=pixels,
    )


def builder(verdict: Verdict):  # type: ignore[no-untyped-def]
    """A result factory like the daemon's: the frame's seq, the given verdict."""

    def make(
        f: Frame, decision: Decision | None, error: str | None, timings: dict[str, float]
    ) -> InspectionResult:
        masks = np.zeros(f.image.shape[:2], np.uint8) if f.image is not None else None
        found = (defect(bbox=(5, 5, 10, 10)),) if verdict is Verdict.NG else ()
        return result(verdict, seq=f.seq, defects=found, masks=masks, captured_at=f.captured_at, error="boom")

    return make


@pytest.fixture
def stats() -> Stats:
    return Stats()


def saver(tmp_path: Path, stats: Stats, **changes: Any) -> ImageSaver:
    return ImageSaver(config(**changes), tmp_path / "images", classes=CLASSES, stats=stats)


def test_an_ng_frame_is_saved_as_original_and_overlay_at_the_path_in_its_result(
    tmp_path: Path, stats: Stats
) -> None:
    # given a running saver wrapped around the result factory
    images = saver(tmp_path, stats)
    images.start()
    make = images.wrap(builder(Verdict.NG))
    grabbed = frame(7)
    # when an NG frame's result is built
    built = make(grabbed, None, None, {})
    # then the result names its image at once, and the file appears with the frame's exact pixels
    assert built.image_path is not None
    path = Path(built.image_path)
    assert path.parent.parent == tmp_path / "images"
    assert images.flush(10)
    original = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert original is not None
    assert grabbed.image is not None
    assert np.array_equal(original, grabbed.image)
    overlay = cv2.imread(str(overlay_path(path)))
    assert overlay is not None
    assert overlay.shape == (64, 96, 3)
    assert stats.counter("images.saved") == 1
    images.close()


def test_pass_frames_are_not_saved_unless_sampled(tmp_path: Path, stats: Stats) -> None:
    images = saver(tmp_path, stats)
    images.start()
    built = images.wrap(builder(Verdict.PASS))(frame(), None, None, {})
    assert built.image_path is None
    assert images.close()
    assert list((tmp_path / "images").rglob("*.png")) == []


def test_every_nth_pass_frame_is_saved(tmp_path: Path, stats: Stats) -> None:
    images = saver(tmp_path, stats, pass_every=3)
    images.start()
    make = images.wrap(builder(Verdict.PASS))
    paths = [make(frame(i), None, None, {}).image_path for i in range(1, 8)]
    assert [p is not None for p in paths] == [False, False, True, False, False, True, False]
    images.close()


def test_error_frames_with_pixels_are_saved_and_without_pixels_are_not(tmp_path: Path, stats: Stats) -> None:
    images = saver(tmp_path, stats)
    images.start()
    make = images.wrap(builder(Verdict.ERROR))
    assert make(frame(1), None, "boom", {}).image_path is not None
    empty = Frame(seq=2, camera="c", captured_at=0.0, monotonic=0.0, source=SourceInfo("replay"), image=None)
    assert make(empty, None, "boom", {}).image_path is None
    images.close()


def test_16_bit_frames_keep_their_depth(tmp_path: Path, stats: Stats) -> None:
    images = saver(tmp_path, stats, original_format="tiff")
    images.start()
    deep = (np.arange(64 * 96, dtype=np.uint16).reshape(64, 96) * 7).astype(np.uint16)
    built = images.wrap(builder(Verdict.NG))(frame(1, deep), None, None, {})
    images.close()
    assert built.image_path is not None
    assert built.image_path.endswith(".tiff")
    back = cv2.imread(built.image_path, cv2.IMREAD_UNCHANGED)
    assert back is not None
    assert back.dtype == np.uint16
    assert np.array_equal(back, deep)


def test_a_full_queue_drops_the_frame_and_its_result_names_no_image(tmp_path: Path, stats: Stats) -> None:
    # given a writer stuck on its first frame (its thumbnail hook blocks) and a queue of one
    release = threading.Event()
    entered = threading.Event()

    def stuck(_result: InspectionResult, _image: Bgr8) -> bool:
        entered.set()
        return release.wait(10)

    images = ImageSaver(
        config(queue_size=1), tmp_path / "images", classes=CLASSES, stats=stats, thumbnails=stuck
    )
    images.start()
    make = images.wrap(builder(Verdict.NG))
    first = make(frame(1), None, None, {})
    assert entered.wait(10)
    queued = make(frame(2), None, None, {})
    # when one more NG frame comes
    dropped = make(frame(3), None, None, {})
    # then it is not saved, its result has no path, and the drop is counted; the others are written
    assert first.image_path
    assert queued.image_path
    assert dropped.image_path is None
    assert stats.counter("images.dropped") == 1
    release.set()
    assert images.flush(10)
    assert Path(queued.image_path).exists()
    images.close()


def test_retention_keeps_the_newest_frames(tmp_path: Path, stats: Stats) -> None:
    images = saver(tmp_path, stats, retention={"max_frames": 2})
    images.start()
    make = images.wrap(builder(Verdict.NG))
    paths = [make(frame(i), None, None, {}).image_path for i in range(1, 5)]
    assert images.flush(10)
    images.close()
    assert [Path(p).exists() for p in paths if p] == [False, False, True, True]
    assert stats.counter("images.deleted") == 2
    assert len(list((tmp_path / "images").rglob("*.overlay.jpg"))) == 2


def test_frames_left_by_a_previous_run_count_towards_the_limits(tmp_path: Path, stats: Stats) -> None:
    # given a previous run saved 3 frames
    first = saver(tmp_path, stats)
    first.start()
    make = first.wrap(builder(Verdict.NG))
    old = [make(frame(i), None, None, {}).image_path for i in range(3)]
    first.close()
    # when a new run starts with a limit of 1 frame
    second = saver(tmp_path, Stats(), retention={"max_frames": 1})
    second.start()
    second.close()
    # then only the newest survives
    assert [Path(p).exists() for p in old if p] == [False, False, True]


def test_a_failed_write_is_counted_and_the_writer_goes_on(tmp_path: Path, stats: Stats) -> None:
    # given the day folder the first frame needs is taken by a file
    images = saver(tmp_path, stats)
    images.start()
    make = images.wrap(builder(Verdict.NG))
    one = frame(1)
    blocked_day = tmp_path / "images" / relative_path(_result_for(one), "png").parent
    blocked_day.write_bytes(b"not a folder")
    # when two frames are saved, the second on another day
    make(one, None, None, {})
    later = dataclasses.replace(frame(2), captured_at=one.captured_at + 2 * 86400)
    saved = make(later, None, None, {})
    assert images.flush(10)
    images.close()
    # then the first failed (counted), the second was written
    assert stats.counter("images.failed") == 1
    assert saved.image_path is not None
    assert Path(saved.image_path).exists()


def _result_for(f: Frame) -> InspectionResult:
    return result(Verdict.NG, seq=f.seq, captured_at=f.captured_at)


def test_thumbnails_get_the_overlay_of_every_saved_frame(tmp_path: Path, stats: Stats) -> None:
    seen: list[tuple[str, tuple[int, ...]]] = []

    def thumbnails(saved: InspectionResult, image: Bgr8) -> bool:
        seen.append((saved.result_id, image.shape))
        return True

    images = ImageSaver(config(), tmp_path / "i", classes=CLASSES, stats=stats, thumbnails=thumbnails)
    images.start()
    built = images.wrap(builder(Verdict.NG))(frame(1), None, None, {})
    assert images.flush(10)
    images.close()
    assert seen == [(built.result_id, (64, 96, 3))]
    assert stats.counter("images.thumbnails_sent") == 1


def test_a_folder_that_cannot_be_created_is_a_config_error(tmp_path: Path, stats: Stats) -> None:
    (tmp_path / "file").write_text("x")
    images = ImageSaver(config(), tmp_path / "file" / "images", classes=CLASSES, stats=stats)
    with pytest.raises(ConfigError, match=r"images.dir: cannot create"):
        images.start()


def test_saved_file_names_sort_by_time_and_name_the_result() -> None:
    built = result(Verdict.NG, seq=42, captured_at=1738311302.123456)
    path = relative_path(built, "png")
    assert path.parent.name == "20250131"
    assert path.name == f"20250131T081502123Z_cam-1_000042_NG_{built.result_id}.png"
    assert overlay_path(path).name == f"20250131T081502123Z_cam-1_000042_NG_{built.result_id}.overlay.jpg"


def test_given_a_thread_init_when_started_then_the_writer_thread_calls_it_first(
    tmp_path: Path, stats: Stats
) -> None:
    called: list[str] = []
    images = ImageSaver(
        config(),
        tmp_path / "images",
        classes=CLASSES,
        stats=stats,
        thread_init=lambda: called.append(threading.current_thread().name),
    )
    images.start()
    images.wrap(builder(Verdict.NG))(frame(3), None, None, {})
    assert images.close()
    assert called == ["image-writer"]
