"""The model package's training record: the recipe line names what each stage trained with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from edge_inspect.datasets.synth import SynthSpec, generate_dagm
from edge_inspect.training.package import (
    PackageSpec,
    _dataset_description,
    _recipe,
    _stages,
    package_description,
)
from edge_inspect.training.train import load_checkpoint, train


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


def test_the_recipe_says_how_many_epochs_ran_of_those_planned() -> None:
    recipe = _recipe([_stage(epochs=8, epochs_run=5, best_epoch=2)])
    assert "stage 1: 5 of up to 8 epochs (best 2) x 150 steps" in recipe


def test_a_users_folder_is_described_in_words_as_its_train_split(tmp_path: Path) -> None:
    # given a user's own folder (no generator record) with Train and Test splits
    data = tmp_path / "my-surface"
    generate_dagm(data, SynthSpec(size=64, textures=("grain",), train_good=3, train_defective=1, test_good=2,
                                  test_defective=1, seed=1))  # fmt: skip
    (data / "dataset.json").unlink()
    described = _dataset_description(data)
    # then the data line names the folder and its Train split only, with no raw dictionary
    assert (
        described["summary"]
        == "the folder `my-surface`: its Train split, 4 images (1 defective) of 1 class(es) Class1"
    )
    assert "{" not in described["summary"]
    assert "Test" not in described["summary"]
    assert package_description(PackageSpec(), described) == (
        f"Compact U-Net defect segmenter trained on {described['summary']}."
    )
    assert "DAGM-style" not in package_description(PackageSpec(), described)


def test_a_generated_set_is_described_by_its_train_split_and_called_dagm_style(tmp_path: Path) -> None:
    data = tmp_path / "synth"
    generate_dagm(data, SynthSpec(size=64, textures=("grain",), train_good=3, train_defective=1, test_good=2,
                                  test_defective=1, seed=1))  # fmt: skip
    described = _dataset_description(data)
    assert described["summary"].startswith("the Train split of a synthetic DAGM-2007-layout set")
    assert "3 good + 1 defective images per class" in described["summary"]
    assert "Test" not in described["summary"]
    assert "DAGM-style" in package_description(PackageSpec(), described)
    assert package_description(PackageSpec(description="mine"), described) == "mine"


def test_each_stage_records_the_epochs_its_run_did(tmp_path: Path) -> None:
    from tests.unit.training.test_train import _tiny_config, _tiny_data

    config = _tiny_config(_tiny_data(tmp_path / "data"), tmp_path / "run", epochs=3, patience=1)
    best = train(config)
    _, meta = load_checkpoint(best)
    stage = _stages(meta, best)[0]
    ran = len(json.loads((tmp_path / "run" / "history.json").read_text()))
    assert stage["epochs_run"] == ran  # from last.pt: best.pt's history stops at the best epoch
    assert stage["best_epoch"] == meta["epoch"]
    assert stage["epochs"] == 3
