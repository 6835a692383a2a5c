"""The pylon source against pylon's camera emulation: free-run at a set rate, software triggers one by one,
failed buffers, removal and reconnect, the no-frame alarm, and errors that say what is wrong."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_inspect.config.sources import PylonSourceConfig
from edge_inspect.errors import MissingDependencyError, SourceError
from edge_inspect.sources.pylon import PylonSource
from edge_inspect.types import Frame, FrameSource
from tests.helpers.pylon_emulator import (
    SERIALS,
    RecordingStatus,
    file_features,
    read_gray,
    require_emulator,
    use_emulator,
    write_gray_images,
)

use_emulator()

VALUES = (40, 80, 120, 160)
MakeSource = Callable[..., PylonSource]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four flat grey images the emulator serves in turn (block_id % 4)."""
    return write_gray_images(tmp_path_factory.mktemp("served"), VALUES)


@pytest.fixture
def status() -> RecordingStatus:
    return RecordingStatus()


@pytest.fixture
def make_source(images: list[Path], status: RecordingStatus) -> Iterator[MakeSource]:
    """Build an opened PylonSource on emulated camera 0 serving ``images``; closed after the test."""
    require_emulator()
    opened: list[PylonSource] = []

    def make(**fields: Any) -> PylonSource:
        features = {**file_features(images[0].parent), **fields.pop("features", {})}
        config = PylonSourceConfig.model_validate(
            {"type": "pylon", "serial": SERIALS[0], "features": features, "reconnect_min_s": 0.05, **fields}
        )
        source = PylonSource(config, "cam-1", status)
        source.open()
        opened.append(source)
        return source

    yield make
    for source in opened:
        source.close()


def take(source: PylonSource, count: int, timeout: float = 10.0) -> list[Frame]:
    """The first ``count`` frames (fewer if ``timeout`` passes first: the source is stopped then)."""
    watchdog = threading.Timer(timeout, source.stop)
    watchdog.start()
    frames: list[Frame] = []
    iterator = source.frames()
    try:
        for frame in iterator:
            frames.append(frame)
            if len(frames) >= count:
                break
    finally:
        watchdog.cancel()
        iterator.close()  # type: ignore[attr-defined]
    return frames


def served_index(frame: Frame) -> int:
    return int(frame.source.extra["block_id"]) % len(VALUES)


def test_given_a_free_run_camera_when_grabbing_then_frames_come_at_the_set_rate_and_equal_the_files(
    make_source: MakeSource, images: list[Path]
) -> None:
    rate = 25.0
    source = make_source(frame_rate=rate)

    frames = take(source, 13)

    assert isinstance(source, FrameSource)
    assert len(frames) == 13
    assert [f.seq for f in frames] == list(range(13))
    seconds = frames[-1].monotonic - frames[0].monotonic
    assert 12 / seconds == pytest.approx(rate, rel=0.15)
    for frame in frames:
        assert frame.error is None
        assert frame.camera == "cam-1"
        assert frame.source.kind == "pylon"
        assert frame.source.device == SERIALS[0]
        assert set(frame.source.extra) == {"block_id", "timestamp_ticks"}
        np.testing.assert_array_equal(frame.image, read_gray(images[served_index(frame)]))
    assert source.stats()["grabbed"] == 13
    assert source.stats()["timeouts"] == 0


def test_given_software_triggers_requested_from_another_thread_then_exactly_that_many_frames(
    make_source: MakeSource, images: list[Path]
) -> None:
    source = make_source(trigger={"mode": "software"})
    requests = 9

    def press() -> None:
        for _ in range(requests):
            source.trigger()
            time.sleep(0.005)

    threading.Timer(0.05, press).start()
    frames = take(source, requests + 1, timeout=1.0)  # one more than asked for: must never come

    assert len(frames) == requests
    assert all(f.error is None for f in frames)
    assert [f.source.extra["block_id"] for f in frames] == list(range(requests))
    assert source.stats()["triggers"] == requests
    assert source.stats()["dropped"] == 0
    np.testing.assert_array_equal(frames[5].image, read_gray(images[5 % len(VALUES)]))


