"""``edge-inspect eval`` figures on a tiny data set whose answers are known, through the daemon's own code.

The tiny model (tests/helpers/tiny_model.py) gives p = sigmoid(20 * (pixel/255 - 0.5)) per pixel, so each
image's verdict at each threshold can be worked out by hand:

- ClassA/good.png: uniform 50 (p = 0.002) -> PASS everywhere
- ClassA/bright.png: 8x8 square of 200 (p = 0.9966) on 50, masked exactly -> NG at every sweep threshold
- ClassB/good.png: uniform 50 -> PASS
- ClassB/speck.png: 2x2 speck of 200, no mask (min area 0) -> a false alarm at every threshold
- ClassB/faint.png: 8x8 square of 140 (p = 0.7275), masked -> NG up to 0.7, missed at 0.8 and 0.9
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspect.cli import main
from edge_inspect.datasets.loader import load_dataset
from edge_inspect.evaluation.report import summarize
from edge_inspect.evaluation.runner import SWEEP_THRESHOLDS, evaluate_samples, sweep_thresholds
from edge_inspect.model.package import load_package
from tests.helpers.tiny_model import make_tiny_package

SIZE = 64
P_BRIGHT = 1 / (1 + np.exp(-20 * (200 / 255 - 0.5)))
P_FAINT = 1 / (1 + np.exp(-20 * (140 / 255 - 0.5)))


def _write(
    root: Path, cls: str, name: str, *, square: tuple[int, int] | None, value: int, masked: bool
) -> None:
    image = np.full((SIZE, SIZE), 50, np.uint8)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    if square is not None:
        y, side = square
        image[y : y + side, 20 : 20 + side] = value
        mask[y : y + side, 20 : 20 + side] = 255
    (root / "images" / cls).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "images" / cls / name), image)
    if masked:
        (root / "masks" / cls).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "masks" / cls / name), mask)


@pytest.fixture
def known(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    _write(data, "ClassA", "good.png", square=None, value=0, masked=False)
    _write(data, "ClassA", "bright.png", square=(10, 8), value=200, masked=True)
    _write(data, "ClassB", "good.png", square=None, value=0, masked=False)
    _write(data, "ClassB", "speck.png", square=(30, 2), value=200, masked=False)
    _write(data, "ClassB", "faint.png", square=(40, 8), value=140, masked=True)
    return make_tiny_package(tmp_path / "pkg", size=SIZE, variants=("fp32",)), data


def test_figures_match_the_hand_count(known: tuple[Path, Path]) -> None:
    package_dir, data = known
    outcomes, rules = evaluate_samples(load_package(package_dir), load_dataset(data))
    report = summarize(outcomes, SWEEP_THRESHOLDS, {"thresholds": {"defect": 0.5}})
    image = report["image"]
    # at the manifest's 0.5: both defects found, the speck is the one false alarm
    assert (image["tp"], image["tn"], image["fp"], image["fn"]) == (2, 2, 1, 0)
    assert image["precision"] == pytest.approx(2 / 3)
    assert image["false_alarm_rate"] == pytest.approx(1 / 3)
    # scores: bright and speck P_BRIGHT, faint P_FAINT, good 0 -> AUROC = (0.5 + 1 + 1 + 0 + 1 + 1) / 6
    assert image["auroc"] == pytest.approx(4.5 / 6)
    scores = {(Path(o.path).parent.name, Path(o.path).name): o.score for o in outcomes}
    assert scores[("ClassB", "faint.png")] == pytest.approx(P_FAINT, abs=2e-4)
    assert scores[("ClassA", "bright.png")] == pytest.approx(P_BRIGHT, abs=2e-4)
    # the masks are found exactly
    assert report["pixel"] == {"defective_images": 2, "mean_iou": 1.0, "mean_dice": 1.0}
    # per class
    assert report["per_class"]["ClassA"]["image"]["fp"] == 0
    assert report["per_class"]["ClassB"]["image"]["fp"] == 1
    # sweep: the faint square is lost above its probability
    by_threshold = {row["threshold"]: row for row in report["sweep"]}
    assert (by_threshold[0.7]["tp"], by_threshold[0.7]["fn"]) == (2, 0)
    assert (by_threshold[0.8]["tp"], by_threshold[0.8]["fn"], by_threshold[0.8]["fp"]) == (1, 1, 1)
    assert rules.thresholds == (0.5,)


def test_eval_command_chooses_and_records(known: tuple[Path, Path], tmp_path: Path) -> None:
    package_dir, data = known
    # given a cost rule where a missed defect costs ten false alarms
    code = main(
        [
            "eval",
            "--model",
            str(package_dir),
            "--dataset",
            str(data),
            "--quiet",
            "--json",
            str(tmp_path / "r.json"),
            "--plot",
            str(tmp_path / "pr.png"),
            "--choose",
            "cost:fp=1,fn=10",
            "--record",
            "tiny",
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    # then every threshold up to P_FAINT costs one false alarm; the middle of 0.05..0.72 is chosen
    assert report["chosen"]["fn"] == 0
    assert 0.05 <= report["chosen"]["threshold"] <= P_FAINT
    package = load_package(package_dir)  # hashes refreshed: still verifies
    assert package.manifest.decision.thresholds["defect"] == report["chosen"]["threshold"]
    assert package.manifest.evaluation["tiny"]["image"]["tp"] == 2
    assert (tmp_path / "pr.png").stat().st_size > 1000


def test_a_plot_inside_the_package_can_be_redrawn_and_the_package_still_verifies(
    known: tuple[Path, Path], tmp_path: Path
) -> None:
    # given a package whose precision-recall plot is one of its own (hashed) files
    package_dir, data = known
    plot = package_dir / "plots" / "pr.png"
    args = ["eval", "--model", str(package_dir), "--quiet", "--plot", str(plot)]
    assert main([*args, "--dataset", str(data), "--record", "first"]) == 0
    first = load_package(package_dir).manifest.files["plots/pr.png"]
    # when it is drawn again for another data set (its name is in the title: other bytes)
    other = shutil.copytree(data, tmp_path / "other-data")
    assert main([*args, "--dataset", str(other), "--choose", "cost:fp=1,fn=10", "--record", "second"]) == 0
    # then the package verifies with the new plot's hash, and the record names the plot
    manifest = load_package(package_dir).manifest
    assert manifest.files["plots/pr.png"] != first
    assert manifest.evaluation["second"]["plot"] == "plots/pr.png"
    # and a re-run without a record leaves a package that verifies too, and draws the same plot again
    # (not the first one: the recorded operating point changed, and its threshold is a marked row)
    assert main([*args, "--dataset", str(data)]) == 0
    again = load_package(package_dir).manifest.files["plots/pr.png"]
    assert main([*args, "--dataset", str(data)]) == 0
    assert load_package(package_dir).manifest.files["plots/pr.png"] == again


def test_eval_command_chooses_the_minimum_area_with_the_threshold(
    known: tuple[Path, Path], tmp_path: Path
) -> None:
    package_dir, data = known
    # given candidate minimum areas 0 and 10 px: the 2x2 speck is a defect under 0 px, not under 10;
    # both 8x8 defects (64 px) are defects under either
    args = ["eval", "--model", str(package_dir), "--dataset", str(data), "--quiet"]
    rule = ["--choose", "fp_rate<=0.0", "--min-areas", "0,10"]
    assert main([*args, *rule, "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    scores = {Path(o["path"]).name + o["texture_class"]: o["area_scores"] for o in report["outcomes"]}
    assert scores["speck.pngClassB"][0] == pytest.approx(P_BRIGHT, abs=2e-4)
    assert scores["speck.pngClassB"][1] == 0.0
    assert scores["faint.pngClassB"] == pytest.approx([P_FAINT, P_FAINT], abs=2e-4)
    # then 10 px is chosen, with a threshold that keeps the faint square, and both go into the manifest
    chosen = report["chosen"]
    assert (chosen["min_area_px"], chosen["fp"], chosen["fn"]) == (10, 0, 0)
    assert chosen["threshold"] <= P_FAINT
    decision = load_package(package_dir).manifest.decision
    assert (decision.min_area_px, decision.thresholds) == ({"defect": 10}, {"defect": chosen["threshold"]})


def test_min_areas_without_a_rule_is_refused(
    known: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    package_dir, data = known
    args = ["eval", "--model", str(package_dir), "--dataset", str(data), "--quiet", "--min-areas", "10"]
    assert main(args) == 1
    assert "--min-areas chooses the minimum area together with --choose" in capsys.readouterr().err


def test_an_unreachable_rule_fails_cleanly_and_keeps_the_report(
    known: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package_dir, data = known
    before = (package_dir / "manifest.yaml").read_text()
    # the speck is NG at every threshold, so no threshold gives zero false alarms
    args = [
        "eval",
        "--model",
        str(package_dir),
        "--dataset",
        str(data),
        "--quiet",
        "--choose",
        "fp_rate<=0.0",
    ]
    code = main([*args, "--json", str(tmp_path / "r.json")])
    assert code == 1
    assert "no threshold in 0.05..0.95 meets it" in capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["image"]["fp"] == 1
    assert (package_dir / "manifest.yaml").read_text() == before


def test_sweep_thresholds_include_an_operating_point_below_the_grid() -> None:
    assert sweep_thresholds([0.06])[:2] == (0.06, 0.1)
    assert sweep_thresholds([0.5]) == SWEEP_THRESHOLDS  # already a row: not twice


def test_eval_report_shows_and_marks_the_operating_point_row(
    known: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    package_dir, data = known
    manifest = load_package(package_dir).manifest
    [point] = manifest.decision_for(None).thresholds.values()

    assert main(["eval", "--model", str(package_dir), "--dataset", str(data), "--quiet"]) == 0

    rows = [line for line in capsys.readouterr().out.splitlines() if line.endswith("<- operating point")]
    assert len(rows) == 1
    assert float(rows[0].split()[0]) == pytest.approx(point, abs=0.005)


def test_a_point_under_the_recall_floor_is_refused_with_the_alternatives_unless_forced(
    known: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package_dir, data = known
    # given a third, tiny defect (2x2, masked): no false alarm at 10 px costs it, recall 2 of 3
    _write(data, "ClassA", "tiny.png", square=(40, 2), value=200, masked=True)
    before = (package_dir / "manifest.yaml").read_text()
    args = ["eval", "--model", str(package_dir), "--dataset", str(data), "--quiet"]
    rule = ["--choose", "fp_rate<=0.0", "--min-areas", "0,10", "--json", str(tmp_path / "r.json")]
    # when chosen with the default floor (0.9): refused, nothing written, the alternatives shown
    assert main([*args, *rule]) == 1
    err = capsys.readouterr().err
    assert "finds 66.7% of the defective images (2 of 3), under --min-recall 90%" in err
    # one false alarm more (the speck, at 0 px) finds all three
    assert "<=  1 false alarms: threshold" in err
    assert "min area 0 px: recall 100.0%" in err
    assert "nothing was written" in err
    assert (package_dir / "manifest.yaml").read_text() == before
    assert json.loads((tmp_path / "r.json").read_text())["chosen"]["fn"] == 1
    # and a floor it meets, or --force, writes it
    assert main([*args, *rule, "--min-recall", "0.6"]) == 0
    assert load_package(package_dir).manifest.decision.min_area_px == {"defect": 10}
    assert main([*args, *rule, "--force"]) == 0
    assert "--force: writing it anyway" in capsys.readouterr().err


def test_progress_in_a_log_is_a_line_per_tenth_not_a_bar(
    known: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    package_dir, data = known
    # given stderr that is not a terminal (a log, a CI job) / when eval runs without --quiet
    assert main(["eval", "--model", str(package_dir), "--dataset", str(data)]) == 0
    err = capsys.readouterr().err
    # then plain lines, no carriage-return redraws
    assert "\r" not in err
    assert [line for line in err.splitlines() if line.startswith("eval: ")][-1] == "eval: 5/5 images"


def test_the_text_report_gives_each_class_its_auroc(
    known: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    package_dir, data = known
    assert main(["eval", "--model", str(package_dir), "--dataset", str(data), "--quiet"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line}
    assert rows["per"][-1] == "AUROC"
    # ClassA: bright (defective) above good -> 1.0; ClassB: faint below the speck (a good image) -> 0.5
    assert rows["ClassA"][-1] == "1.0000"
    assert rows["ClassB"][-1] == "0.5000"
