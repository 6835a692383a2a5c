"""The decision rules in force: the model's defaults, overridden field by field by the station config.

``Rules`` is resolved once at start-up and is then read-only; the decision functions take it as a plain
argument, so a verdict depends on nothing but (probabilities, rules). ``recipe_hash`` names a rule set
in every published result, so a verdict can be traced to the exact operating point that produced it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

from edge_inspect.config.decision import DecisionConfig
from edge_inspect.errors import ConfigError, ModelPackageError
from edge_inspect.model.manifest import DecisionDefaults, OutputSpec

Kind = Literal["segmentation", "classification"]

DEFAULT_MIN_AREA_PX = 1
"""A class with no minimum area keeps every region (a region has at least one pixel)."""

RECIPE_HASH_HEX = 16
"""Hex digits of the sha256 kept in ``recipe_hash``: 64 bits, plenty to tell recipes apart."""


@dataclass(frozen=True, slots=True)
class IgnoreZone:
    """A rectangle, in probability-map (frame) pixels, where the named classes (or all) are ignored."""

    x: int
    y: int
    width: int
    height: int
    classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # Negative starts would wrap around in numpy slicing and blank the wrong side of the map.
        if min(self.x, self.y) < 0 or min(self.width, self.height) <= 0:
            msg = f"ignore zone {self}: x and y must be >= 0, width and height > 0"
            raise ConfigError([msg])


@dataclass(frozen=True, slots=True)
class Rules:
    """Everything the decision needs besides the probabilities.

    Per-class values are tuples in ``classes`` order (the model's output-channel order, background
    excluded), so the segmentation code can index them by channel without a lookup.
    """

    kind: Kind
    classes: tuple[str, ...]
    thresholds: tuple[float, ...]
    """Segmentation: a pixel whose probability is >= its class's threshold is defective."""
    min_area_px: tuple[int, ...]
    """Segmentation: regions smaller than this (per class) are dropped."""
    score_threshold: float
    """Classification: a class whose score is >= this makes the frame NG."""
    max_defects: int
    """Segmentation: more kept regions than this make the frame NG (0 = any region is NG)."""
    ignore_zones: tuple[IgnoreZone, ...] = ()
    connectivity: Literal[4, 8] = 8

    def __post_init__(self) -> None:
        problems: list[str] = []
        n = len(self.classes)
        if n == 0:
            problems.append("rules.classes: the model names no class")
        if len(self.thresholds) != n:
            problems.append(f"rules.thresholds: {len(self.thresholds)} values for {n} classes")
        if len(self.min_area_px) != n:
            problems.append(f"rules.min_area_px: {len(self.min_area_px)} values for {n} classes")
        problems += [
            f"rules.thresholds.{name}: must be within 0..1, got {value}"
            for name, value in zip(self.classes, self.thresholds, strict=False)
            if not 0.0 <= value <= 1.0
        ]
        if not 0.0 <= self.score_threshold <= 1.0:
            problems.append(f"rules.score_threshold: must be within 0..1, got {self.score_threshold}")
        if self.max_defects < 0:
            problems.append(f"rules.max_defects: must be >= 0, got {self.max_defects}")
        if self.connectivity not in (4, 8):
            problems.append(f"rules.connectivity: must be 4 or 8, got {self.connectivity}")
        if problems:
            raise ConfigError(problems)

    def threshold(self, class_name: str) -> float:
        """The pixel threshold of one class."""
        return self.thresholds[self.classes.index(class_name)]


