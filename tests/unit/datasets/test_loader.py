"""The loader reads the generator's DAGM tree, the real DAGM 2007 index format, flat and images/+masks/."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspect.datasets.loader import class_names, load_dataset
from edge_inspect.datasets.splits import split_validation
from edge_inspect.datasets.synth import SynthSpec, generate_dagm, generate_flat
from edge_inspect.errors import DatasetError

TINY = SynthSpec(
    size=64,
    textures=("cloudy", "grain", "brushed"),
    train_good=4,
    train_defective=2,
    test_good=3,
    test_defective=1,
    seed=1,
)


def _png(path: Path, value: int = 0, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size, size), value, dtype=np.uint8))


def test_generated_dagm_tree(tmp_path: Path) -> None:
    generate_dagm(tmp_path, TINY)
    samples = load_dataset(tmp_path)
    assert len(samples) == 3 * (4 + 2 + 3 + 1)
    assert class_names(samples) == ["Class1", "Class2", "Class3"]
    train = load_dataset(tmp_path, split="train")
    assert len(train) == 18
    assert sum(s.defective for s in train) == 6
    for sample in samples:
        assert (sample.mask is not None) == sample.defective
        if sample.mask is not None:
            assert sample.mask.name == sample.image.stem + "_label.PNG"


def test_a_class_folder_or_split_folder_is_accepted(tmp_path: Path) -> None:
    generate_dagm(tmp_path, TINY)
    assert len(load_dataset(tmp_path / "Class2")) == 10
    only_test = load_dataset(tmp_path / "Class2" / "Test")
    assert {s.split for s in only_test} == {"test"}
    assert {s.texture_class for s in only_test} == {"Class2"}


def test_real_dagm_labels_txt(tmp_path: Path) -> None:
    # given a folder laid out as the DAGM 2007 download: header line, then tab-separated rows
    folder = tmp_path / "Class10" / "Train"
    for name in ("0576.PNG", "0577.PNG", "0578.PNG"):
        _png(folder / name)
    _png(folder / "Label" / "0577_label.PNG", 255)
    (folder / "Label" / "Labels.txt").write_text(
        "1\n1\t0\t0576.PNG\t0\t0\n2\t1\t0577.PNG\t0\t0577_label.PNG\n3\t0\t0578.PNG\t0\t0\n"
    )
    samples = load_dataset(tmp_path)
    assert [(s.image.name, s.defective, s.texture_class, s.split) for s in samples] == [
        ("0576.PNG", False, "Class10", "train"),
        ("0577.PNG", True, "Class10", "train"),
        ("0578.PNG", False, "Class10", "train"),
    ]
    assert samples[1].mask == folder / "Label" / "0577_label.PNG"


def test_a_defective_row_without_its_label_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "Class1" / "Test"
    _png(folder / "0001.PNG")
    (folder / "Label").mkdir()
    (folder / "Label" / "Labels.txt").write_text("1\n1\t1\t0001.PNG\t0\t0001_label.PNG\n")
    with pytest.raises(DatasetError, match=r"Labels\.txt: 0001\.PNG is marked defective"):
        load_dataset(tmp_path)


def test_a_malformed_labels_txt_names_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "Class1" / "Test"
    _png(folder / "0001.PNG")
    (folder / "Label").mkdir()
    (folder / "Label" / "Labels.txt").write_text("1\nthis is not a row\n")
    with pytest.raises(DatasetError, match=r"Labels\.txt:2: expected"):
        load_dataset(tmp_path)


def test_images_and_masks_layout(tmp_path: Path) -> None:
    # given images/ with masks/ beside them; one mask is empty, one image has no mask
    _png(tmp_path / "images" / "a.png")
    _png(tmp_path / "images" / "b.png")
    _png(tmp_path / "images" / "c.png")
    _png(tmp_path / "masks" / "a.png", 255)
    _png(tmp_path / "masks" / "b_label.png", 0)
    samples = load_dataset(tmp_path)
    assert [(s.image.name, s.defective, s.split) for s in samples] == [
        ("a.png", True, "all"),
        ("b.png", False, "all"),
        ("c.png", False, "all"),
    ]
    assert samples[0].mask == tmp_path / "masks" / "a.png"
    assert samples[1].mask is None


def test_images_and_masks_with_class_subfolders(tmp_path: Path) -> None:
    _png(tmp_path / "images" / "Class1" / "x.png")
    _png(tmp_path / "masks" / "Class1" / "x_label.png", 255)
    _png(tmp_path / "images" / "Class2" / "y.png")
    samples = load_dataset(tmp_path)
    assert [(s.texture_class, s.defective) for s in samples] == [("Class1", True), ("Class2", False)]


def test_flat_replay_layout(tmp_path: Path) -> None:
    generate_flat(tmp_path, TINY, good=3, defective=2)
    samples = load_dataset(tmp_path)
    assert len(samples) == 5
    assert sum(s.defective for s in samples) == 2
    assert {s.split for s in samples} == {"all"}


def test_empty_or_missing_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        load_dataset(tmp_path / "empty")


def test_validation_split_is_stratified_and_seeded(tmp_path: Path) -> None:
    generate_dagm(tmp_path, TINY)
    train = load_dataset(tmp_path, split="train")
    fit, val = split_validation(train, 0.5, seed=3)
    assert len(fit) + len(val) == len(train)
    assert not {s.image for s in fit} & {s.image for s in val}
    # every (class, defective) group gives half of its images to validation
    for name in ("Class1", "Class2", "Class3"):
        assert sum(s.texture_class == name and s.defective for s in val) == 1
        assert sum(s.texture_class == name and not s.defective for s in val) == 2
    assert split_validation(train, 0.5, seed=3) == (fit, val)
