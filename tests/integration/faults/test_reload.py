"""SIGHUP on a running daemon: new decision rules apply between two frames (none dropped, the recipe hash
changes once); an invalid file is refused with every bad field named and the old rules kept; a change
outside ``decision`` is reported as needing a restart.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.broker import Mosquitto, Subscriber
from tests.integration.faults.harness import RESULTS, Daemon, sample_images, wait_until, write_config


def rewrite(config: Path, change: dict[str, Any]) -> None:
    """Set dotted keys in the YAML file (a value of ``REMOVE`` deletes the key)."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for dotted, value in change.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        if value is REMOVE:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    config.write_text(yaml.safe_dump(data), encoding="utf-8")


REMOVE = object()


def recipes(sub: Subscriber) -> list[str]:
    return [m.json()["recipe_hash"] for m in sub.on("/result")]


def test_given_sighup_when_the_rules_change_then_they_apply_live_and_bad_files_are_refused(
    broker: Mosquitto, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path, port=broker.port, images=sample_images()[0].parent, frames_loop=0, fps=40, scratch=tmp_path
    )
    rewrite(config, {"decision.max_defects": 0})
    with Subscriber(broker.port, RESULTS) as sub:
        daemon = Daemon(config, tmp_path / "daemon.log").start()
        assert daemon.process is not None
        try:
            assert sub.wait_for(lambda _m: len(sub.on("/result")) >= 20, timeout=60)
            first = recipes(sub)[0]

            rewrite(config, {"decision.max_defects": 3})
            daemon.process.send_signal(signal.SIGHUP)
            assert sub.wait_for(lambda _m: recipes(sub)[-1] != first, timeout=20)
            second = recipes(sub)[-1]

            rewrite(config, {"decision.max_defects": -1, "decision.colour": "red"})
            daemon.process.send_signal(signal.SIGHUP)
            assert wait_until(
                lambda: bool(daemon.events("config reload refused; the running rules stay")), 20
            )

            rewrite(config, {"decision.max_defects": 3, "decision.colour": REMOVE, "mqtt.keepalive_s": 11})
            daemon.process.send_signal(signal.SIGHUP)
            assert wait_until(
                lambda: bool(daemon.events("config changes that need a restart were not applied")), 20
            )
            count = len(sub.on("/result"))
            assert sub.wait_for(lambda _m: len(sub.on("/result")) >= count + 20, timeout=30)
            daemon.process.send_signal(signal.SIGTERM)
            code = daemon.wait(timeout=30)
        finally:
            if daemon.process.poll() is None:
                daemon.kill()
        time.sleep(0.5)

    seen = recipes(sub)
    seqs = sorted(m.json()["seq"] for m in sub.on("/result"))
    [refused] = daemon.events("config reload refused; the running rules stay")
    [restart] = daemon.events("config changes that need a restart were not applied")
    [applied] = daemon.events("decision rules reloaded")

    assert code == 0
    assert seqs == list(range(len(seqs)))  # no frame dropped across three reloads
    assert seen[: seen.index(second)] == [first] * seen.index(second)
    assert set(seen[seen.index(second) :]) == {second}  # switched once, between two frames, and stayed
    assert (applied["old_recipe"], applied["new_recipe"]) == (first, second)
    problems = "\n".join(refused["problems"])
    assert "decision.max_defects" in problems
    assert "decision.colour: unknown field" in problems
    assert restart["sections"] == ["mqtt"]
