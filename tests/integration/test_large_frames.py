"""Large frames through the running daemon: a 33.5 MP line-scan-sized frame is inspected within a memory
bound of a few copies of its 8-bit pixels, with defects in frame pixels; a frame beyond
``source.max_pixels`` is one ERROR result naming the limit, found from its header (never decoded)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.helpers.broker import Mosquitto, Subscriber
from tests.helpers.daemon import ROOT, start_daemon
from tests.helpers.images import write_blank_png

CONFIG = ROOT / "config" / "replay.yaml"
TILES = (8, 16)
"""The defective sample tiled 8 x 16: 4096 x 8192, 33.5 MP (a line-scan camera gives 16k wide frames)."""
MAX_EXTRA_COPIES = 10
"""Peak memory beyond a one-small-frame run, in copies of the large frame's 8-bit pixels. Measured on a
2-core AMD EPYC host: 6.9 with 8-bit input (normalise_in_model), 7.1 with float32 input; with every tile
packed, inferred and its outputs held at once (before streaming): 12.4 and 16.0; before the bounded
stitch and the per-tile activation: 24."""


def peak_rss_kib(process: subprocess.Popen[str], timeout: float) -> int:
    """The process's VmHWM (peak resident set) read until it exits: the last reading is its peak."""
    peak = 0
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1])
        except OSError:
            break
        time.sleep(0.05)
    return peak


def replay_once(broker: Mosquitto, folder: Path, state: Path, *extra: str) -> list[str]:
    """The overrides of one pass over ``folder``, without ground truth, publishing to ``broker``."""
    return [
        f"mqtt.port={broker.port}",
        f"source.path={folder}",
        "source.loop=1",
        "source.ground_truth=null",
        f"paths.state_dir={state}",
        *extra,
    ]


def run_once(
    broker: Mosquitto, folder: Path, state: Path, frames: int, extra: tuple[str, ...] = ()
) -> tuple[int, list[dict[str, Any]]]:
    with Subscriber(broker.port, "edge-inspect/+/+/result") as sub:
        daemon = start_daemon(CONFIG, replay_once(broker, folder, state, *extra))
        try:
            peak = peak_rss_kib(daemon, timeout=180)
            assert daemon.wait(timeout=30) == 0, daemon.stdout.read() if daemon.stdout else ""
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGKILL)
                daemon.wait(10)
        assert sub.wait_for(lambda m: len(m) >= frames, timeout=20)
        results: list[dict[str, Any]] = [json.loads(m.payload) for m in sub.messages]
        return peak, results


@pytest.mark.parametrize(
    "pixels_in", ["normalised-in-model", "float-tiles"], ids=["uint8-input", "float32-input"]
)
def test_given_a_large_frame_and_one_beyond_max_pixels_then_both_get_results_within_bounded_memory(
    broker: Mosquitto, sample_dir: Path, tmp_path: Path, pixels_in: str
) -> None:
    # float32 input (the default, normalise_in_model false) would be 4.8 frame copies packed at once
    overrides = ("engine.normalise_in_model=false",) if pixels_in == "float-tiles" else ()
    label = sorted((sample_dir / "Label").glob("*_label.PNG"))[0]
    defective = cv2.imread(str(sample_dir / label.name.replace("_label", "")), cv2.IMREAD_UNCHANGED)
    assert defective is not None
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()
    cv2.imwrite(str(small / "0001.png"), defective)
    frame = np.tile(defective, TILES)
    cv2.imwrite(str(large / "0001.png"), frame)
    write_blank_png(large / "0002.png", 20000, 20000)  # 400 MP in a small file: over the 64 MP default

    baseline, _ = run_once(broker, small, tmp_path / "state-small", frames=1, extra=overrides)
    peak, results = run_once(broker, large, tmp_path / "state-large", frames=2, extra=overrides)

    by_name = {Path(r["source"]["path"]).name: r for r in results}
    big, huge = by_name["0001.png"], by_name["0002.png"]
    height, width = frame.shape
    assert big["verdict"] == "NG"
    assert big["frame"] == {"width": width, "height": height}
    assert all(0 <= d["bbox"]["x"] < width and 0 <= d["bbox"]["y"] < height for d in big["defects"])
    assert len(big["defects"]) >= TILES[0] * TILES[1] // 2
    assert huge["verdict"] == "ERROR"
    assert "source.max_pixels" in str(huge["error"])
    extra = (peak - baseline) * 1024 / frame.nbytes
    print(f"\nlarge frame: peak {peak} KiB vs {baseline} KiB for a small one: {extra:.1f} frame copies")
    assert extra <= MAX_EXTRA_COPIES


def test_given_a_frame_slower_than_the_inference_watchdog_then_it_is_one_error_and_the_old_engine_closes(
    broker: Mosquitto, sample_dir: Path, tmp_path: Path
) -> None:
    # 105 MP (440 tiles): seconds of inference against a 1 s watchdog. The watchdog abandons it and
    # restarts the engine; the old engine has only the streamed frame's few requests to finish, so it
    # closes at once (it was left behind while it worked through every tile, and the process then died
    # with "FATAL: exception not rethrown" at exit).
    label = sorted((sample_dir / "Label").glob("*_label.PNG"))[0]
    defective = cv2.imread(str(sample_dir / label.name.replace("_label", "")), cv2.IMREAD_UNCHANGED)
    assert defective is not None
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0001.png"), np.tile(defective, (10, 40)))
    cv2.imwrite(str(folder / "0002.png"), defective)
    with Subscriber(broker.port, "edge-inspect/+/+/result") as sub:
        limits = ("source.max_pixels=200000000", "watchdog.inference_timeout_s=1")
        daemon = start_daemon(CONFIG, replay_once(broker, folder, tmp_path / "state", *limits))
        try:
            out, _ = daemon.communicate(timeout=180)
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait(10)
        assert sub.wait_for(lambda m: len(m) >= 2, timeout=20)
        results = {Path(r["source"]["path"]).name: r for r in (json.loads(m.payload) for m in sub.messages)}
    assert daemon.returncode == 0, out
    assert "the engine was restarted" in str(results["0001.png"]["error"])
    assert results["0002.png"]["verdict"] == "NG"  # the fresh engine inspects the next frame
    assert "left behind" not in out
    assert "FATAL" not in out
