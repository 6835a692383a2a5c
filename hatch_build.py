"""Wheel build hook: a regular wheel carries the shipped model, samples, configs and systemd files.

They go under ``edge_inspect/_shipped/`` in the repository's layout (found by ``edge_inspect/shipped.py``).
An editable install (``pip install -e .``) reads them from the checkout instead, so it gets no copy.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHIPPED = ("models/dagm-unet", "models/dagm-sample", "config", "systemd")


class ShippedFiles(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "standard":
            for path in SHIPPED:
                build_data["force_include"][path] = f"edge_inspect/_shipped/{path}"
