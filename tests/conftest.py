"""Shared fixtures: a real mosquitto broker on loopback, and paths to the shipped model and sample set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from tests.helpers.broker import Mosquitto

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "models" / "dagm-unet"
SAMPLE_DIR = ROOT / "models" / "dagm-sample"


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """A test that configures logging (CLI commands run in-process) must not change the next test's."""
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def _own_state_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Durable state is on by default (the user's state folder): each test gets its own, so no test
    reads another's outbox, and none writes to the real home folder. Daemons started as sub-processes
    inherit it."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh mosquitto on a free 127.0.0.1 port, stopped after the test."""
    with Mosquitto(tmp_path / "broker") as running:
        yield running


@pytest.fixture(scope="session")
def model_dir() -> Path:
    if not (MODEL_DIR / "manifest.yaml").is_file():
        pytest.skip("the shipped model package models/dagm-unet is missing")
    return MODEL_DIR


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    if not SAMPLE_DIR.is_dir():
        pytest.skip("the shipped sample set models/dagm-sample is missing")
    return SAMPLE_DIR