def test_given_a_software_timer_with_a_count_when_run_then_that_many_frames_at_the_interval_and_the_end(
    make_source: MakeSource,
) -> None:
    source = make_source(trigger={"mode": "software", "software_interval_s": 0.04, "software_count": 6})

    frames = list(source.frames())

    assert len(frames) == 6
    assert all(f.image is not None for f in frames)
    mean_gap = (frames[-1].monotonic - frames[0].monotonic) / 5
    assert mean_gap >= 0.04 * 0.8  # the timer never fires early (grab latency jitters each frame's time)
    assert source.stats()["triggers"] == 6


def test_given_forced_failed_buffers_when_triggered_then_each_is_an_error_frame_and_the_stream_goes_on(
    make_source: MakeSource,
) -> None:
    source = make_source(
        trigger={"mode": "software", "software_interval_s": 0.01, "software_count": 7},
        features={"ForceFailedBufferCount": 2, "ForceFailedBuffer": True},
    )

    frames = list(source.frames())

    assert len(frames) == 7
    failed = [f for f in frames if f.error is not None]
    assert [f.seq for f in failed] == [0, 1]
    for frame in failed:
        assert frame.image is None
        assert frame.error == "pylon grab failed (0x0): The buffer was incompletely grabbed."
        assert "block_id" in frame.source.extra
    assert all(f.image is not None for f in frames[2:])
    stats = source.stats()
    assert (stats["failed_buffers"], stats["grabbed"], stats["dropped"]) == (2, 5, 0)


def test_given_failed_buffers_in_free_run_when_grabbing_then_they_are_drops_not_frames(
    make_source: MakeSource,
) -> None:
    source = make_source(frame_rate=100.0, features={"ForceFailedBufferCount": 3, "ForceFailedBuffer": True})

    frames = take(source, 5)

    assert all(f.error is None and f.image is not None for f in frames)
    assert min(f.source.extra["block_id"] for f in frames) >= 3
    stats = source.stats()
    assert stats["failed_buffers"] == 3
    assert stats["dropped"] >= 3


def test_given_a_removed_camera_when_grabbing_then_it_reconnects_reapplies_config_and_frames_flow_again(
    make_source: MakeSource, status: RecordingStatus, images: list[Path]
) -> None:
    source = make_source(frame_rate=50.0)
    frames: list[Frame] = []
    removed_at: list[float] = []

    watchdog = threading.Timer(10.0, source.stop)
    watchdog.start()
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 5:
            removed_at.append(time.monotonic())
            source.execute("FirePnPCallback")
        if len(frames) == 15:
            source.stop()
    watchdog.cancel()

    assert len(frames) == 15
    assert status.states == ["starting", "online", "reconnecting", "online"]
    reasons = [reason for _camera, _state, reason in status.events]
    assert reasons[2] == "camera removed"
    assert str(reasons[3]).startswith("reconnected after ")
    assert source.stats()["reconnects"] == 1
    after = [f for f in frames if f.monotonic > removed_at[0]]
    resumed = next(f for f in after if f.source.extra["block_id"] == 0)  # a new device counts from 0
    assert resumed.monotonic - removed_at[0] < 2.0
    # the re-created camera serves the files again: the configuration was applied anew
    for frame in after:
        np.testing.assert_array_equal(frame.image, read_gray(images[served_index(frame)]))
    assert [f.seq for f in frames] == list(range(15))


def test_given_no_image_for_longer_than_the_no_frame_timeout_then_the_alarm_goes_and_clears(
    make_source: MakeSource, status: RecordingStatus
) -> None:
    source = make_source(frame_rate=2.0, no_frame_timeout_s=0.25, grab_timeout_s=0.2)

    frames = take(source, 2, timeout=5.0)

    assert len(frames) == 2
    assert status.states[:2] == ["starting", "online"]
    assert "offline" in status.states
    assert status.states[-1] == "online"
    alarm = next(e for e in status.events if e[1] == "offline")
    assert alarm[2] == "no image for 0.25 s"
    assert source.stats()["timeouts"] >= 1


def test_given_a_hardware_trigger_without_a_signal_when_waiting_then_no_frame_and_no_timeout(
    make_source: MakeSource,
) -> None:
    source = make_source(trigger={"mode": "hardware", "line": "Line1"}, no_frame_timeout_s=None)

    frames = take(source, 1, timeout=0.5)

    assert frames == []
    assert source.stats()["timeouts"] == 0
    with pytest.raises(SourceError, match=r"trigger\(\) needs trigger.mode 'software', not 'hardware'"):
        source.trigger()


