"""The scheduling policy of the daemon's own per-frame threads (``runtime.scheduling``).

Where a CPU engine keeps every core busy, each wake-up of a daemon thread (a frame queued, an inference
finished, a PUBACK read) lets the kernel preempt an inference in mid-layer, which then resumes on caches
the daemon's Python has just overwritten. Under Linux's ``SCHED_BATCH`` a woken thread does not preempt
a running one: it runs when that thread's time slice ends or a core falls idle. The engine then runs in
longer stretches. ``SCHED_BATCH`` keeps the thread's weight (nice value) and fair share of CPU, and on an
idle core the thread runs at once, so a station that is not saturated sees no delay.

Only the threads that do per-frame work call :func:`thread_init`'s function first thing: the pipeline's
stages, the MQTT client's network thread, the outbox sender and the image writer. The engine's own
threads keep the process's policy. Threads inherit their creator's policy, so nothing that creates an
engine (the main thread, the watchdog) takes the batch policy.

``default`` leaves every thread as the process was started (``SCHED_OTHER``, or a systemd unit's
``CPUSchedulingPolicy=``). The measured effect is in docs/benchmark.md, "Tuning knobs".
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable

import structlog

from edge_inspect.types import ThreadPolicy

log = structlog.get_logger(__name__)

_warned = threading.Lock()
"""Taken, never released, by the first warning: stage threads start together, and only one may warn."""


def thread_init(policy: ThreadPolicy) -> Callable[[], object]:
    """What each per-frame thread calls first: gives the calling thread ``policy``."""
    return functools.partial(apply_to_current_thread, policy)


def apply_to_current_thread(policy: ThreadPolicy) -> bool:
    """Give the calling thread ``policy``; False where the OS refuses it or lacks it (warned once per
    process: the daemon runs on, with the threads as they were)."""
    if policy == "default":
        return True
    number: int | None = getattr(os, "SCHED_BATCH", None)
    if number is None or not hasattr(os, "sched_setscheduler"):
        _warn(policy, "this OS has no SCHED_BATCH")
        return False
    try:
        os.sched_setscheduler(threading.get_native_id(), number, os.sched_param(0))
    except OSError as exc:
        _warn(policy, exc.strerror or str(exc))
        return False
    return True


def _warn(policy: ThreadPolicy, reason: str) -> None:
    if _warned.acquire(blocking=False):
        log.warning("runtime.scheduling not applied; threads keep their policy", policy=policy, reason=reason)
