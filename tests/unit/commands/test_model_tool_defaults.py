"""The model tools' defaults: shown by --help, and the recipe's own (so a bare ``train`` runs stage 1)."""

from __future__ import annotations

import argparse
import itertools
import re
import shlex

import pytest

from edge_inspect.cli import build_parser
from tests.conftest import ROOT


def _sub(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    chosen: argparse.ArgumentParser = action.choices[name]
    return chosen


def _stage1() -> dict[str, str]:
    script = (ROOT / "tools" / "build_reference_model.sh").read_text()
    line = re.search(r'^edge-inspect train [^\n]*"\$RUN/stage1"(?:[^\n]*\\\n)*[^\n]*$', script, re.M)
    assert line is not None
    words = shlex.split(line.group(0).replace("\\\n", " "))
    return {w[2:]: v for w, v in itertools.pairwise(words) if w.startswith("--")}


@pytest.mark.parametrize("command", ["train", "export"])
def test_help_shows_every_default(command: str) -> None:
    parser = _sub(command)
    text = " ".join(parser.format_help().split())
    shown = [
        a
        for a in parser._actions
        if a.default is not None and a.default is not argparse.SUPPRESS and a.help is not None
    ]
    assert len(shown) >= (15 if command == "train" else 6)
    for action in shown:
        assert f"(default: {action.default})" in text, action.dest


def test_train_defaults_are_the_recipes_stage_1() -> None:
    defaults = {a.dest.replace("_", "-"): a.default for a in _sub("train")._actions}
    for flag, value in _stage1().items():
        if flag in ("dataset", "out", "precision", "seed"):
            continue  # the run's own paths; bf16 is the AMX host's choice, f32 the safe default
        assert str(defaults[flag]) == value, (flag, defaults[flag], value)
