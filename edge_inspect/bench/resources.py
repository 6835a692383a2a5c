"""What a benchmark costs the machine: CPU time, resident memory and load average, read from the kernel.

CPU comes from ``os.times()`` (this process: every thread, OpenVINO's included) or ``/proc/PID/stat``
(another process, e.g. the broker the bench started), and per thread from ``/proc/self/task/TID/stat``
(where the daemon's CPU goes: its stages, the MQTT client, the engine's own workers); RSS from
``/proc/self/status`` (``VmRSS``), with ``resource.getrusage``'s peak as the fallback where ``/proc`` is
missing.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

_KIB = 1024.0
_MIB = 1024.0 * 1024.0
_UTIME, _STIME = 11, 12
"""Indexes of utime and stime in /proc/PID/stat once ``pid (comm)`` is cut off (proc(5) fields 14, 15)."""
NATIVE_THREADS = "native"
"""The label of threads Python did not start: the engine's workers, libraries' own pools."""
_PAHO_PREFIX = "paho-mqtt-client"
"""paho names its network thread after the client id; the label drops the id."""


@dataclass(frozen=True, slots=True)
class ResourceSample:
    """One reading: monotonic time, this process's CPU seconds (user + system), RSS and load average."""

    at: float
    cpu_s: float
    rss_mb: float
    load1: float
    threads: Mapping[str, float] = field(default_factory=dict)
    """CPU seconds of the live threads, summed per label (:func:`thread_cpu_s`)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """What happened between two samples: CPU in percent of one core (200 % = two cores busy)."""

    seconds: float
    cpu_pct: float
    rss_start_mb: float
    rss_end_mb: float
    load1: float
    """The 1-minute load average at the end: other work on the machine shows here."""
    thread_cpu_s: Mapping[str, float] = field(default_factory=dict)
    """CPU seconds per thread label over the span (threads alive at its end; one that ended inside the
    span took its time with it, so the labels may add up to less than ``cpu_pct`` says)."""


def rss_mb(status: Path = Path("/proc/self/status"), field: str = "VmRSS") -> float:
    """Resident set size now, MiB; the peak so far where ``/proc`` cannot be read.

    ``field="RssAnon"`` gives the anonymous part (heap, arrays: where a leak shows), without the pages
    of mapped libraries (``RssFile``), which grow as more of their code runs and are not a leak.
    """
    try:
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith(f"{field}:"):
                return float(line.split()[1]) * _KIB / _MIB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _KIB / _MIB


def rss_anon_mb() -> float:
    """The anonymous part of the resident set, MiB (see :func:`rss_mb`)."""
    return rss_mb(field="RssAnon")


def load1() -> float:
    """The 1-minute load average (NaN where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def sample() -> ResourceSample:
    times = os.times()
    return ResourceSample(time.monotonic(), times.user + times.system, rss_mb(), load1(), thread_cpu_s())


def usage(start: ResourceSample, end: ResourceSample) -> Usage:
    """CPU percent and RSS between ``start`` and ``end`` (a zero-length span gives NaN CPU)."""
    seconds = end.at - start.at
    cpu = (end.cpu_s - start.cpu_s) / seconds * 100.0 if seconds > 0 else float("nan")
    threads = {label: max(0.0, spent - start.threads.get(label, 0.0)) for label, spent in end.threads.items()}
    return Usage(seconds, cpu, start.rss_mb, end.rss_mb, end.load1, threads)


def thread_label(name: str | None) -> str:
    """A thread's report label: its Python name (paho's without the client id), or :data:`NATIVE_THREADS`."""
    if name is None:
        return NATIVE_THREADS
    return _PAHO_PREFIX if name.startswith(_PAHO_PREFIX) else name


def thread_cpu_s(tasks: Path = Path("/proc/self/task")) -> dict[str, float]:
    """CPU seconds of this process's live threads, summed per :func:`thread_label` ({} without ``/proc``).

    Python threads are matched to the kernel's by ``native_id``; the rest (OpenVINO's workers, OpenCV's)
    add up under :data:`NATIVE_THREADS`.
    """
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    try:
        ids = [entry.name for entry in tasks.iterdir()]
    except OSError:
        return {}
    spent: dict[str, float] = {}
    for tid in ids:
        seconds = _stat_cpu_s(tasks / tid / "stat")
        if seconds is None or not tid.isdigit():
            continue  # the thread ended between the listing and the read
        label = thread_label(names.get(int(tid)))
        spent[label] = spent.get(label, 0.0) + seconds
    return spent


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) of process ``pid`` from ``/proc``; None when it cannot be read."""
    return _stat_cpu_s(Path(f"/proc/{pid}/stat"))


def _stat_cpu_s(path: Path) -> float | None:
    """utime + stime of a ``/proc/.../stat`` file, in seconds; None when it cannot be read."""
    try:
        text = path.read_text(encoding="ascii")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()  # the command name may hold spaces: cut after its ')'
    try:
        ticks = int(fields[_UTIME]) + int(fields[_STIME])
    except (IndexError, ValueError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, object]:
    """Cores, CPU model and memory of this machine, for the report's header."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cores": available, "cpu_count": os.cpu_count(), "cpu_model": model}


class RssSampler:
    """Samples RSS every ``interval_s`` on a thread, for the long run's growth figure."""

    def __init__(self, interval_s: float, read: Callable[[], float] = rss_mb) -> None:
        """``read`` gives one reading in MiB: :func:`rss_mb` (all of it) or :func:`rss_anon_mb`."""
        if interval_s <= 0:
            msg = f"interval_s must be > 0, got {interval_s}"
            raise ValueError(msg)
        self.interval_s = interval_s
        self._read = read
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._values: list[float] = []
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            now, value = time.monotonic(), self._read()
            with self._lock:
                self._times.append(now)
                self._values.append(value)
            if self._stop.wait(self.interval_s):
                return

    def samples(self, since: float = float("-inf")) -> tuple[list[float], list[float]]:
        """(times, MB) of the samples taken at or after monotonic time ``since``."""
        with self._lock:
            pairs = [(t, v) for t, v in zip(self._times, self._values, strict=True) if t >= since]
        return [t for t, _ in pairs], [v for _, v in pairs]
