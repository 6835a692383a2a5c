"""Where a stop's time goes: SIGTERM -> ``stopped`` log line -> process exit, over several runs.

    python tools/measure_stop.py --config config/replay.yaml --runs 5 [--set k=v ...]

Starts ``edge-inspect run`` on the config (the replay looped forever at 10 fps) against a mosquitto it
starts on a free port, waits for ``--after`` seconds of results, sends SIGTERM, and timestamps the
``stopped`` line and the exit as they reach this process (JSON log lines, unbuffered). Prints one JSON
document: each run's ``to_stopped_s``, ``stopped_to_exit_s``, ``to_exit_s``, and their medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edge_inspect.net import free_loopback_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def one_run(config: Path, overrides: list[str], after_s: float) -> dict[str, float]:
    port = free_loopback_port()
    with tempfile.TemporaryDirectory(prefix="measure-stop-") as scratch:
        conf = Path(scratch) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        broker = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.DEVNULL)
        args = ["run", "--config", str(config), "--set", f"mqtt.port={port}", "--set", "source.loop=0"]
        args += [
            "--set",
            "source.fps=10",
            "--set",
            f"paths.state_dir={scratch}/state",
            "--set",
            "logging.format=json",
        ]
        for item in overrides:
            args += ["--set", item]
        exe = shutil.which("edge-inspect")
        cmd = [exe, *args] if exe else [sys.executable, "-m", "edge_inspect.cli", *args]
        daemon = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        seen: dict[str, float] = {}
        started = threading.Event()

        def read() -> None:
            assert daemon.stdout is not None
            for line in daemon.stdout:
                if '"starting"' in line:
                    started.set()
                if '"stopped"' in line:
                    seen["stopped"] = time.monotonic()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            if not started.wait(120):
                raise SystemExit("the daemon did not start")
            time.sleep(after_s)
            sent = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
            exited = time.monotonic()
            reader.join(5)
        finally:
            if daemon.poll() is None:
                daemon.kill()
            broker.terminate()
            broker.wait(10)
    stopped = seen.get("stopped", float("nan"))
    return {
        "to_stopped_s": round(stopped - sent, 3),
        "stopped_to_exit_s": round(exited - stopped, 3),
        "to_exit_s": round(exited - sent, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("config/replay.yaml"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--after", type=float, default=5.0, help="seconds of results before the signal")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    runs = [one_run(args.config, args.overrides, args.after) for _ in range(args.runs)]
    medians: dict[str, Any] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    print(json.dumps({"runs": runs, "median": medians, "load_1m": os.getloadavg()[0]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
