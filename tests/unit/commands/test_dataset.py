"""``edge-inspect dataset`` and the reference build never write into a folder that holds a user's images."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_inspect.cli import main
from tests.conftest import ROOT

SMALL = ["--size", "64", "--classes", "1", "--train-good", "1", "--train-defective", "0"]
SMALL_TEST = ["--test-good", "1", "--test-defective", "0"]


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _users_folder(folder: Path) -> Path:
    (folder / "Class1" / "Train").mkdir(parents=True)
    for name in ("0001.PNG", "0002.PNG"):
        (folder / "Class1" / "Train" / name).write_bytes(b"the user's own image " + name.encode())
    return folder


def test_a_folder_holding_files_is_refused_and_left_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _users_folder(tmp_path / "mine")
    before = _digests(folder)
    assert main(["dataset", str(folder), *SMALL, *SMALL_TEST]) == 2
    err = capsys.readouterr().err
    assert str(folder) in err
    assert "2 file(s)" in err
    assert "--force" in err
    assert _digests(folder) == before


def test_force_writes_into_it_and_a_new_or_empty_folder_needs_no_force(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["dataset", str(empty), *SMALL, *SMALL_TEST]) == 0
    assert (empty / "dataset.json").is_file()
    assert main(["dataset", str(tmp_path / "new"), *SMALL, *SMALL_TEST]) == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("kept")
    assert main(["dataset", str(mine), *SMALL, *SMALL_TEST, "--force"]) == 0
    assert (mine / "dataset.json").is_file()
    assert (mine / "notes.txt").read_text() == "kept"


def test_the_reference_build_uses_a_users_folder_as_it_is_and_generates_nothing_into_it(
    tmp_path: Path,
) -> None:
    data = _users_folder(tmp_path / "data")
    select = _users_folder(tmp_path / "select")
    before = {"data": _digests(data), "select": _digests(select)}
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [
            "bash",
            str(ROOT / "tools" / "build_reference_model.sh"),
            str(data),
            str(tmp_path / "run"),
            str(tmp_path / "package"),
            str(select),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # then: both folders are used as they are (training on two fake images fails, and that is all)
    assert f"{data} holds files of its own" in done.stderr
    assert f"{select} holds files of its own" in done.stderr
    assert "wrote" not in done.stdout
    assert {"data": _digests(data), "select": _digests(select)} == before
    assert not (tmp_path / "package").exists()