def resolve_rules(defaults: DecisionDefaults, output: OutputSpec, overrides: DecisionConfig) -> Rules:
    """Merge the manifest's defaults with the station's overrides; a non-null override wins.

    Per-class mappings merge per class (overriding one class's threshold keeps the others'). Every
    class named anywhere must be one of ``output.classes``: an unknown name in the station config is a
    ConfigError line naming the field; one in the manifest is a ModelPackageError.
    """
    classes = output.classes
    _check_manifest_classes(defaults, classes)
    problems = _unknown_override_classes(overrides, classes)
    if output.kind == "classification":
        problems += _pixel_rules_on_classifier(overrides)
    thresholds = {**defaults.thresholds, **(overrides.thresholds or {})}
    if output.kind == "segmentation":
        problems += [
            f"decision.thresholds.{name}: no threshold for this class in the model manifest "
            "or the station config"
            for name in classes
            if name not in thresholds
        ]
    if problems:
        raise ConfigError(problems)
    min_area = {**defaults.min_area_px, **(overrides.min_area_px or {})}
    score_threshold = (
        overrides.score_threshold if overrides.score_threshold is not None else defaults.score_threshold
    )
    max_defects = overrides.max_defects if overrides.max_defects is not None else defaults.max_defects
    connectivity: Literal[4, 8] = 4 if overrides.connectivity == 4 else 8
    return Rules(
        kind=output.kind,
        classes=classes,
        thresholds=_per_class_thresholds(output.kind, classes, thresholds, score_threshold),
        min_area_px=tuple(int(min_area.get(name, DEFAULT_MIN_AREA_PX)) for name in classes),
        score_threshold=float(score_threshold),
        max_defects=int(max_defects),
        ignore_zones=tuple(
            IgnoreZone(zone.x, zone.y, zone.width, zone.height, zone.classes)
            for zone in overrides.ignore_zones
        ),
        connectivity=connectivity,
    )


def recipe_hash(rules: Rules) -> str:
    """A short, stable name for a rule set: sha256 of its canonical JSON, first 16 hex digits.

    Canonical = sorted keys, no whitespace, floats in Python's shortest round-trip form; any change to
    any rule (a threshold, a zone, the connectivity) changes the hash, and nothing else does.
    """
    canonical = json.dumps(asdict(rules), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:RECIPE_HASH_HEX]


def rules_summary(rules: Rules) -> dict[str, float]:
    """The thresholds a result publishes: per-class pixel thresholds, or the classifier's score threshold."""
    if rules.kind == "classification":
        return {"score_threshold": rules.score_threshold}
    return dict(zip(rules.classes, rules.thresholds, strict=True))


def _per_class_thresholds(
    kind: Kind, classes: tuple[str, ...], thresholds: Mapping[str, float], score_threshold: float
) -> tuple[float, ...]:
    """A classifier judges every class by ``score_threshold``; keep the tuple aligned with ``classes``."""
    if kind == "classification":
        return tuple(float(score_threshold) for _ in classes)
    return tuple(float(thresholds[name]) for name in classes)


def _check_manifest_classes(defaults: DecisionDefaults, classes: tuple[str, ...]) -> None:
    for field, names in (("thresholds", defaults.thresholds), ("min_area_px", defaults.min_area_px)):
        unknown = sorted(set(names) - set(classes))
        if unknown:
            msg = (
                f"manifest decision.{field}: unknown class {', '.join(map(repr, unknown))}; "
                f"the model has {list(classes)}"
            )
            raise ModelPackageError(msg)


def _unknown_override_classes(overrides: DecisionConfig, classes: tuple[str, ...]) -> list[str]:
    known = f"the model has {list(classes)}"
    problems: list[str] = []
    per_class: Mapping[str, Mapping[str, object] | None] = {
        "thresholds": overrides.thresholds,
        "min_area_px": overrides.min_area_px,
    }
    for field, mapping in per_class.items():
        unknown = [name for name in mapping or {} if name not in classes]
        problems += [f"decision.{field}.{name}: unknown class; {known}" for name in unknown]
    for i, zone in enumerate(overrides.ignore_zones):
        if zone.classes is not None and not zone.classes:
            problems.append(f"decision.ignore_zones[{i}].classes: empty; use null to ignore every class")
        problems += [
            f"decision.ignore_zones[{i}].classes: {name!r} is an unknown class; {known}"
            for name in zone.classes or ()
            if name not in classes
        ]
    return problems


def _pixel_rules_on_classifier(overrides: DecisionConfig) -> list[str]:
    """Pixel rules mean nothing to a classifier; saying so beats silently ignoring a station's setting."""
    why = "the model is a classification model; use decision.score_threshold"
    problems: list[str] = []
    if overrides.thresholds:
        problems.append(f"decision.thresholds: {why}")
    if overrides.min_area_px:
        problems.append(f"decision.min_area_px: {why}")
    if overrides.ignore_zones:
        problems.append(f"decision.ignore_zones: {why}")
    return problems
