"""Refusing to start, with a message that names the cause: a missing model, a model file whose sha256 does
not match its manifest, an invalid config (every bad field named), an outbox file that is not an outbox.
Nothing is half-started: the exit status says why (2 = config, 1 = anything else).
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.daemon import run_cli
from tests.helpers.tiny_model import make_tiny_package
from tests.integration.faults.harness import sample_images, write_config


def config_for(tmp_path: Path) -> Path:
    return write_config(
        tmp_path, port=1, images=sample_images()[0].parent, frames_loop=1, fps=0, scratch=tmp_path
    )


def test_given_a_missing_model_then_the_daemon_refuses_to_start_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    proc = run_cli("run", "--config", str(config_for(tmp_path)), "--set", f"model.path={missing}", timeout=60)

    assert proc.returncode == 2  # a config problem, found before anything starts
    assert f"--set model.path={missing}: model.path: {missing}: model package folder not found" in proc.stderr


def test_given_a_model_file_that_fails_its_hash_then_the_daemon_refuses_to_start_naming_it(
    tmp_path: Path,
) -> None:
    package = make_tiny_package(tmp_path / "model", size=64, variants=("fp32",))
    weights = package / "fp32" / "model.bin"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\1")

    proc = run_cli("run", "--config", str(config_for(tmp_path)), "--set", f"model.path={package}", timeout=60)

    assert proc.returncode == 2
    assert ": model.path: " in proc.stderr
    assert "model.bin" in proc.stderr
    assert "sha256" in proc.stderr


def test_given_an_invalid_config_then_every_bad_field_is_named_and_the_exit_status_is_2(
    tmp_path: Path,
) -> None:
    config = config_for(tmp_path)
    proc = run_cli(
        "run",
        "--config",
        str(config),
        "--set", "outbox.when_full=drop_newest",
        "--set", "outbox.max_rows=0",
        "--set", "watchdog.max_restarts_per_minute=0",
        "--set", "watchdog.inference_timeout=5",
        "--set", "mqtt.port=0",
        timeout=60,
    )  # fmt: skip

    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    named = {line.split(": ")[1] for line in lines}
    assert named == {
        "outbox.when_full",
        "outbox.max_rows",
        "watchdog.max_restarts_per_minute",
        "watchdog.inference_timeout",
        "mqtt.port",
    }
    # each line names the --set argument that holds the bad value, not the file
    assert all(line.startswith(f"--set {line.split(': ')[1]}=") for line in lines)


def test_given_an_outbox_file_that_is_not_an_outbox_then_the_daemon_refuses_and_keeps_the_file(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    outbox = state / "outbox.sqlite3"
    outbox.write_bytes(b"not sqlite" * 1000)

    proc = run_cli("run", "--config", str(config_for(tmp_path)), timeout=60)

    assert proc.returncode == 1
    assert f"outbox {outbox}: not a usable outbox database" in proc.stderr
    assert outbox.read_bytes() == b"not sqlite" * 1000  # nothing overwritten: whatever it held is kept