def test_given_triggers_asked_for_when_the_source_stops_first_then_each_gets_an_error_frame(
    make_source: MakeSource,
) -> None:
    source = make_source(trigger={"mode": "software"})
    for _ in range(3):
        source.trigger()
    source.stop()

    frames = list(source.frames())

    assert len(frames) == 3
    assert {f.error for f in frames} == {
        "software trigger not fired: the source stopped before the trigger was fired"
    }


def test_given_an_open_and_close_when_watched_then_states_are_starting_online_offline(
    make_source: MakeSource, status: RecordingStatus
) -> None:
    source = make_source()
    source.close()

    assert status.events == [
        ("cam-1", "starting", None),
        ("cam-1", "online", f"Emulation {SERIALS[0]} (emulation) opened"),
        ("cam-1", "offline", "closed"),
    ]
    assert source.serial == SERIALS[0]


def test_given_a_value_out_of_range_when_opening_then_the_error_names_feature_value_and_range(
    images: list[Path], status: RecordingStatus
) -> None:
    require_emulator()
    config = PylonSourceConfig(type="pylon", serial=SERIALS[1], exposure_us=0.25)
    source = PylonSource(config, "cam-1", status)

    with pytest.raises(
        SourceError, match=r"exposure_us: ExposureTime = 0.25 is out of range: allowed 1 \.\. "
    ):
        source.open()
    assert status.states == ["starting", "offline"]


def test_given_a_serial_that_is_not_attached_when_opening_then_the_attached_cameras_are_listed(
    status: RecordingStatus,
) -> None:
    require_emulator()
    source = PylonSource(PylonSourceConfig(type="pylon", serial="21234567"), "cam-1", status)

    with pytest.raises(
        SourceError, match=rf"no pylon camera with serial number '21234567'; attached: .*{SERIALS[0]}"
    ):
        source.open()


def test_given_frames_asked_before_open_then_a_clear_error(status: RecordingStatus) -> None:
    source = PylonSource(PylonSourceConfig(type="pylon"), "cam-1", status)

    with pytest.raises(SourceError, match=r"camera cam-1: frames\(\) before open\(\)"):
        next(iter(source.frames()))


def test_given_no_pypylon_when_building_the_source_then_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, status: RecordingStatus
) -> None:
    monkeypatch.setitem(sys.modules, "pypylon", None)

    with pytest.raises(MissingDependencyError, match=r"pip install 'edge-inspect\[pylon\]'") as caught:
        PylonSource(PylonSourceConfig(type="pylon"), "cam-1", status)
    assert caught.value.extra == "pylon"


def test_given_a_camera_held_by_another_application_when_opening_then_it_is_reported_as_such(
    monkeypatch: pytest.MonkeyPatch, status: RecordingStatus
) -> None:
    # pylon's emulator has no second application to hold a camera, so its answer is faked
    require_emulator()
    from pypylon import pylon

    monkeypatch.setattr(pylon.TlFactory, "IsDeviceAccessible", lambda _self, _info: False)
    source = PylonSource(PylonSourceConfig(type="pylon", serial=SERIALS[1]), "cam-1", status)

    in_use = f"camera Emulation {SERIALS[1]} (emulation): camera controlled by another application"
    with pytest.raises(SourceError) as caught:
        source.open()
    assert str(caught.value) == in_use
    assert status.events[-1][1:] == ("offline", in_use)


def test_given_a_removed_camera_that_another_application_grabs_when_reconnecting_then_that_is_the_reason(
    make_source: MakeSource, status: RecordingStatus, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pypylon import pylon

    source = make_source(frame_rate=50.0)
    frames = take(source, 2)
    monkeypatch.setattr(pylon.TlFactory, "IsDeviceAccessible", lambda _self, _info: False)
    threading.Timer(0.5, monkeypatch.undo).start()  # the other application lets go
    source.execute("FirePnPCallback")

    frames += take(source, 3)

    assert len(frames) == 5
    assert status.states == ["starting", "online", "reconnecting", "reconnecting", "online"]
    reasons = [reason for _camera, state, reason in status.events if state == "reconnecting"]
    assert reasons == [
        "camera removed",
        f"camera Emulation {SERIALS[0]} (emulation): camera controlled by another application",
    ]
    assert source.stats()["reconnects"] == 1
