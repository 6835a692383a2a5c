"""The model package's training record: the recipe line names what each stage trained with."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("torch")

from edge_inspect.training.package import _recipe


def _stage(**changes: Any) -> dict[str, Any]:
    stage = {
        "epochs": 3,
        "steps_per_epoch": 150,
        "lr": 0.001,
        "defect_fraction": 0.4,
        "crop": 192,
        "batch": 16,
        "patience": 3,
        "val_fraction": 0.15,
        "seed": 0,
        "hard_negatives": 0.0,
        "weak_defects": 0.0,
        "image_loss": 0.0,
        "image_topk": 64,
    }
    return {**stage, **changes}


def test_the_recipe_names_mining_and_the_image_loss_on_the_stages_that_used_them() -> None:
    recipe = _recipe([_stage(), _stage(hard_negatives=0.5, image_loss=1.0, image_topk=32)])

    first, second = recipe.split("; stage 2: ")
    assert "hard negatives" not in first
    assert "image top" not in first
    assert second.endswith("defective share 0.4, hard negatives 0.5, image top-32 loss x 1.0")


def test_the_recipe_names_mixed_precision_only_where_a_stage_trained_with_it() -> None:
    recipe = _recipe([_stage(precision="f32"), _stage(precision="bf16"), _stage()])

    first, rest = recipe.split("; stage 2: ")
    second, third = rest.split("; stage 3: ")
    assert "precision" not in first
    assert second.endswith("bf16 mixed precision")
    assert "precision" not in third
