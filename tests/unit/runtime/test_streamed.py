"""Frames of many tiles streamed through the real OpenVINO engine: folded a request at a time, with the
same decision as all at once; a failed, or abandoned, streamed frame gives every request back."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspect.config.decision import DecisionConfig
from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.config.sources import ReplaySourceConfig
from edge_inspect.errors import EngineError
from edge_inspect.model import load_package
from edge_inspect.preprocess.preprocessor import PACK_ON_DEMAND_TILES
from edge_inspect.runtime.inspector import FrameInspector
from edge_inspect.runtime.pipeline import Pipeline
from edge_inspect.runtime.stats import Stats
from edge_inspect.runtime.streamed import StreamedFrame
from edge_inspect.sources.replay import ReplaySource
from edge_inspect.station.inspection import build_inspector
from edge_inspect.station.results import ResultBuilder
from edge_inspect.types import Decision, FloatArray, Frame, SourceInfo, Verdict
from tests.helpers.sinks import Collect, NoStatus
from tests.helpers.tiny_model import make_tiny_package

WIDTH, HEIGHT = 304, 288
"""6 x 6 tiles of the tiny 64 x 64 model (overlap 16): streamed."""
REQUESTS = 2


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[FrameInspector, object]]:
    package = load_package(make_tiny_package(tmp_path / "model", size=64))
    engine = OpenVINOEngineConfig(type="openvino", num_requests=REQUESTS)
    inspector, _rules = build_inspector(package, engine, DecisionConfig(), variant="fp32")
    yield inspector, package
    inspector.engine.close()


def image(seed: int) -> np.ndarray:
    pixels = np.full((HEIGHT, WIDTH), 40, np.uint8)
    rng = np.random.default_rng(seed)
    for _ in range(3):  # bright squares (defects) across tile borders
        x, y = int(rng.integers(0, WIDTH - 30)), int(rng.integers(0, HEIGHT - 30))
        pixels[y : y + 22, x : x + 26] = 230
    return pixels


def frame(pixels: np.ndarray, seq: int = 0) -> Frame:
    return Frame(
        seq=seq, camera="cam-1", captured_at=0.0, monotonic=0.0, source=SourceInfo("replay"), image=pixels
    )


def all_at_once(inspector: FrameInspector, pixels: np.ndarray) -> Decision:
    prepared = inspector.prepare(frame(pixels))
    return inspector.finish(prepared, inspector.engine.infer(prepared.rows()))


def test_given_frames_of_many_tiles_when_the_pipeline_runs_then_they_decide_as_all_at_once(
    tmp_path: Path, parts: tuple[FrameInspector, object]
) -> None:
    inspector, package = parts
    folder = tmp_path / "frames"
    folder.mkdir()
    images = [image(seed) for seed in range(4)]
    for index, pixels in enumerate(images):
        cv2.imwrite(str(folder / f"{index:04d}.png"), pixels)
    prepared = inspector.prepare(frame(images[0]))
    assert prepared.tiles > PACK_ON_DEMAND_TILES
    assert inspector.finish.fold(prepared) is not None  # so the pipeline streams it

    source = ReplaySource(
        ReplaySourceConfig(type="replay", path=str(folder), ground_truth=None), "cam-1", NoStatus()
    )
    source.open()
    sink = Collect()
    builder = ResultBuilder("st", "cam-1", package.identity("fp32"), {"defect": 0.5}, "abc")  # type: ignore[attr-defined]
    pipeline = Pipeline(source, inspector, builder, [sink], Stats(), queue_size=2)
    pipeline.start()
    assert pipeline.join(timeout=60)
    source.close()

    assert [r.seq for r in sink.results] == [0, 1, 2, 3]
    for result, pixels in zip(sink.results, images, strict=True):
        expected = all_at_once(inspector, pixels)
        assert result.verdict is expected.verdict is Verdict.NG, result.error
        assert result.decision is not None
        assert [d.bbox for d in result.decision.defects] == [d.bbox for d in expected.defects]


class _Rows:
    """A fold that takes rows, and fails on the ``fail_at``-th request."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.added: list[FloatArray] = []
        self.fail_at = fail_at

    def add(self, rows: FloatArray) -> None:
        if len(self.added) == self.fail_at:
            raise EngineError("rows did not fit")
        self.added.append(rows.copy())

    def decide(self) -> Decision:
        return Decision(Verdict.PASS, ())


def _start_within(inspector: FrameInspector, timeout: float) -> bool:
    """Whether a request can be started (and released) within ``timeout``: none is left held."""
    started = threading.Event()

    def start() -> None:
        pending = inspector.engine.start(inspector.prepare(frame(image(9)[:64, :64])).rows())
        pending.wait()
        pending.release()
        started.set()

    threading.Thread(target=start, daemon=True).start()
    return started.wait(timeout)


def test_given_a_streamed_frame_whose_rows_do_not_fit_then_every_request_it_held_goes_back_to_the_pool(
    parts: tuple[FrameInspector, object],
) -> None:
    inspector, _ = parts
    prepared = inspector.prepare(frame(image(3)))
    stream = StreamedFrame(_Rows(fail_at=0), prepared.tiles)
    for first in range(REQUESTS):  # every request of the engine held by the frame
        assert stream.add(inspector.engine.start(prepared.rows(first, 1)))
    with pytest.raises(EngineError, match="rows did not fit"):
        stream.fold_ready(10)
    assert stream.ended
    late = inspector.engine.start(prepared.rows(REQUESTS, 1))
    assert not stream.add(late)  # what comes after the end is given back too
    # this engine goes on: a request released while it ran would stay out of its pool until close
    for _ in range(3):
        assert _start_within(inspector, 10), "a request was left out of the pool"


def test_given_an_abandoned_streamed_frame_then_its_engine_closes_at_once(
    parts: tuple[FrameInspector, object],
) -> None:
    inspector, _ = parts
    prepared = inspector.prepare(frame(image(4)))
    stream = StreamedFrame(_Rows(), prepared.tiles)
    for first in range(REQUESTS):
        assert stream.add(inspector.engine.start(prepared.rows(first, 1)))
    stream.close()  # an engine restart gave the frame up: its engine is closed next
    assert not stream.fold_ready(0.1)
    closed = threading.Event()

    def close() -> None:
        inspector.engine.close()
        closed.set()

    threading.Thread(target=close, daemon=True).start()
    assert closed.wait(10), "the engine of an abandoned streamed frame did not close"


def test_given_requests_in_order_when_folded_then_rows_arrive_in_tile_order(
    parts: tuple[FrameInspector, object],
) -> None:
    inspector, _ = parts
    prepared = inspector.prepare(frame(image(5)))
    fold = _Rows()
    stream = StreamedFrame(fold, prepared.tiles)

    def infer_thread() -> None:
        for first in range(prepared.tiles):
            if not stream.add(inspector.engine.start(prepared.rows(first, 1))):
                return

    thread = threading.Thread(target=infer_thread, daemon=True)
    thread.start()
    while not stream.fold_ready(0.1):
        pass
    thread.join(10)
    whole = inspector.engine.infer(prepared.rows())
    assert len(fold.added) == prepared.tiles
    np.testing.assert_allclose(np.concatenate(fold.added), whole, atol=1e-5)
    assert stream.done()
