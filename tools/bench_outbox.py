"""Pipeline throughput with the durable outbox on and off, and the outbox's own cost per result.

    python tools/bench_outbox.py --config config/replay.yaml --frames 2000 --repeat 3 [--set k=v ...]

Runs ``edge-inspect run`` on the config's replay (from memory, unpaced, looped to ``--frames``) against a
mosquitto it starts on a free port, alternating outbox on / off ``--repeat`` times so that the two modes
share the machine's background load; reports the daemon's own fps (its ``stopped`` log line) and its CPU
time per frame for each run, and the medians per mode. ``--micro`` also times ``Outbox.put`` and
``Outbox.ack`` alone for both ``sync`` settings. Prints a JSON document (``--out`` writes it too).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edge_inspect.config import load_config
from edge_inspect.net import free_loopback_port
from edge_inspect.publish.outbox import Limits, Outbox
from edge_inspect.sources.replay import find_files

ROOT = Path(__file__).resolve().parent.parent
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def image_count(config: Path, overrides: list[str]) -> int:
    source = load_config(config, overrides).source
    files, _video = find_files(source.path, source.extensions)  # type: ignore[union-attr]
    return len(files)


def run_daemon(config: Path, overrides: list[str], state: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "edge_inspect.cli", "run", "--config", str(config)]
    for item in [*overrides, f"paths.state_dir={state}", "logging.format=json"]:
        command += ["--set", item]
    started = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.monotonic() - started
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"daemon failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    for line in reversed((proc.stdout + proc.stderr).splitlines()):
        if '"stopped"' in line:
            record = json.loads(line)
            return {
                "fps": record["fps"],
                "frames": record["frames"],
                "wall_s": round(wall, 1),
                # CPU time of the whole daemon process (start-up included) per frame: steadier than fps
                # on a shared machine, where other jobs take the cores
                "cpu_ms_per_frame": round(cpu_s / record["frames"] * 1000, 2),
            }
    raise SystemExit("no 'stopped' line in the daemon's log")


def micro(n: int) -> dict[str, Any]:
    payload = json.dumps({"result_id": "0" * 32, "defects": [], "pad": "x" * 1100}).encode()
    figures: dict[str, Any] = {"payload_bytes": len(payload)}
    for sync in ("normal", "full"):
        count = n if sync == "normal" else max(50, n // 10)
        with tempfile.TemporaryDirectory(dir=ROOT) as scratch:
            box = Outbox(Path(scratch) / "o.sqlite3", Limits(10**7, 1 << 34, None, "drop_oldest"), sync=sync)
            t0 = time.perf_counter()
            for i in range(count):
                box.put(f"k{i}", "t", payload)
            put_us = (time.perf_counter() - t0) / count * 1e6
            ids = [entry.row_id for entry in box.peek(0, count)]
            t0 = time.perf_counter()
            for start in range(0, count, 20):
                box.ack(ids[start : start + 20])
            ack_us = (time.perf_counter() - t0) / math.ceil(count / 20) * 1e6
            box.close()
        figures[sync] = {"puts": count, "put_us": round(put_us, 1), "ack_20_us": round(ack_us, 1)}
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "replay.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--frames", type=int, default=2000, help="frames per run (at least)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode, alternating")
    parser.add_argument("--sync", choices=["normal", "full"], default="normal", help="outbox.sync when on")
    parser.add_argument("--micro", type=int, default=0, help="also time N outbox puts alone")
    parser.add_argument("--out", type=Path, help="write the JSON report here too")
    args = parser.parse_args()

    loops = math.ceil(args.frames / image_count(args.config, args.overrides))
    port = free_loopback_port()
    base = [
        *args.overrides,
        f"mqtt.port={port}",
        f"source.loop={loops}",
        "source.fps=0",
        "source.cache_in_memory=true",
        "source.ground_truth=null",
    ]
    report: dict[str, Any] = {"frames_per_run": None, "runs": {"on": [], "off": []}}
    with tempfile.TemporaryDirectory() as scratch:
        broker = subprocess.Popen(
            [MOSQUITTO, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(0.5)
            for i in range(args.repeat):
                for mode in ("on", "off") if i % 2 == 0 else ("off", "on"):
                    state = Path(scratch) / f"{mode}-{i}"
                    overrides = [*base, f"outbox.enabled={'true' if mode == 'on' else 'false'}"]
                    if mode == "on":
                        overrides.append(f"outbox.sync={args.sync}")
                    result = run_daemon(args.config, overrides, state)
                    report["frames_per_run"] = result["frames"]
                    report["runs"][mode].append(result)
                    print(f"run {i} outbox {mode}: {result}", file=sys.stderr)
        finally:
            broker.terminate()
            broker.wait(10)
    runs = report["runs"].items()
    report["median_fps"] = {mode: statistics.median(r["fps"] for r in results) for mode, results in runs}
    report["median_cpu_ms_per_frame"] = {
        mode: statistics.median(r["cpu_ms_per_frame"] for r in results) for mode, results in runs
    }
    report["outbox_sync"] = args.sync
    if args.micro:
        report["micro"] = micro(args.micro)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
