"""Runtime behaviour: queues, shutdown, logging, state and cache folders."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from edge_inspect.config.base import StrictModel
from edge_inspect.config.paths import must_be_absolute
from edge_inspect.types import ThreadPolicy


class RuntimeConfig(StrictModel):
    queue_size: int = Field(4, ge=1, description="Capacity of each queue between stages, in frames.")
    shutdown_grace_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="On SIGTERM: time allowed to drain in-flight frames before exiting (at most an hour; "
        "systemd's TimeoutStopSec must be longer).",
    )
    max_frame_errors_logged: int = Field(
        100, ge=0, description="Log at most this many per-frame errors in full; later ones are counted."
    )
    opencv_threads: int | None = Field(
        1,
        ge=1,
        description="Threads OpenCV may use (cv2.setNumThreads), set once at start. 1: the stages already "
        "run beside the engine, whose own threads (engine.num_threads) fill the cores, so a second pool "
        "would only compete with it; null = OpenCV's default (one per core).",
    )
    scheduling: ThreadPolicy = Field(
        "default",
        description="Linux scheduling policy of the daemon's own per-frame threads (stages, MQTT network "
        "thread, outbox sender, image writer); the engine's threads keep the process's. 'batch' "
        "(SCHED_BATCH): a woken daemon thread waits for the running inference's time slice to end "
        "instead of preempting it, so a CPU engine that fills the cores runs in longer stretches; on an "
        "idle core the thread still runs at once. 'default': as the process was started.",
    )


class LoggingConfig(StrictModel):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="'auto': readable on a terminal, JSON lines otherwise (journald)."
    )


class PathsConfig(StrictModel):
    state_dir: Path | None = Field(
        None,
        description="Absolute folder for durable state (outbox, saved images); null = systemd's "
        "$STATE_DIRECTORY when set, else $XDG_STATE_HOME/edge-inspect/<station>, else "
        "~/.local/state/edge-inspect/<station> (resolved when the config is loaded, so check-config shows "
        "it). Results are durable by default; outbox.enabled: false turns that off.",
    )
    cache_dir: Path | None = Field(
        None, description="Absolute folder for caches (compiled models); null = no cache."
    )

    @field_validator("state_dir", "cache_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return must_be_absolute(value)


def default_state_dir(environ: Mapping[str, str], home: Path, station: str) -> tuple[Path, str]:
    """Where durable state goes when ``paths.state_dir`` is not set, and which rule chose it.

    systemd's ``StateDirectory=`` gives the unit its own folder in ``$STATE_DIRECTORY`` (several, colon
    separated, when the unit names several: the first is ours); elsewhere the XDG base directory rule,
    one folder per station, so two stations of one user never share an outbox.
    """
    systemd = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd and Path(systemd).is_absolute():
        return Path(systemd), "$STATE_DIRECTORY"
    xdg = environ.get("XDG_STATE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "edge-inspect" / station, "$XDG_STATE_HOME"
    return home / ".local" / "state" / "edge-inspect" / station, "~/.local/state"
