"""Preflight: what ``run`` would refuse is found by ``check-config`` too, naming the field; folders are
made the way systemd makes a StateDirectory= (the last level only), and each one made is said."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edge_inspect.config.loader import load_config_with_origins
from edge_inspect.errors import ConfigError
from edge_inspect.preflight import check, folders, preflight, prepare_folders
from tests.helpers.daemon import ROOT, run_cli

CONFIG = ROOT / "config" / "replay.yaml"


def problems(*overrides: str) -> list[str]:
    return preflight(load_config_with_origins(CONFIG, overrides), for_run=True)


def check_config(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("check-config", str(CONFIG), *args, timeout=60)


def test_given_the_shipped_config_when_checked_then_nothing_is_wrong(tmp_path: Path) -> None:
    assert problems(f"paths.state_dir={tmp_path / 'state'}") == []


@pytest.mark.parametrize(
    ("override", "field", "words"),
    [
        ("model.path=/nonexistent/model", "model.path", "not found"),
        ("model.variant=int4", "model.variant", "int4"),
        ("source.path=/nonexistent/frames", "source.path", "/nonexistent/frames"),
        ("source.ground_truth=/nonexistent/masks", "source.ground_truth", "/nonexistent/masks"),
        ("mqtt.password_file=/nonexistent/secret", "mqtt.password_file", "/nonexistent/secret"),
        ("mqtt.tls.ca_file=/nonexistent/ca.pem", "mqtt.tls.ca_file", "/nonexistent/ca.pem"),
    ],
)
def test_given_what_run_would_refuse_when_checked_then_the_line_names_the_set_argument_and_field(
    override: str, field: str, words: str
) -> None:
    extra = ("mqtt.username=station",) if field == "mqtt.password_file" else ()
    found = problems(override, *extra)

    assert len(found) == 1, found
    assert found[0].startswith(f"--set {override}: {field}: "), found
    assert words in found[0]


@pytest.mark.parametrize("prefix", ["a//b", "a/b/", "$SYS/x"])
def test_given_a_bad_topic_prefix_when_checked_then_check_config_exits_2_naming_it(prefix: str) -> None:
    proc = check_config("--set", f"mqtt.topic_prefix={prefix}")

    assert proc.returncode == 2, proc.stdout
    assert "mqtt.topic_prefix" in proc.stderr


def test_given_a_config_for_another_machine_when_checked_syntax_only_then_it_passes() -> None:
    proc = check_config("--set", "model.path=/opt/elsewhere/model", "--syntax-only")
    full = check_config("--set", "model.path=/opt/elsewhere/model")

    assert proc.returncode == 0, proc.stderr
    assert full.returncode == 2
    assert "model.path" in full.stderr


def test_given_a_cache_folder_two_levels_deep_when_checked_then_it_is_refused_and_nothing_made(
    tmp_path: Path,
) -> None:
    target = tmp_path / "missing" / "a" / "b"
    loaded = load_config_with_origins(CONFIG, [f"paths.state_dir={tmp_path}", f"paths.cache_dir={target}"])

    found = preflight(loaded)
    with pytest.raises(ConfigError, match=r"paths\.cache_dir: .*only the last level is made"):
        check(loaded)

    assert len(found) == 1
    assert found[0].startswith(f"--set paths.cache_dir={target}: paths.cache_dir: ")
    assert not (tmp_path / "missing").exists()


def test_given_a_missing_last_level_when_prepared_then_only_it_is_made_private_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    loaded = load_config_with_origins(
        CONFIG, [f"paths.state_dir={state}", "images.enabled=true", f"paths.cache_dir={tmp_path / 'cache'}"]
    )
    check(loaded)  # images under a state folder that does not exist yet: made after it, in order

    made = prepare_folders(loaded)

    assert made == [state, state / "images", tmp_path / "cache"]
    assert all(p.stat().st_mode & 0o777 == 0o750 for p in made)
    out = capsys.readouterr()
    assert out.out.count("made folder") + out.err.count("made folder") == 3


def test_given_the_default_state_folder_when_prepared_then_its_missing_parents_are_made_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg" / "state"))
    loaded = load_config_with_origins(CONFIG)
    [state] = [f for f in folders(loaded) if f.field == "paths.state_dir"]
    assert state.defaulted
    assert state.path == tmp_path / "xdg" / "state" / "edge-inspect" / "replay-1"

    check(loaded)
    made = prepare_folders(loaded)

    assert made[0] == tmp_path / "xdg"
    assert made[-1] == state.path
    assert state.path.is_dir()


def test_given_a_state_path_that_is_a_file_when_checked_then_it_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("not a folder")

    found = problems(f"paths.state_dir={blocker}")

    assert any("paths.state_dir" in line and "not a folder" in line for line in found), found
