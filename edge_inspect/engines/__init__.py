"""Inference engines: one plug-in module per backend, chosen by the config's ``type``.

The composition root calls :func:`open_engine`; the backends' modules (and openvino, tensorrt) are imported
only when their config is used. Every engine passes the contract suite in ``tests/contract``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from edge_inspect.errors import EngineError
from edge_inspect.model.package import ModelPackage
from edge_inspect.plugins import plugin_of
from edge_inspect.types import Engine

__all__ = ["ResolvableEngineConfig", "concrete_engine_config", "open_engine"]

_MAX_RESOLVE_STEPS = 4
"""A resolvable config may resolve to another one; more steps than this is a loop."""


@runtime_checkable
class ResolvableEngineConfig(Protocol):
    """An engine config that stands for another (``type: auto``): ``resolve()`` returns the concrete one."""

    def resolve(self) -> Any: ...


def open_engine(
    config: Any, package: ModelPackage, variant: str | None = None, cache_dir: Path | None = None
) -> Engine:
    """Instantiate the engine ``config`` names, after resolving a config that stands for another.

    ``variant`` picks the package's artifact (None = its default); ``cache_dir`` is the daemon's cache
    folder (``paths.cache_dir``), under which an engine may keep compiled models. A caller that opens
    the same engine again (the watchdog's restart) resolves once with :func:`concrete_engine_config`.
    """
    concrete = concrete_engine_config(config)
    engine: Engine = plugin_of(concrete)(concrete, package, variant, cache_dir)
    return engine


def concrete_engine_config(config: Any) -> Any:
    """The engine config ``config`` stands for (``type: auto`` probes this machine once, here): the one
    way a resolvable config is resolved."""
    for _ in range(_MAX_RESOLVE_STEPS + 1):
        if not isinstance(config, ResolvableEngineConfig):
            return config
        config = config.resolve()
    msg = f"engine config {type(config).__name__} did not resolve to a concrete engine"
    raise EngineError(msg)
