"""make_finish: raw engine output -> decision, the same whether logits are decided directly or not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge_inspect.decision.activation import sigmoid
from edge_inspect.decision.frame import make_finish
from edge_inspect.decision.rules import Rules
from edge_inspect.decision.segmentation import decide_segmentation
from edge_inspect.errors import EngineOutputError
from edge_inspect.model.manifest import InputSpec, OutputSpec
from edge_inspect.preprocess import Preprocessor, stitch
from edge_inspect.preprocess.stitch import is_identity
from edge_inspect.types import Frame, Prepared, SourceInfo, Verdict


def prepared(frame_width: int, frame_height: int, **spec: Any) -> Prepared:
    fields: dict[str, Any] = {
        "name": "image",
        "width": 64,
        "height": 64,
        "channels": 1,
        "color_order": "gray",
    }
    preprocessor = Preprocessor(InputSpec.model_validate({**fields, **spec}))
    image = np.zeros((frame_height, frame_width), dtype=np.uint8)
    return preprocessor(
        Frame(seq=0, camera="c", captured_at=0.0, monotonic=0.0, source=SourceInfo("replay"), image=image)
    )


def output(activation: str = "sigmoid") -> OutputSpec:
    return OutputSpec(name="logits", kind="segmentation", activation=activation, classes=("defect",))


RULES = Rules(
    kind="segmentation",
    classes=("defect",),
    thresholds=(0.9,),
    min_area_px=(4,),
    score_threshold=0.5,
    max_defects=0,
)


def logits_for(frame: Prepared, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = frame.tiles
    raw = rng.normal(-4.0, 1.0, (n, 1, 64, 64)).astype(np.float32)
    raw[:, :, 20:30, 10:24] = rng.normal(4.0, 1.0, (n, 1, 10, 14))  # one confident region per tile
    return raw


@pytest.mark.parametrize(
    ("size", "spec", "direct"),
    [
        ((64, 64), {}, True),  # the frame goes through whole: logits are decided directly
        ((128, 64), {"fit": "tile", "tile_overlap": 0}, False),  # two tiles
        ((96, 80), {"fit": "resize"}, False),  # resized back to the frame
    ],
)
def test_given_a_frame_when_finished_then_the_decision_is_that_of_the_stitched_probabilities(
    size: tuple[int, int], spec: dict[str, Any], direct: bool
) -> None:
    frame = prepared(*size, **spec)
    raw = logits_for(frame, seed=size[0])
    assert is_identity(frame.geometry, (64, 64)) is direct

    decision = make_finish(output(), RULES)(frame, raw)

    reference = decide_segmentation(stitch(sigmoid(raw), frame.geometry), RULES)
    assert decision.verdict is reference.verdict
    assert decision.masks is not None
    assert reference.masks is not None
    assert decision.masks.shape == (size[1], size[0])
    assert np.array_equal(decision.masks, reference.masks)
    assert [d.area_px for d in decision.defects] == [d.area_px for d in reference.defects]
    assert decision.score == pytest.approx(reference.score, abs=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_given_non_finite_logits_when_finished_directly_then_engine_output_error(bad: float) -> None:
    frame = prepared(64, 64)
    raw = logits_for(frame, seed=1)
    raw[0, 0, 5, 5] = bad

    with pytest.raises(EngineOutputError, match="non-finite"):
        make_finish(output(), RULES)(frame, raw)


def test_given_a_minus_inf_logit_when_finished_directly_then_it_is_decided_as_background() -> None:
    # given logits with -Inf (sigmoid 0) inside and beside the confident region
    frame = prepared(64, 64)
    raw = logits_for(frame, seed=3)
    raw[0, 0, 25, 15] = raw[0, 0, 50, 50] = -np.inf
    finite = np.where(np.isinf(raw), np.float32(-1e4), raw)
    # when decided on the one-pass path
    decision = make_finish(output(), RULES)(frame, raw)
    # then it is the decision of a very confident background there
    reference = decide_segmentation(sigmoid(finite)[0], RULES)
    assert decision.verdict is reference.verdict
    assert decision.masks is not None
    assert reference.masks is not None
    assert np.array_equal(decision.masks, reference.masks)
    assert [d.area_px for d in decision.defects] == [d.area_px for d in reference.defects]
    assert decision.score == pytest.approx(reference.score, abs=1e-6)


def test_given_a_whole_frame_when_stitched_then_the_tile_map_itself_comes_back() -> None:
    frame = prepared(64, 64)
    raw = logits_for(frame, seed=2)

    assert np.shares_memory(stitch(raw, frame.geometry), raw)


@pytest.mark.parametrize(
    ("size", "tile"),
    [
        ((640, 576), 64),  # 10 x 9 tiles: many, packed on demand, decided at frame resolution
        ((4352, 4096), 512),  # 17.8 MP, beyond DECISION_MAX_PIXELS: decided on the scaled map
    ],
)
def test_given_a_frame_of_many_tiles_when_folded_a_request_at_a_time_then_it_decides_as_all_at_once(
    size: tuple[int, int], tile: int
) -> None:
    frame = prepared(*size, fit="tile", tile_overlap=8, width=tile, height=tile)
    assert frame.pack is not None  # the tiles are cut on demand: no tensor of the whole frame
    assert frame.tensor.shape[0] == 0
    raw = logits_for(frame, seed=7)
    finish = make_finish(output(), RULES)
    fold = finish.fold(frame)
    assert fold is not None
    for first in range(0, frame.tiles, 3):  # three tiles per request
        fold.add(raw[first : first + 3])
    folded = fold.decide()
    whole = finish(frame, raw)
    assert folded.verdict is whole.verdict is Verdict.NG
    assert [(d.bbox, d.area_px) for d in folded.defects] == [(d.bbox, d.area_px) for d in whole.defects]
    assert folded.score == pytest.approx(whole.score)


def test_given_a_fold_short_of_tiles_when_decided_then_it_is_an_engine_output_error() -> None:
    frame = prepared(640, 576, fit="tile", tile_overlap=8)
    fold = make_finish(output(), RULES).fold(frame)
    assert fold is not None
    fold.add(logits_for(frame, seed=1)[:5])
    with pytest.raises(EngineOutputError, match=r"5 of \d+ tile maps were stitched"):
        fold.decide()
