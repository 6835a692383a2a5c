"""What the fault tests share: the model and images to replay, a daemon sub-process with its log in a file,
a persistent-session subscriber on a persistent mosquitto, an outbox depth probe, and the figures report.

The replay is the shipped sample set (``models/dagm-sample``) looped to 2,000+ frames through the shipped
model (``models/dagm-unet``); while that model is missing, through the tiny real OpenVINO test model
(``tests/helpers/tiny_model.py``) at the samples' size, with a threshold that never fires (the fault
tests count deliveries, not defects).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import yaml

from tests.helpers import waiting
from tests.helpers.broker import Mosquitto, Subscriber
from tests.helpers.daemon import ROOT, command

SAMPLES = ROOT / "models" / "dagm-sample"
SHIPPED_MODEL = ROOT / "models" / "dagm-unet"
IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg"}
MIN_FRAMES = 2000
RESULTS = "edge-inspect/+/+/result"
STATUS = "edge-inspect/+/status"


def sample_images() -> list[Path]:
    return sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def loops_for(images: int, frames: int = MIN_FRAMES) -> int:
    """Passes over ``images`` files that give at least ``frames`` frames."""
    return math.ceil(frames / images)


def fault_model(scratch: Path) -> tuple[Path, dict[str, Any]]:
    """(model package, decision overrides): the shipped model, or the tiny one at the samples' size."""
    if (SHIPPED_MODEL / "manifest.yaml").is_file():
        return SHIPPED_MODEL, {}
    from tests.helpers.tiny_model import make_tiny_package

    first = cv2.imread(str(sample_images()[0]), cv2.IMREAD_UNCHANGED)
    if first is None:
        msg = f"cannot read {sample_images()[0]}"
        raise RuntimeError(msg)
    size = int(first.shape[0])
    package = make_tiny_package(scratch / "tiny-model", size=size, variants=("fp32",))
    return package, {"thresholds": {"defect": 1.0}}


def persistent_broker(workdir: Path) -> Mosquitto:
    """mosquitto saving its state every second. As root it would drop to the 'mosquitto' user, which
    cannot reach a pytest temporary folder (mode 0700): keep it root so that it can save."""
    return Mosquitto(workdir, persistence=True)


def mes_subscriber(port: int, client_id: str = "mes-line-1") -> Subscriber:
    """The MES: QoS 1, persistent session (clean_start=False), so nothing published while it is away is
    lost; it reconnects by itself after a broker restart."""
    return Subscriber(port, [RESULTS, STATUS], session=True, client_id=client_id)


def register_session(broker: Mosquitto, client_id: str = "mes-line-1") -> None:
    """Create the MES's persistent session and let the broker save it (autosave every second)."""
    with mes_subscriber(broker.port, client_id):
        time.sleep(1.5)


def write_config(
    folder: Path,
    *,
    port: int,
    images: Path,
    frames_loop: int,
    fps: float,
    scratch: Path,
    outbox: dict[str, Any] | None = None,
) -> Path:
    """A station config for the fault tests (outbox in ``folder/state``)."""
    model, decision = fault_model(scratch)
    config = {
        "station": "line-1",
        "camera": "cam-1",
        "source": {
            "type": "replay",
            "path": str(images),
            "fps": fps,
            "loop": frames_loop,
            "ground_truth": None,
            "cache_in_memory": True,
        },
        "model": {"path": str(model)},
        "engine": {"type": "openvino"},
        "decision": decision,
        "mqtt": {"port": port, "reconnect_min_s": 1, "reconnect_max_s": 1, "keepalive_s": 10},
        "runtime": {"shutdown_grace_s": 60},
        "logging": {"format": "json", "level": "info"},
        "paths": {"state_dir": str(folder / "state")},
        "outbox": outbox or {},
    }
    path = folder / "station.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@dataclass
class Daemon:
    """``edge-inspect run`` as a sub-process, its log (JSON lines) appended to ``log_path``."""

    config: Path
    log_path: Path
    overrides: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        args = ["run", "--config", str(self.config)]
        for item in self.overrides:
            args += ["--set", item]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command(*args), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **self.env}
        )
        log.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as in a crash or an OOM kill."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def events(self, name: str) -> list[dict[str, Any]]:
        """Log records whose ``event`` is ``name``."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("event") == name:
                    found.append(record)
        return found


def waiting_rows(outbox: Path) -> list[tuple[str, int]]:
    """(result_id, run) of every row still waiting for a PUBACK, read-only (the daemon may be running)."""
    return [
        (str(r[0]), int(r[1]))
        for r in _query(outbox, "SELECT result_id, run FROM outbox WHERE acked_at IS NULL")
    ]


def all_rows(outbox: Path) -> list[str]:
    """Every result_id in the outbox, acknowledged (kept) or not."""
    return [str(r[0]) for r in _query(outbox, "SELECT result_id FROM outbox")]


def _query(outbox: Path, select: str) -> list[Any]:
    """Rows of ``select ... ORDER BY id``, read-only; none while the daemon is still creating the file."""
    if not outbox.exists():
        return []
    try:
        with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(f"{select} ORDER BY id").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


class DepthProbe:
    """Samples the outbox's waiting rows every ``period_s`` from another connection; keeps the peak."""

    def __init__(self, outbox: Path, period_s: float = 0.25) -> None:
        self.outbox = outbox
        self.period_s = period_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                with sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True, timeout=1) as db:
                    (depth,) = db.execute("SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL").fetchone()
                self.peak = max(self.peak, int(depth))
            except sqlite3.Error:
                continue  # not created yet, or busy: the next sample will do

    def __enter__(self) -> DepthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def results(sub: Subscriber) -> list[dict[str, Any]]:
    return [m.json() for m in sub.on("/result")]


def distinct_results(sub: Subscriber) -> int:
    """Results received so far, each ``result_id`` counted once."""
    return len({r["result_id"] for r in results(sub)})


@dataclass
class Figures:
    """What a fault test reports (printed with -s, and written as JSON under its tmp_path)."""

    test: str
    frames: int
    results_received: int
    unique_received: int
    lost: int
    duplicated: int
    outbox_peak: int
    replayed_received: int
    faults: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def report(self, folder: Path) -> None:
        text = json.dumps(asdict(self), indent=2)
        (folder / "figures.json").write_text(text, encoding="utf-8")
        print(f"\nFAULT FIGURES {self.test}: {json.dumps(asdict(self))}")


def wait_until(predicate: Any, timeout: float, period: float = 0.1) -> bool:
    return waiting.wait_until(predicate, timeout, period)


def chunks(values: Sequence[float], gap: float) -> Iterator[float]:
    """``values`` sorted, dropping any closer than ``gap`` to the previous kept one."""
    last = -math.inf
    for value in sorted(values):
        if value - last >= gap:
            last = value
            yield value
