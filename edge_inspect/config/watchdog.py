"""Watchdogs: a silent source or a stuck inference is restarted; too many restarts end the daemon."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge_inspect.config.base import StrictModel

ReadyOn = Literal["first_frame", "started"]


class WatchdogConfig(StrictModel):
    """In-process watchdogs, and the systemd notification protocol (used when $NOTIFY_SOCKET is set)."""

    no_frame_timeout_s: float | None = Field(
        None,
        gt=0,
        description="No frame from the source for this long -> alarm and restart the source (close, open). "
        "null = never: a triggered line may rightly idle for hours.",
    )
    inference_timeout_s: float | None = Field(
        30.0,
        gt=0,
        description="An inference in flight longer than this -> the engine is closed and opened again from "
        "the package; frames in flight get ERROR results. null = never.",
    )
    max_restarts_per_minute: int = Field(
        5,
        ge=1,
        description="Restarts of the source, or of the engine, allowed within any 60 s; one more and the "
        "daemon exits non-zero, for systemd (Restart=on-failure) to start it afresh.",
    )
    check_interval_s: float = Field(
        1.0, gt=0, le=60, description="How often the watchdog looks at the stage timestamps, seconds."
    )
    ready_on: ReadyOn = Field(
        "first_frame",
        description="When systemd is told READY=1: after the 'first_frame' is processed (proves the whole "
        "path works), or once 'started' (a triggered line that may see no part for longer than "
        "TimeoutStartSec).",
    )
    tick_s: float = Field(
        1.0,
        gt=0,
        le=30,
        description="The processing loop wakes at least this often when no result arrives, so that it can "
        "send systemd WATCHDOG=1 while the line is idle.",
    )
