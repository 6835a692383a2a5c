"""``engine.type: auto`` at start-up: probe this machine, choose (``select.py``), log the choice and why."""

from __future__ import annotations

from pathlib import Path

import structlog

from edge_inspect.config.engines import AutoEngineConfig
from edge_inspect.engines.probe import Capabilities, probe_capabilities
from edge_inspect.engines.select import Choice, choose_engine
from edge_inspect.model import ModelPackage
from edge_inspect.types import Engine

log = structlog.get_logger(__name__)


def resolve_auto(config: AutoEngineConfig, capabilities: Capabilities | None = None) -> Choice:
    """Choose the engine for this machine (probing it unless ``capabilities`` is given) and log why."""
    caps = probe_capabilities() if capabilities is None else capabilities
    choice = choose_engine(caps, config)
    log.info(
        "engine chosen",
        engine=choice.engine_config.type,
        reason=choice.reason,
        passed_over=list(choice.passed_over),
    )
    return choice


def open_auto_engine(
    config: AutoEngineConfig, package: ModelPackage, variant: str | None, cache_dir: Path | None
) -> Engine:
    """The plug-in behind ``engine.type: auto``: it has no engine of its own, it opens the chosen one
    (as :func:`edge_inspect.engines.open_engine` does, which resolves the config before any plug-in)."""
    from edge_inspect.engines import open_engine  # noqa: PLC0415 (the package imports this module's peers)

    return open_engine(config, package, variant, cache_dir)
