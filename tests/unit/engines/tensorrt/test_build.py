"""Building a plan: which artifact, which builder settings per precision, and clear errors.

The artifact choice and shapes are pure. The builder calls are checked against the FAKE tensorrt module
from ``trt_fakes`` (it records the flags, pools and profiles it is given); the ONNX files are real.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_inspect.engines.tensorrt.build import (
    BuildOptions,
    build_serialized_plan,
    onnx_artifact,
    pick_artifact,
    profile_shapes,
    tile_shape,
)
from edge_inspect.engines.tensorrt.cuda import make_trt_logger
from edge_inspect.errors import EngineError
from edge_inspect.model import load_package
from edge_inspect.model.manifest import InputSpec
from edge_inspect.model.package import ModelPackage
from tests.helpers.tiny_model import make_tiny_package, write_tiny_manifest
from tests.unit.engines.trt_fakes import (
    BuilderFlag,
    BuilderFlagWithoutPrecision,
    FakeCuda,
    FakeTensorRT,
    MemoryPoolType,
)

SIZE = 32
PROFILE = ((1, 1, SIZE, SIZE), (4, 1, SIZE, SIZE), (8, 1, SIZE, SIZE))


@pytest.fixture
def package(tmp_path: Path) -> ModelPackage:
    return load_package(make_tiny_package(tmp_path / "pkg", size=SIZE, variants=("fp32", "onnx")))


@pytest.fixture
def trt() -> Iterator[FakeTensorRT]:
    cuda = FakeCuda()
    context = cuda.Device(0).retain_primary_context()
    context.push()
    yield FakeTensorRT(cuda)
    cuda.Context.pop()


def options(precision: str = "fp16", **changes: Any) -> BuildOptions:
    fields: dict[str, Any] = {
        "precision": precision,
        "workspace_mib": 256,
        "optimization_level": 2,
        "input_name": "image",
        "profile": PROFILE,
        "calibration_batch": 2,
    }
    fields.update(changes)
    return BuildOptions(**fields)


# ----------------------------------------------------------------------------------------- the artifact


def test_given_no_choice_when_the_default_is_an_openvino_ir_then_the_onnx_artifact_is_run(
    package: ModelPackage,
) -> None:
    assert package.manifest.default_variant == "fp32"
    assert pick_artifact(package, None, None)[0] == "onnx"
    assert pick_artifact(package, "fp32", None)[0] == "onnx"


def test_given_model_variant_onnx_or_engine_artifact_when_picked_then_that_one(package: ModelPackage) -> None:
    assert pick_artifact(package, "onnx", None)[0] == "onnx"
    assert pick_artifact(package, "fp32", "onnx")[0] == "onnx"


def test_given_an_engine_artifact_that_is_not_runnable_when_picked_then_the_error_says_why(
    package: ModelPackage,
) -> None:
    with pytest.raises(EngineError, match=r"engine.artifact 'fp32' is format 'openvino'; TensorRT runs onnx"):
        pick_artifact(package, None, "fp32")
    with pytest.raises(EngineError, match=r"engine.artifact 'int4': .*has artifacts \['fp32', 'onnx'\]"):
        pick_artifact(package, None, "int4")


def test_given_a_package_without_onnx_when_picked_then_the_error_names_the_manifest(tmp_path: Path) -> None:
    ir_only = load_package(make_tiny_package(tmp_path / "ir", size=SIZE, variants=("fp32",)))
    assert onnx_artifact(ir_only) is None
    with pytest.raises(EngineError, match=r"manifest.yaml: no 'onnx' or 'tensorrt-plan' artifact"):
        pick_artifact(ir_only, None, None)


def test_given_a_prebuilt_plan_artifact_when_named_by_the_variant_then_it_is_run(tmp_path: Path) -> None:
    root = make_tiny_package(tmp_path / "pkg", size=SIZE, variants=("onnx",))
    (root / "t4.plan").write_bytes(b"plan")
    artifacts = {
        "onnx": {"format": "onnx", "path": "onnx/model.onnx", "precision": "fp32"},
        "t4": {"format": "tensorrt-plan", "path": "t4.plan", "precision": "fp16"},
    }
    write_tiny_manifest(root, "segmentation", SIZE, artifacts)
    name, artifact = pick_artifact(load_package(root), "t4", None)
    assert (name, artifact.format) == ("t4", "tensorrt-plan")


@pytest.mark.parametrize(("layout", "tile"), [("NCHW", (3, 48, 64)), ("NHWC", (48, 64, 3))])
def test_given_a_layout_when_shaped_then_the_profile_spans_one_to_max_batch(
    layout: str, tile: tuple[int, ...]
) -> None:
    spec = InputSpec(name="x", width=64, height=48, channels=3, color_order="bgr", layout=layout)  # type: ignore[arg-type]
    assert tile_shape(spec) == tile
    assert profile_shapes(spec, 8, None) == ((1, *tile), (8, *tile), (8, *tile))
    assert profile_shapes(spec, 8, 2) == ((1, *tile), (2, *tile), (8, *tile))


# -------------------------------------------------------------------------------- the builder (FAKE TRT)


def test_given_fp32_when_built_then_no_reduced_precision_not_even_tf32_and_the_profile_and_pool_are_set(
    trt: FakeTensorRT, package: ModelPackage
) -> None:
    plan = build_serialized_plan(trt, make_trt_logger(trt), package.artifact_path("onnx"), options("fp32"))
    assert plan.startswith(b"FAKEPLAN")
    config = trt.builds[-1]["config"]
    assert config.flags == set()
    assert config.pools == {MemoryPoolType.WORKSPACE: 256 << 20}
    assert config.builder_optimization_level == 2
    assert [p.shapes for p in config.profiles] == [{"image": PROFILE}]
    assert config.int8_calibrator is None


def test_given_fp16_when_built_then_the_fp16_flag_is_set(trt: FakeTensorRT, package: ModelPackage) -> None:
    build_serialized_plan(trt, make_trt_logger(trt), package.artifact_path("onnx"), options("fp16"))
    assert trt.builds[-1]["config"].flags == {BuilderFlag.TF32, BuilderFlag.FP16}


def test_given_int8_when_built_then_int8_and_fp16_flags_a_calibrator_and_a_fixed_calibration_profile(
    trt: FakeTensorRT, package: ModelPackage
) -> None:
    made: list[tuple[int, ...]] = []

    class Calibrator:
        error = None
        freed = False

        def read_calibration_cache(self) -> bytes:
            return b"cached table"

        def free(self) -> None:
            self.freed = True

    calibrator = Calibrator()

    def make_calibrator(shape: tuple[int, ...]) -> Calibrator:
        made.append(shape)
        return calibrator

    build_serialized_plan(
        trt, make_trt_logger(trt), package.artifact_path("onnx"), options("int8"), make_calibrator
    )
    config = trt.builds[-1]["config"]
    assert config.flags == {BuilderFlag.TF32, BuilderFlag.FP16, BuilderFlag.INT8}
    assert made == [(2, 1, SIZE, SIZE)]
    assert config.int8_calibrator is calibrator
    assert config.calibration_profile.shapes == {"image": ((2, 1, SIZE, SIZE),) * 3}
    assert calibrator.freed


def test_given_a_calibrator_that_failed_when_built_then_its_error_is_raised(
    trt: FakeTensorRT, package: ModelPackage
) -> None:
    class Failed:
        error = EngineError("calibration image /x/cal-001.png: truncated PNG")

        def read_calibration_cache(self) -> None:
            return None

        def get_batch_size(self) -> int:
            return 2

        def get_batch(self, names: list[str]) -> None:
            return None

        def free(self) -> None:
            pass

    with pytest.raises(EngineError, match=r"int8 calibration failed: calibration image /x/cal-001.png"):
        build_serialized_plan(
            trt, make_trt_logger(trt), package.artifact_path("onnx"), options("int8"), lambda _s: Failed()
        )


def test_given_an_onnx_the_parser_refuses_when_built_then_the_error_names_the_file_and_the_parser_says(
    trt: FakeTensorRT, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage")
    with pytest.raises(
        EngineError, match=r"broken.onnx: TensorRT's ONNX parser refused the model: ModelImporter"
    ):
        build_serialized_plan(trt, make_trt_logger(trt), broken, options())


def test_given_a_build_that_returns_nothing_when_built_then_tensorrts_logged_error_is_in_the_message(
    trt: FakeTensorRT, package: ModelPackage
) -> None:
    trt.fail_build = True
    with pytest.raises(
        EngineError, match=r"could not build .*model.onnx at fp16: fake builder: no implementation"
    ):
        build_serialized_plan(trt, make_trt_logger(trt), package.artifact_path("onnx"), options())


def test_given_an_input_name_other_than_the_manifests_when_built_then_both_are_named(
    trt: FakeTensorRT, package: ModelPackage
) -> None:
    with pytest.raises(EngineError, match=r"inputs \['image'\]; the manifest's input is 'pixels'"):
        build_serialized_plan(
            trt, make_trt_logger(trt), package.artifact_path("onnx"), options(input_name="pixels")
        )


def test_given_tensorrt_11_without_precision_flags_when_fp16_is_built_then_the_error_says_what_to_use(
    trt: FakeTensorRT, package: ModelPackage
) -> None:
    trt.__version__ = "11.4.0"
    trt.BuilderFlag = BuilderFlagWithoutPrecision
    with pytest.raises(
        EngineError, match=r"TensorRT 11.4.0 has no BuilderFlag.FP16 .*use TensorRT 10, or precision fp32"
    ):
        build_serialized_plan(trt, make_trt_logger(trt), package.artifact_path("onnx"), options("fp16"))
