"""Fault test 3: corrupt files mixed into a 2,000+ frame replay. Each bad file gives one ERROR result that
names it, every good file gives a PASS/NG result, the daemon stays up to the end, and the counts add up
(on the wire, in the daemon's own stats, and per file).
"""

from __future__ import annotations

import collections
import os
import time
import zlib
from pathlib import Path

import pytest

from tests.integration.faults.harness import (
    Daemon,
    DepthProbe,
    Figures,
    loops_for,
    mes_subscriber,
    persistent_broker,
    results,
    sample_images,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.slow  # 2,000+ frames each; deselect with -m 'not slow'

FPS = 150.0


def corrupt_files(folder: Path, good: Path) -> list[str]:
    """Write the kinds of broken file a line produces; returns their names."""
    data = good.read_bytes()
    broken_idat = bytearray(data)
    start = data.index(b"IDAT") + 8
    broken_idat[start : start + 64] = os.urandom(64)  # right header, scrambled pixels (CRC now wrong)
    bad = {
        "zz_empty.png": b"",
        "zz_truncated.png": data[: len(data) // 3],
        "zz_garbage.png": os.urandom(4096),
        "zz_text.png": b"this is a log file, not an image\n" * 20,
        "zz_scrambled.png": bytes(broken_idat),
        "zz_header_only.bmp": b"BM" + b"\0" * 12,
        "zz_deflate_bomb.png": data[:33] + zlib.compress(b"\0" * 10_000)[:40],
    }
    for name, content in bad.items():
        (folder / name).write_bytes(content)
    return sorted(bad)


def test_given_corrupt_files_in_the_replay_then_one_error_each_and_the_counts_add_up(tmp_path: Path) -> None:
    images = sample_images()
    folder = tmp_path / "mixed"
    folder.mkdir()
    for image in images:
        (folder / image.name).symlink_to(image)
    bad = corrupt_files(folder, images[0])
    per_pass = len(images) + len(bad)
    loops = loops_for(per_pass)
    frames = loops * per_pass
    started = time.monotonic()
    with persistent_broker(tmp_path / "broker") as broker:
        config = write_config(
            tmp_path, port=broker.port, images=folder, frames_loop=loops, fps=FPS, scratch=tmp_path
        )
        daemon = Daemon(config, tmp_path / "daemon.log")
        with mes_subscriber(broker.port) as sub, DepthProbe(tmp_path / "state" / "outbox.sqlite3") as probe:
            daemon.start()
            code = daemon.wait(timeout=240)
            done = wait_until(lambda: len(sub.on("/result")) >= frames, timeout=30)
    elapsed = time.monotonic() - started

    got = results(sub)
    by_file: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for result in got:
        by_file[Path(result["source"]["path"]).name][result["verdict"]] += 1
    errors = [r for r in got if r["verdict"] == "ERROR"]
    [stopped] = daemon.events("stopped")
    figures = Figures(
        test="corrupt_files",
        frames=frames,
        results_received=len(got),
        unique_received=len({r["result_id"] for r in got}),
        lost=frames - len({r["result_id"] for r in got}),
        duplicated=len(got) - len({r["result_id"] for r in got}),
        outbox_peak=probe.peak,
        replayed_received=sum(1 for r in got if r["resent"]),
        faults=len(bad) * loops,
        seconds=round(elapsed, 1),
        extra={
            "errors": len(errors),
            "bad_files": bad,
            "per_file_verdicts": {n: dict(by_file[n]) for n in bad},
        },
    )
    figures.report(tmp_path)

    assert code == 0  # alive to the end
    assert done
    assert len(got) == frames
    assert stopped["frames"] == frames
    assert sorted(r["seq"] for r in got) == list(range(frames))
    for name in bad:
        assert by_file[name] == {"ERROR": loops}, name
    for image in images:
        assert by_file[image.name]["ERROR"] == 0, image.name
        assert sum(by_file[image.name].values()) == loops
    assert len(errors) == len(bad) * loops
    for result in errors:
        assert Path(result["source"]["path"]).name in result["error"]
