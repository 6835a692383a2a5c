"""Load the plug-in ``"package.module:Class"`` named by a config model's ``plugin`` class variable.

Imports happen only when a plug-in is used, so a station without pypylon or TensorRT never imports them.

Constructor conventions (the composition root calls these):
- sources: ``Class(config, camera: str, status: StatusListener)`` -> FrameSource
- engines: ``Class(config, package: ModelPackage, variant: str | None, cache_dir: Path | None)`` -> Engine
"""

from __future__ import annotations

import importlib
from typing import Any

from edge_inspect.errors import EdgeInspectError


def load_plugin(spec: str) -> Any:
    """Import ``module:attribute`` and return the attribute."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        msg = f"bad plug-in reference {spec!r}: expected 'package.module:Name'"
        raise EdgeInspectError(msg)
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        msg = f"plug-in module {module_name} has no {attribute}"
        raise EdgeInspectError(msg) from None


def plugin_of(config: Any) -> Any:
    """The implementation class named by a plug-in config model (its ``plugin`` class variable)."""
    return load_plugin(type(config).plugin)
