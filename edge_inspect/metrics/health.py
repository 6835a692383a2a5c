"""Liveness and readiness: pure rules over a sample of the daemon's state, and the probe that samples it.

``/healthz`` (alive): every stage thread is running. A crashed stage is a bug; the daemon then stops
and systemd restarts it, so a probe sees 503 for at most a moment.

``/readyz`` (ready to be counted on): the first frame has been inspected, and the broker is connected -
or, while it is away, results are queueing within limits (``metrics.ready_max_backlog`` results, the
oldest younger than ``metrics.ready_max_backlog_age_s``). A station whose backlog outgrows that is
still inspecting, but a line controller should not rely on its results arriving in time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge_inspect.runtime.stats import Stats

OUTBOX_DEPTH = "outbox.depth"
OUTBOX_AGE = "outbox.oldest_age_s"
MQTT_PENDING = "mqtt.pending"
"""Stats gauges that measure the backlog: the outbox's when it has one, else the MQTT client's queue."""
CRASH_PREFIX = "stage_crash."


@dataclass(frozen=True, slots=True)
class HealthSample:
    """What the health rules look at, sampled at one moment."""

    frames_done: int
    broker_connected: bool
    backlog: int | None
    """Results not yet acknowledged by the broker; None when unknown."""
    backlog_age_s: float | None
    """Age of the oldest of them, seconds; None when unknown or empty."""
    crashed_stages: tuple[str, ...] = ()
    stopping: bool = False


@dataclass(frozen=True, slots=True)
class BacklogLimits:
    max_backlog: int
    max_age_s: float


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class HealthReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "fail",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


def liveness(sample: HealthSample) -> HealthReport:
    """Alive while no stage thread has crashed."""
    if sample.crashed_stages:
        return HealthReport((Check("stages", False, f"crashed: {', '.join(sample.crashed_stages)}"),))
    return HealthReport((Check("stages", True, "every stage thread is running"),))


def readiness(sample: HealthSample, limits: BacklogLimits) -> HealthReport:
    """Ready: alive, not stopping, a frame inspected, results reaching the broker or queued within limits."""
    checks = list(liveness(sample).checks)
    checks.append(Check("running", not sample.stopping, "stopping" if sample.stopping else "running"))
    first = sample.frames_done > 0
    checks.append(
        Check(
            "first_frame",
            first,
            f"{sample.frames_done} frames inspected" if first else "no frame inspected yet",
        )
    )
    checks.append(_broker_check(sample, limits))
    return HealthReport(tuple(checks))


def _broker_check(sample: HealthSample, limits: BacklogLimits) -> Check:
    if sample.broker_connected:
        return Check("broker", True, "connected")
    backlog = sample.backlog
    if backlog is None:
        return Check("broker", False, "disconnected; backlog unknown")
    if backlog > limits.max_backlog:
        return Check("broker", False, f"disconnected; {backlog} results queued > {limits.max_backlog}")
    age = sample.backlog_age_s
    if age is not None and age > limits.max_age_s:
        return Check(
            "broker", False, f"disconnected; oldest queued result {age:.0f} s old > {limits.max_age_s:g} s"
        )
    return Check("broker", True, f"disconnected; queueing within limits ({backlog} results)")


class HealthProbe:
    """Samples ``Stats`` and the publisher for the health rules (the backlog gauges are looked up at each
    sample, so an outbox wired after the probe is still seen)."""

    def __init__(
        self,
        stats: Stats,
        *,
        broker_connected: Callable[[], bool],
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.stats = stats
        self.broker_connected = broker_connected
        self.stopping = stopping

    def sample(self) -> HealthSample:
        counters = self.stats.counters()
        gauges = self.stats.gauges
        depth_gauge = gauges.get(OUTBOX_DEPTH) or gauges.get(MQTT_PENDING)
        age_gauge = gauges.get(OUTBOX_AGE)
        backlog = _read(depth_gauge)
        age = _read(age_gauge) if backlog else None
        crashed = tuple(
            sorted(
                name[len(CRASH_PREFIX) :]
                for name, n in counters.items()
                if name.startswith(CRASH_PREFIX) and n
            )
        )
        return HealthSample(
            frames_done=counters.get("frames", 0),
            broker_connected=bool(self.broker_connected()),
            backlog=None if backlog is None else int(backlog),
            backlog_age_s=age,
            crashed_stages=crashed,
            stopping=bool(self.stopping()),
        )


def _read(gauge: Callable[[], float] | None) -> float | None:
    """A gauge's value; None when there is no such gauge or it fails (the backlog is then unknown)."""
    if gauge is None:
        return None
    try:
        return float(gauge())
    except Exception:  # a failing outbox query must not take the health endpoints down with it
        return None
