"""``edge-inspect demo``: the replay config's engine settings, any ``--set``, a non-zero exit on failure."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.helpers.daemon import ROOT, run_cli


def _replay_engine() -> dict[str, object]:
    data = yaml.safe_load((ROOT / "config" / "replay.yaml").read_text(encoding="utf-8"))
    engine: dict[str, object] = data["engine"]
    return engine


def test_given_an_engine_override_when_the_demo_runs_then_its_header_names_the_tuned_engine() -> None:
    proc = run_cli("demo", "--set", "engine.num_requests=3", "--set", "source.fps=40")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    header = proc.stdout.splitlines()[1]
    engine = _replay_engine()
    # replay.yaml's settings (precision, streams) with the override on top (requests)
    assert "variant int8" in header
    assert f"engine {engine['type']}" in header
    assert f"precision {engine['precision']}" in header
    assert f"streams {engine['num_streams']}" in header
    assert "requests 3" in header
    assert re.search(r"mqtt +40/40 results received", proc.stdout), proc.stdout
    assert "inference   p50" in proc.stdout
    assert "the replay offers frames as fast" not in proc.stdout  # paced: no queue to explain


def test_given_an_unpaced_demo_when_it_ends_then_the_queue_in_its_latency_is_explained() -> None:
    proc = run_cli("demo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "capture to result measures that queue" in proc.stdout


def test_given_a_bad_override_when_the_demo_starts_then_it_names_the_override_and_exits_2() -> None:
    proc = run_cli("demo", "--set", "engine.num_requests=abc")
    assert proc.returncode == 2
    assert "--set engine.num_requests=abc: engine.num_requests" in proc.stderr


def test_given_samples_that_do_not_exist_when_the_demo_starts_then_it_exits_non_zero(tmp_path: Path) -> None:
    proc = run_cli("demo", "--samples", str(tmp_path / "missing"))
    assert proc.returncode != 0
    assert "missing" in proc.stderr
