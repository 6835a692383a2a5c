"""The durable outbox: where results wait (on disk) until the broker has acknowledged them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge_inspect.config.base import StrictModel
from edge_inspect.config.paths import must_be_absolute

OutboxSync = Literal["normal", "full"]
FullPolicy = Literal["drop_oldest", "reject_new"]

OUTBOX_FILE = "outbox.sqlite3"
"""The outbox's file name inside ``paths.state_dir`` when ``outbox.path`` is not set."""


class OutboxConfig(StrictModel):
    """A result is committed here before its frame counts as done, and deleted on the broker's PUBACK.

    Bounds (rows, bytes, age) keep a long outage from filling the disk; when one is hit, ``when_full``
    says what gives, and every result given up is counted (``outbox.dropped``) and raises an alarm.
    """

    enabled: bool | None = Field(
        None,
        description="Keep results in the outbox until acknowledged; null = on when paths.state_dir is set "
        "(or outbox.path). Off: results go straight to the MQTT client and live in memory only.",
    )
    path: Path | None = Field(
        None, description=f"Absolute path of the SQLite file; null = '<paths.state_dir>/{OUTBOX_FILE}'."
    )
    sync: OutboxSync = Field(
        "normal",
        description="SQLite 'synchronous' in WAL mode. 'normal': a committed result survives a crash or "
        "SIGKILL of the daemon; a power loss may lose the last commits. 'full': every commit is fsynced, "
        "so it also survives a power loss, at the cost of one fsync per result.",
    )
    max_rows: int = Field(
        1_000_000, ge=1, description="Most results held; more trigger the 'when_full' policy."
    )
    max_bytes: int = Field(
        1 << 30,
        ge=4096,
        description="Most payload bytes held (the SQLite file is somewhat larger); more trigger 'when_full'.",
    )
    max_age_s: float | None = Field(
        7 * 24 * 3600.0,
        gt=0,
        description="Results older than this are dropped unsent (counted, alarmed); null = no age limit.",
    )
    when_full: FullPolicy = Field(
        "drop_oldest",
        description="When a bound is reached: 'drop_oldest' evicts the oldest waiting results to store the "
        "new one; 'reject_new' keeps the backlog and does not store the new result. Either way every "
        "result given up is counted in outbox.dropped and logged with its result_id.",
    )
    keep_acked_s: float = Field(
        10.0,
        ge=0,
        le=86400,
        description="Keep a result this long after its first PUBACK and send it again (resent: true) if "
        "the connection drops meanwhile, or if the daemon itself ends abruptly: a broker that persists "
        "periodically (mosquitto's autosave_interval) loses what it acknowledged since its last save when "
        "it crashes. Set it well above the broker's save interval; 0 = trust every PUBACK. The window "
        "starts at the first PUBACK and is not restarted by a re-send's, so each outage re-sends about "
        "(result rate x keep_acked_s) results.",
    )
    max_resends: int = Field(
        1,
        ge=1,
        le=10,
        description="Times one result is sent again after lost connections (within keep_acked_s of its "
        "first PUBACK), at most once per outage. 1 bounds the duplicates of a run to one per result "
        "however often the broker drops; raise it for a broker that is often killed again before it "
        "saves the re-sends.",
    )
    max_inflight: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Results handed to the MQTT client and awaiting PUBACK at once; "
        "null = mqtt.max_inflight.",
    )
    fallback_max_pending: int = Field(
        1000,
        ge=0,
        description="When the outbox cannot store (disk full), results are published directly as a best "
        "effort, held in memory; at most this many wait for PUBACK, further ones are counted as lost.",
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return must_be_absolute(value)

    @model_validator(mode="after")
    def _check(self) -> OutboxConfig:
        if self.enabled is False and "path" in self.model_fields_set and self.path is not None:
            msg = "path is set but enabled is false; remove one of them"
            raise ValueError(msg)
        return self

    def resolved_path(self, state_dir: Path | None) -> Path | None:
        """The SQLite file to use, or None when the outbox is off (explicitly, or for want of a folder)."""
        if self.enabled is False:
            return None
        if self.path is not None:
            return self.path
        return state_dir / OUTBOX_FILE if state_dir is not None else None


def outbox_problems(outbox: OutboxConfig, state_dir: Path | None) -> list[str]:
    """Cross-section checks (``outbox`` with ``paths``), as ``dotted.path: message`` lines."""
    if outbox.enabled is True and outbox.path is None and state_dir is None:
        return ["outbox.enabled: true needs paths.state_dir or outbox.path (where the outbox file lives)"]
    return []
