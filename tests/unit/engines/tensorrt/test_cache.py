"""The TensorRT plan cache: the key, the atomic store, and load-or-build with its log lines (pure, no GPU)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from edge_inspect.engines.tensorrt.cache import (
    PlanKey,
    PlanStore,
    atomic_write_bytes,
    load_or_build,
    make_plan_key,
    slug,
)
from edge_inspect.errors import EngineError

PROFILE = ((1, 1, 64, 64), (8, 1, 64, 64), (8, 1, 64, 64))


def key(**changes: Any) -> PlanKey:
    fields: dict[str, Any] = {
        "model_name": "dagm-unet-1.0.0",
        "model_sha256": "ab" * 32,
        "tensorrt_version": "10.3.0",
        "gpu_name": "Tesla T4",
        "compute_capability": (7, 5),
        "precision": "fp16",
        "input_name": "image",
        "input_shapes": PROFILE,
        "builder_options": {"workspace_mib": 1024, "optimization_level": 3},
    }
    fields.update(changes)
    return make_plan_key(**fields)


class Clock:
    """A clock the test moves: each call advances by ``step`` seconds."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 100.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


# ------------------------------------------------------------------------------------------------ the key


def test_given_the_same_inputs_when_keyed_twice_then_the_file_name_is_the_same() -> None:
    options_in_another_order = {"optimization_level": 3, "workspace_mib": 1024}
    assert key().file_name() == key(builder_options=options_in_another_order).file_name()


def test_given_a_key_when_named_then_the_name_says_model_precision_gpu_and_version() -> None:
    name = key().file_name()
    assert name.startswith("dagm-unet-1.0.0-fp16-sm75-trt10.3.0-")
    assert name.endswith(".plan")
    assert key().digest()[:16] in name


@pytest.mark.parametrize(
    "change",
    [
        {"model_sha256": "cd" * 32},
        {"tensorrt_version": "10.4.0"},
        {"gpu_name": "NVIDIA L4"},
        {"compute_capability": (8, 9)},
        {"precision": "int8"},
        {"input_shapes": ((1, 1, 64, 64), (4, 1, 64, 64), (8, 1, 64, 64))},
        {"builder_options": {"workspace_mib": 512, "optimization_level": 3}},
        {"builder_options": {"workspace_mib": 1024, "optimization_level": 3, "calibration": "x"}},
    ],
    ids=lambda change: next(iter(change)),
)
def test_given_any_input_of_the_key_changes_when_named_then_the_file_name_changes(
    change: dict[str, Any],
) -> None:
    assert key(**change).file_name() != key().file_name()


def test_given_odd_characters_when_slugged_then_the_name_is_safe_on_any_file_system() -> None:
    assert slug("NVIDIA Jetson/AGX Orin: 64GB") == "NVIDIA_Jetson_AGX_Orin_64GB"
    assert slug("...") == "model"
    odd = key(model_name="a/b c", tensorrt_version="10.3.0.post1+cuda12")
    assert "/" not in odd.file_name()
    assert " " not in odd.file_name()


# ---------------------------------------------------------------------------------------------- the store


def test_given_a_relative_folder_when_a_store_is_made_then_it_is_refused() -> None:
    with pytest.raises(EngineError, match="absolute"):
        PlanStore(Path("cache/tensorrt"))


def test_given_a_plan_when_written_then_it_reads_back_with_a_note_of_its_key(tmp_path: Path) -> None:
    store = PlanStore(tmp_path / "tensorrt")
    assert store.read(key()) is None
    path = store.write(key(), b"plan-bytes", build_seconds=12.5)
    assert store.read(key()) == b"plan-bytes"
    note = path.with_suffix(".json").read_text()
    assert '"gpu_name": "Tesla T4"' in note
    assert '"build_seconds": 12.5' in note
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name, path.with_suffix(".json").name]
    )


def test_given_a_write_that_fails_midway_when_it_fails_then_the_old_file_is_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.plan"
    atomic_write_bytes(target, b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"new and longer")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.plan"]


def test_given_a_plan_when_discarded_then_plan_and_note_are_gone(tmp_path: Path) -> None:
    store = PlanStore(tmp_path)
    path = store.write(key(), b"p", build_seconds=1.0)
    store.discard(key())
    assert not path.exists()
    assert not path.with_suffix(".json").exists()


# ------------------------------------------------------------------------------------------ load or build


class Builder:
    """Counts builds; returns ``plan``, or raises ``error``."""

    def __init__(self, plan: bytes = b"fresh", error: Exception | None = None) -> None:
        self.plan, self.error, self.calls = plan, error, 0

    def __call__(self) -> bytes:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.plan


def loads_only(good: bytes) -> Any:
    """A deserializer that loads ``good`` and returns None for anything else, as TensorRT does."""
    return lambda plan: {"engine": plan} if plan == good else None


