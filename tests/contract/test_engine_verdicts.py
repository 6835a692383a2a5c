"""Every engine and variant gives OpenVINO FP32's verdicts on the sample set, through the daemon's own path.

Preprocessing, stitching and the decision rules are the daemon's (``FrameInspector`` with the manifest's
defaults), so a difference here is a difference a station would publish.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from edge_inspect.config.decision import DecisionConfig
from edge_inspect.decision import resolve_rules
from edge_inspect.decision.frame import make_finish
from edge_inspect.engines import open_engine
from edge_inspect.model import ModelPackage, load_package
from edge_inspect.preprocess import Preprocessor, preprocess_input
from edge_inspect.runtime.inspector import FrameInspector
from edge_inspect.sources.decode import decode_image
from edge_inspect.types import Decision, Engine, Frame, SourceInfo
from tests.contract.cases import OPENVINO, SAMPLE_DIR, Opened, shipped_package
from tests.contract.compare import SCORE_TOLERANCE, assert_same_verdicts

pytestmark = pytest.mark.timeout(600)


def sample_frames() -> list[Frame]:
    """The sample set's images as frames, in name order, decoded as the replay source decodes them."""
    images = sorted(p for p in SAMPLE_DIR.iterdir() if p.suffix.lower() == ".png")
    return [
        Frame(
            seq=i,
            camera="contract",
            captured_at=0.0,
            monotonic=0.0,
            source=SourceInfo(kind="replay", path=str(path), index=i),
            image=decode_image(path.read_bytes(), str(path)),
        )
        for i, path in enumerate(images)
    ]


def decisions(package: ModelPackage, engine: Engine, frames: list[Frame]) -> list[Decision]:
    """The daemon's own path (preprocess, engine, stitch, rules with the manifest's defaults) per frame."""
    manifest = package.manifest
    rules = resolve_rules(manifest.decision, manifest.output, DecisionConfig())
    spec = preprocess_input(manifest.input, engine.input_spec.dtype)
    inspector = FrameInspector(Preprocessor(spec), engine, make_finish(package.manifest.output, rules))
    return [inspector.inspect(frame) for frame in frames]


@functools.cache
def reference_decisions(root: Path) -> tuple[list[str], list[Decision]]:
    """OpenVINO FP32's decisions on the sample set, computed once per package."""
    package = load_package(root)
    frames = sample_frames()
    engine = open_engine(OPENVINO, package, "fp32")
    try:
        return [Path(f.source.path or "").name for f in frames], decisions(package, engine, frames)
    finally:
        engine.close()


def test_verdicts_on_the_sample_set_match_openvino_fp32(
    opened: Opened, request: pytest.FixtureRequest
) -> None:
    if opened.case.package is not shipped_package:
        pytest.skip("the sample set models/dagm-sample is for the shipped model")
    if not SAMPLE_DIR.is_dir():
        pytest.skip("the sample set models/dagm-sample is missing")
    variant, artifact = opened.package.artifact(opened.case.variant)
    if opened.case.config == OPENVINO and variant == "fp32":
        pytest.skip("this case is the reference")
    precision = opened.case.compute or artifact.precision
    # Given the sample set, when the daemon's path runs it on this engine and on OpenVINO FP32
    names, reference = reference_decisions(opened.package.root)
    candidate = decisions(opened.package, opened.engine, sample_frames())
    # then every verdict is the same, and every image score within the precision's tolerance
    assert_same_verdicts(names, reference, candidate, SCORE_TOLERANCE[precision])
