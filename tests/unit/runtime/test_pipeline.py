"""The stage threads end to end on real parts: replayed PNG files, the tiny real OpenVINO model, decision.

Given frames written to disk (bright square = defect), when the pipeline runs, then every frame gives exactly
one result, in order of seq, with the right verdicts; a corrupt file is one ERROR result; a failing sink
is counted and never stops the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspect.config.decision import DecisionConfig
from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.config.sources import ReplaySourceConfig
from edge_inspect.decision.rules import Rules
from edge_inspect.model import ModelPackage, load_package
from edge_inspect.runtime.inspector import FrameInspector
from edge_inspect.runtime.pipeline import Pipeline
from edge_inspect.runtime.stats import Stats
from edge_inspect.sources.replay import ReplaySource
from edge_inspect.station.inspection import build_inspector
from edge_inspect.station.results import ResultBuilder
from edge_inspect.types import InspectionResult, ResultSink, Verdict
from tests.helpers.sinks import Collect, NoStatus
from tests.helpers.tiny_model import make_tiny_package

SIZE = 64


class Broken:
    name = "broken"

    def handle(self, result: InspectionResult) -> None:
        raise RuntimeError("disk on fire")

    def close(self) -> None:
        return None


def write_frames(folder: Path, count: int) -> dict[str, Verdict]:
    truth = {}
    for i in range(count):
        image = np.full((SIZE, SIZE), 40, np.uint8)
        name = f"{i:04d}.png"
        if i % 3 == 0:
            image[20:30, 20:30] = 230
            truth[name] = Verdict.NG
        else:
            truth[name] = Verdict.PASS
        cv2.imwrite(str(folder / name), image)
    return truth


Parts = tuple[ModelPackage, FrameInspector, Rules]


@pytest.fixture
def inspector(tmp_path: Path) -> Iterator[Parts]:
    package = load_package(make_tiny_package(tmp_path / "model", size=SIZE))
    inspector, rules = build_inspector(
        package, OpenVINOEngineConfig(type="openvino"), DecisionConfig(), variant="fp32"
    )
    yield package, inspector, rules
    inspector.engine.close()


def run_pipeline(
    tmp_path: Path,
    inspector_parts: Parts,
    sinks: Sequence[ResultSink],
    count: int = 12,
    thread_init: Callable[[], object] = lambda: None,
) -> tuple[dict[str, Verdict], Stats]:
    package, inspector, _rules = inspector_parts
    folder = tmp_path / "frames"
    folder.mkdir()
    truth = write_frames(folder, count)
    (folder / "9999.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    source = ReplaySource(
        ReplaySourceConfig(type="replay", path=str(folder), ground_truth=None), "cam-1", NoStatus()
    )
    source.open()
    stats = Stats()
    builder = ResultBuilder("st", "cam-1", package.identity("fp32"), {"defect": 0.5}, "abc")
    pipeline = Pipeline(source, inspector, builder, sinks, stats, queue_size=2, thread_init=thread_init)
    pipeline.start()
    assert pipeline.join(timeout=60)
    source.close()
    return truth, stats


def test_given_frames_and_a_corrupt_file_when_run_then_one_result_each(
    tmp_path: Path, inspector: Parts
) -> None:
    sink = Collect()
    truth, stats = run_pipeline(tmp_path, inspector, [sink])

    assert len(sink.results) == len(truth) + 1
    assert sorted(r.seq for r in sink.results) == list(range(len(truth) + 1))
    by_name = {Path(r.source.path or "").name: r for r in sink.results}
    for name, verdict in truth.items():
        assert by_name[name].verdict is verdict, name
        assert by_name[name].timings_ms["total"] > 0
    broken = by_name["9999.png"]
    assert broken.verdict is Verdict.ERROR
    assert broken.error is not None
    assert "9999.png" in broken.error
    counters = stats.snapshot()["counters"]
    assert counters["frames"] == len(truth) + 1
    assert counters["errors"] == 1
    assert counters["verdict.NG"] == sum(v is Verdict.NG for v in truth.values())


def test_given_a_failing_sink_when_run_then_the_other_sinks_get_every_result(
    tmp_path: Path, inspector: Parts
) -> None:
    sink = Collect()
    truth, stats = run_pipeline(tmp_path, inspector, [Broken(), sink], count=5)
    assert len(sink.results) == len(truth) + 1
    assert stats.counter("sink_errors.broken") == len(truth) + 1


def test_given_a_thread_init_when_run_then_each_stage_thread_calls_it_once(
    tmp_path: Path, inspector: Parts
) -> None:
    called: list[str] = []

    def init() -> None:
        called.append(threading.current_thread().name)

    sink = Collect()
    truth, _stats = run_pipeline(tmp_path, inspector, [sink], count=4, thread_init=init)

    assert len(sink.results) == len(truth) + 1
    assert sorted(called) == ["stage-decide", "stage-infer", "stage-preprocess", "stage-source"]
