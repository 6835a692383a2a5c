"""The inspection path of every camera of a station: one engine, and per camera its own preprocessing
(region of interest) and decision rules, chosen by the frame's camera.

One compiled model serves every camera (``open_engine`` runs once per station, whatever the number of
cameras), so two cameras do not fight over the cores with two copies of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_inspect.config.decision import DecisionConfig
from edge_inspect.config.engines import EngineConfig
from edge_inspect.config.preprocess import PreprocessConfig
from edge_inspect.config.station import CameraConfig, overlay
from edge_inspect.decision import recipe_hash, resolve_rules
from edge_inspect.decision.frame import make_finish
from edge_inspect.decision.rules import RECIPE_HASH_HEX, Rules
from edge_inspect.engines import open_engine
from edge_inspect.model import ModelPackage
from edge_inspect.preprocess import Preprocessor, preprocess_input
from edge_inspect.runtime.inspector import Finish, FrameInspector, Prepare
from edge_inspect.types import Decision, Engine, FloatArray, Prepared, TileFold


def build_inspector(
    package: ModelPackage,
    engine_config: EngineConfig,
    decision: DecisionConfig,
    *,
    variant: str | None = None,
    cache_dir: Path | None = None,
    preprocess: PreprocessConfig | None = None,
) -> tuple[FrameInspector, Rules]:
    """Preprocessor + engine + decision rules for ``package``: the daemon's inspection path, for reuse."""
    rules = camera_rules(package, decision, variant)
    engine = open_engine(engine_config, package, variant, cache_dir)
    inspector = FrameInspector(
        prepare=camera_prepare(package, engine, preprocess),
        engine=engine,
        finish=make_finish(package.manifest.output, rules),
    )
    return inspector, rules


def camera_rules(package: ModelPackage, decision: DecisionConfig, variant: str | None) -> Rules:
    """The manifest's decision defaults for ``variant`` with ``decision``'s overrides."""
    manifest = package.manifest
    return resolve_rules(manifest.decision_for(variant), manifest.output, decision)


def camera_prepare(
    package: ModelPackage, engine: Engine, preprocess: PreprocessConfig | None
) -> Preprocessor:
    station = preprocess or PreprocessConfig()
    return Preprocessor(
        preprocess_input(package.manifest.input, engine.input_spec.dtype),
        roi=station.roi,
        min_input_fraction=station.min_input_fraction,
    )


@dataclass(frozen=True)
class StationInspection:
    """The station's inspector (routing each frame by camera) and each camera's rules."""

    inspector: FrameInspector
    rules: Mapping[str, Rules]


def build_station_inspection(
    package: ModelPackage,
    engine: Engine,
    cameras: Sequence[CameraConfig],
    *,
    preprocess: PreprocessConfig,
    decision: DecisionConfig,
    variant: str | None,
) -> StationInspection:
    """Every camera's preprocessing and rules (its overrides over the station's) on one shared engine."""
    prepares: dict[str, Prepare] = {
        camera.id: camera_prepare(package, engine, overlay(preprocess, camera.preprocess))
        for camera in cameras
    }
    rules = station_rules(package, cameras, decision, variant)
    return StationInspection(
        FrameInspector(prepare=route_prepare(prepares), engine=engine, finish=finishes(package, rules)),
        rules,
    )


def station_rules(
    package: ModelPackage, cameras: Sequence[CameraConfig], decision: DecisionConfig, variant: str | None
) -> dict[str, Rules]:
    """Each camera's rules: the manifest's defaults, the station's ``decision``, the camera's overrides."""
    return {
        camera.id: camera_rules(package, overlay(decision, camera.decision), variant) for camera in cameras
    }


def finishes(package: ModelPackage, rules: Mapping[str, Rules]) -> Finish:
    """The decision of each camera's frames under its rules."""
    table = {
        camera: make_finish(package.manifest.output, camera_rules_) for camera, camera_rules_ in rules.items()
    }
    return next(iter(table.values())) if len(table) == 1 else CameraFinish(table)


def route_prepare(prepares: Mapping[str, Prepare]) -> Prepare:
    if len(prepares) == 1:
        return next(iter(prepares.values()))
    table = dict(prepares)
    return lambda frame: table[frame.camera](frame)


@dataclass(frozen=True)
class CameraFinish:
    """A :class:`Finish` per camera, chosen by the prepared frame's camera."""

    by_camera: Mapping[str, Finish]

    def __call__(self, prepared: Prepared, outputs: FloatArray) -> Decision:
        return self.by_camera[prepared.frame.camera](prepared, outputs)

    def fold(self, prepared: Prepared) -> TileFold | None:
        return self.by_camera[prepared.frame.camera].fold(prepared)


def station_recipe(rules: Mapping[str, Rules]) -> str:
    """The station's recipe hash: its one camera's, or one over every camera's (any change changes it)."""
    if len(rules) == 1:
        return recipe_hash(next(iter(rules.values())))
    joined = ",".join(f"{camera}={recipe_hash(r)}" for camera, r in sorted(rules.items()))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:RECIPE_HASH_HEX]
