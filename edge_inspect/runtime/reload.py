"""SIGHUP: what a reloaded config changes, and whether the running daemon can apply it.

Only ``decision.*`` (thresholds, areas, count limit, zones) is applied live, between two frames: it is
pure data for a pure function. Anything else (camera, model, engine, broker, outbox...) holds resources
opened at start, so a change there is reported as needing a restart and is not applied.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_inspect.config import AppConfig

LIVE_SECTIONS = frozenset({"decision"})


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """Top-level sections that differ between the running config and the reloaded one."""

    live: tuple[str, ...]
    """Applied now (decision)."""
    restart: tuple[str, ...]
    """Need a restart; left as they run."""


def config_change(running: AppConfig, reloaded: AppConfig) -> ConfigChange:
    """Compare section by section (secrets by value, so a new password counts as a change)."""
    changed = [name for name in AppConfig.model_fields if getattr(running, name) != getattr(reloaded, name)]
    return ConfigChange(
        live=tuple(name for name in changed if name in LIVE_SECTIONS),
        restart=tuple(name for name in changed if name not in LIVE_SECTIONS),
    )