def test_given_no_cached_plan_when_loaded_then_it_is_built_saved_and_the_log_says_why_and_how_long(
    tmp_path: Path,
) -> None:
    store, build = PlanStore(tmp_path), Builder()
    with capture_logs() as logs:
        engine = load_or_build(key(), store, build=build, deserialize=loads_only(b"fresh"), clock=Clock(42.0))
    assert engine == {"engine": b"fresh"}
    assert build.calls == 1
    assert store.read(key()) == b"fresh"
    built = [e for e in logs if e["event"] == "tensorrt plan built"]
    assert len(built) == 1
    assert built[0]["build_seconds"] == 42.0
    assert "no cached plan" in built[0]["reason"]
    assert built[0]["plan"] == str(store.path(key()))


def test_given_a_cached_plan_that_loads_when_loaded_then_nothing_is_built(tmp_path: Path) -> None:
    store, build = PlanStore(tmp_path), Builder()
    store.write(key(), b"cached", build_seconds=1.0)
    with capture_logs() as logs:
        engine = load_or_build(key(), store, build=build, deserialize=loads_only(b"cached"))
    assert engine == {"engine": b"cached"}
    assert build.calls == 0
    assert [e["event"] for e in logs] == ["tensorrt plan loaded from the cache"]


def test_given_a_cached_plan_that_does_not_deserialize_when_loaded_then_it_is_rebuilt_with_the_reason(
    tmp_path: Path,
) -> None:
    store, build = PlanStore(tmp_path), Builder()
    store.write(key(), b"built on another GPU", build_seconds=1.0)
    with capture_logs() as logs:
        engine = load_or_build(key(), store, build=build, deserialize=loads_only(b"fresh"), clock=Clock(3.0))
    assert engine == {"engine": b"fresh"}
    assert build.calls == 1
    assert store.read(key()) == b"fresh"
    warning = next(e for e in logs if e["log_level"] == "warning")
    assert "does not load on this GPU / TensorRT" in warning["reason"]
    assert "returned None" in warning["reason"]
    built = next(e for e in logs if e["event"] == "tensorrt plan built")
    assert built["reason"] == warning["reason"]
    assert built["build_seconds"] == 3.0


def test_given_a_cached_plan_whose_deserialize_raises_when_loaded_then_the_error_is_the_reason(
    tmp_path: Path,
) -> None:
    store = PlanStore(tmp_path)
    store.write(key(), b"truncated", build_seconds=1.0)

    def deserialize(plan: bytes) -> Any:
        if plan == b"truncated":
            raise EngineError("IRuntime::deserializeCudaEngine: version tag does not match")
        return "engine"

    with capture_logs() as logs:
        assert load_or_build(key(), store, build=Builder(), deserialize=deserialize) == "engine"
    built = next(e for e in logs if e["event"] == "tensorrt plan built")
    assert "version tag does not match" in built["reason"]


def test_given_a_build_that_fails_when_loaded_then_a_clear_engine_error_says_what_and_after_how_long(
    tmp_path: Path,
) -> None:
    build = Builder(error=EngineError("model.onnx: TensorRT's ONNX parser refused the model: Unsupported op"))
    with pytest.raises(
        EngineError, match=r"fp16 plan for dagm-unet-1.0.0 failed after 7.0 s: .*Unsupported op"
    ):
        load_or_build(key(), PlanStore(tmp_path), build=build, deserialize=loads_only(b"x"), clock=Clock(7.0))
    assert list(tmp_path.iterdir()) == []


def test_given_a_fresh_plan_that_does_not_load_when_loaded_then_it_is_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"just built .* does not load"):
        load_or_build(key(), PlanStore(tmp_path), build=Builder(), deserialize=loads_only(b"other"))


def test_given_no_cache_folder_when_loaded_then_it_builds_and_the_log_says_every_start_will(
    tmp_path: Path,
) -> None:
    with capture_logs() as logs:
        engine = load_or_build(key(), None, build=Builder(), deserialize=loads_only(b"fresh"))
    assert engine == {"engine": b"fresh"}
    built = next(e for e in logs if e["event"] == "tensorrt plan built")
    assert "every start builds" in built["reason"]
    assert built["plan"] == "None"


def test_given_a_cache_folder_that_cannot_be_written_when_built_then_the_engine_still_runs(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    store = PlanStore(blocker / "tensorrt")
    with capture_logs() as logs:
        engine = load_or_build(key(), store, build=Builder(), deserialize=loads_only(b"fresh"))
    assert engine == {"engine": b"fresh"}
    assert any(e["event"] == "cannot save the tensorrt plan" for e in logs)


def test_given_a_key_when_made_then_it_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        key().precision = "int8"  # type: ignore[misc]
