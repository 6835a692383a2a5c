"""resolve_rules, recipe_hash, rules_summary: the manifest's operating point, overridden by the station."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import Any

import pytest

from edge_inspect.config.decision import DecisionConfig
from edge_inspect.decision.rules import IgnoreZone, Rules, recipe_hash, resolve_rules, rules_summary
from edge_inspect.errors import ConfigError, ModelPackageError
from edge_inspect.model.manifest import DecisionDefaults, OutputSpec


def output(classes: tuple[str, ...] = ("defect",), kind: str = "segmentation") -> OutputSpec:
    return OutputSpec.model_validate(
        {"name": "out", "kind": kind, "activation": "sigmoid", "classes": classes}
    )


def defaults(**fields: Any) -> DecisionDefaults:
    return DecisionDefaults.model_validate({"thresholds": {"defect": 0.5}, **fields})


def overrides(**fields: Any) -> DecisionConfig:
    return DecisionConfig.model_validate(fields)


def base_rules() -> Rules:
    return Rules(
        kind="segmentation",
        classes=("scratch", "stain"),
        thresholds=(0.5, 0.6),
        min_area_px=(4, 9),
        score_threshold=0.5,
        max_defects=0,
        ignore_zones=(IgnoreZone(0, 0, 10, 10, ("stain",)),),
        connectivity=8,
    )


# --------------------------------------------------------------------------------------------- resolve


def test_given_no_overrides_when_resolved_then_the_manifest_defaults_apply() -> None:
    rules = resolve_rules(
        defaults(min_area_px={"defect": 12}, max_defects=2, score_threshold=0.7), output(), overrides()
    )

    assert rules.kind == "segmentation"
    assert rules.classes == ("defect",)
    assert rules.thresholds == (0.5,)
    assert rules.min_area_px == (12,)
    assert rules.max_defects == 2
    assert rules.score_threshold == 0.7
    assert rules.connectivity == 8
    assert rules.ignore_zones == ()


def test_given_overrides_when_resolved_then_each_field_wins_and_per_class_maps_merge() -> None:
    model = output(("scratch", "stain"))
    manifest = DecisionDefaults.model_validate(
        {"thresholds": {"scratch": 0.5, "stain": 0.6}, "min_area_px": {"scratch": 4}, "max_defects": 3}
    )
    station = overrides(
        thresholds={"stain": 0.8},
        min_area_px={"stain": 20},
        max_defects=0,
        connectivity=4,
        ignore_zones=[{"x": 1, "y": 2, "width": 3, "height": 4, "classes": ["stain"]}],
    )

    rules = resolve_rules(manifest, model, station)

    assert rules.thresholds == (0.5, 0.8)
    assert rules.min_area_px == (4, 20)
    assert rules.max_defects == 0
    assert rules.connectivity == 4
    assert rules.ignore_zones == (IgnoreZone(1, 2, 3, 4, ("stain",)),)
    assert rules.threshold("stain") == 0.8


def test_given_an_override_for_a_class_the_model_lacks_when_resolved_then_the_line_names_the_field() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_rules(defaults(), output(), overrides(thresholds={"scratch": 0.4}))

    assert caught.value.problems == ["decision.thresholds.scratch: unknown class; the model has ['defect']"]


def test_given_unknown_classes_in_several_fields_when_resolved_then_every_one_is_reported() -> None:
    station = overrides(
        min_area_px={"dent": 5},
        ignore_zones=[
            {"x": 0, "y": 0, "width": 1, "height": 1},
            {"x": 0, "y": 0, "width": 1, "height": 1, "classes": ["defect", "blob"]},
        ],
    )

    with pytest.raises(ConfigError) as caught:
        resolve_rules(defaults(), output(), station)

    assert caught.value.problems == [
        "decision.min_area_px.dent: unknown class; the model has ['defect']",
        "decision.ignore_zones[1].classes: 'blob' is an unknown class; the model has ['defect']",
    ]


def test_given_a_zone_with_an_empty_class_list_when_resolved_then_it_is_refused() -> None:
    station = overrides(ignore_zones=[{"x": 0, "y": 0, "width": 1, "height": 1, "classes": []}])

    with pytest.raises(ConfigError, match=r"decision\.ignore_zones\[0\]\.classes: empty; use null"):
        resolve_rules(defaults(), output(), station)


def test_given_a_class_without_any_threshold_when_resolved_then_config_error_names_it() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_rules(defaults(), output(("defect", "stain")), overrides())

    assert caught.value.problems == [
        "decision.thresholds.stain: no threshold for this class in the model manifest or the station config"
    ]


def test_given_a_manifest_naming_an_unknown_class_when_resolved_then_the_package_is_at_fault() -> None:
    with pytest.raises(ModelPackageError, match=r"manifest decision\.min_area_px: unknown class 'dent'"):
        resolve_rules(defaults(min_area_px={"dent": 3}), output(), overrides())


def test_given_a_classifier_when_resolved_then_pixel_overrides_are_refused() -> None:
    station = overrides(
        thresholds={"defect": 0.3},
        min_area_px={"defect": 3},
        ignore_zones=[{"x": 0, "y": 0, "width": 1, "height": 1}],
    )

    with pytest.raises(ConfigError) as caught:
        resolve_rules(defaults(), output(kind="classification"), station)

    assert [line.split(":")[0] for line in caught.value.problems] == [
        "decision.thresholds",
        "decision.min_area_px",
        "decision.ignore_zones",
    ]
    assert all("use decision.score_threshold" in line for line in caught.value.problems)


def test_given_a_classifier_when_resolved_then_every_class_uses_the_score_threshold() -> None:
    rules = resolve_rules(
        DecisionDefaults.model_validate({"thresholds": {}}),
        output(("ok_shape", "bent"), kind="classification"),
        overrides(score_threshold=0.8),
    )

    assert rules.kind == "classification"
    assert rules.score_threshold == 0.8
    assert rules.thresholds == (0.8, 0.8)
    assert rules_summary(rules) == {"score_threshold": 0.8}


def test_given_inconsistent_rules_when_built_then_every_problem_is_listed() -> None:
    with pytest.raises(ConfigError) as caught:
        dataclasses.replace(base_rules(), thresholds=(0.5, 1.5), min_area_px=(1,), max_defects=-1)

    assert caught.value.problems == [
        "rules.min_area_px: 1 values for 2 classes",
        "rules.thresholds.stain: must be within 0..1, got 1.5",
        "rules.max_defects: must be >= 0, got -1",
    ]


@pytest.mark.parametrize("corner", [(-1, 0, 5, 5), (0, -3, 5, 5), (0, 0, 0, 5), (0, 0, 5, -2)])
def test_given_a_zone_with_a_negative_or_empty_side_when_built_then_it_is_refused(
    corner: tuple[int, int, int, int],
) -> None:
    with pytest.raises(ConfigError, match="x and y must be >= 0, width and height > 0"):
        IgnoreZone(*corner)


# ------------------------------------------------------------------------------------ summary and hash


def test_given_segmentation_rules_when_summarised_then_per_class_thresholds_are_published() -> None:
    assert rules_summary(base_rules()) == {"scratch": 0.5, "stain": 0.6}


def test_given_equal_rules_when_hashed_then_the_hash_is_equal_and_short_hex() -> None:
    first, second = base_rules(), base_rules()

    assert first is not second
    assert recipe_hash(first) == recipe_hash(second)
    assert len(recipe_hash(first)) == 16
    int(recipe_hash(first), 16)


def test_given_another_process_when_hashed_then_the_hash_is_the_same() -> None:
    script = (
        "from tests.unit.decision.test_rules import base_rules\n"
        "from edge_inspect.decision.rules import recipe_hash\n"
        "print(recipe_hash(base_rules()))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}

    other = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()

    assert other == recipe_hash(base_rules())


CHANGES: dict[str, Any] = {
    "kind": "classification",
    "classes": ("scratch", "stains"),
    "thresholds": (0.5, 0.61),
    "min_area_px": (4, 10),
    "score_threshold": 0.55,
    "max_defects": 1,
    "ignore_zones": (IgnoreZone(0, 0, 10, 11, ("stain",)),),
    "connectivity": 4,
}
ZONE_CHANGES: list[IgnoreZone] = [
    IgnoreZone(1, 0, 10, 10, ("stain",)),
    IgnoreZone(0, 1, 10, 10, ("stain",)),
    IgnoreZone(0, 0, 11, 10, ("stain",)),
    IgnoreZone(0, 0, 10, 10, None),
    IgnoreZone(0, 0, 10, 10, ("scratch",)),
]


def test_the_change_table_covers_every_rule_field() -> None:
    assert set(CHANGES) == {f.name for f in dataclasses.fields(Rules)}


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_given_one_changed_rule_when_hashed_then_the_hash_changes(field: str) -> None:
    changed = dataclasses.replace(base_rules(), **{field: CHANGES[field]})

    assert recipe_hash(changed) != recipe_hash(base_rules())


@pytest.mark.parametrize("zone", ZONE_CHANGES)
def test_given_one_changed_zone_field_when_hashed_then_the_hash_changes(zone: IgnoreZone) -> None:
    changed = dataclasses.replace(base_rules(), ignore_zones=(zone,))

    assert recipe_hash(changed) != recipe_hash(base_rules())
