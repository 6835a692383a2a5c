"""How the runtime's ``Stats`` names become Prometheus metric families: one pure function per kind.

``Stats`` counts with dotted names (``verdict.NG``, ``dropped.frames``, ``outbox.dropped``) and samples
gauges with dotted names (``queue.frames``, ``mqtt.connected``, ``outbox.oldest_age_s``). A few known
prefixes become one family with a label (every verdict is ``edge_inspect_verdicts_total{verdict=...}``);
every other name is kept, sanitised, so a counter added to the runtime later is exported without a second
list to keep in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "edge_inspect"
ALWAYS_COUNTED = ("frames", "grabbed", "errors", "verdict.PASS", "verdict.NG", "verdict.ERROR")
"""Counters exported as 0 before their first event, so dashboards and rate() see them from the start."""
_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


@dataclass(frozen=True, slots=True)
class Series:
    """One sample's family (full Prometheus name, no ``_total``), its help text and its labels."""

    family: str
    help: str
    labels: tuple[tuple[str, str], ...] = ()


# exact counter names -> (family, help)
_COUNTERS = {
    "frames": ("frames", "Frames inspected: one result each, handed to every sink."),
    "grabbed": ("frames_grabbed", "Frames taken from the source."),
    "errors": ("frame_errors", "Frames that gave an ERROR result (bad file, preprocess, engine, decision)."),
}
# counter prefixes -> (family, label, help)
_COUNTER_PREFIXES = (
    ("verdict.", "verdicts", "verdict", "Results by verdict."),
    ("dropped.", "frames_dropped", "queue", "Frames dropped by a full queue's drop policy."),
    ("sink_errors.", "sink_errors", "sink", "Results a sink failed to take (logged; other sinks went on)."),
    ("stage_crash.", "stage_crashes", "stage", "Stage threads that crashed (a bug; the daemon stops)."),
)
_GAUGES = {
    "mqtt.connected": ("broker_connected", "1 while the MQTT client is connected to the broker."),
    "mqtt.pending": ("mqtt_pending", "Results handed to the MQTT client and not yet acknowledged (PUBACK)."),
}
_GAUGE_PREFIXES = (("queue.", "queue_depth", "queue", "Items waiting in a queue between two stages."),)


def counter_series(name: str) -> Series:
    """The family and labels of the ``Stats`` counter ``name``."""
    if name in _COUNTERS:
        family, text = _COUNTERS[name]
        return Series(f"{PREFIX}_{family}", text)
    for prefix, family, label, text in _COUNTER_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return Series(f"{PREFIX}_{family}", text, ((label, name[len(prefix) :]),))
    return Series(f"{PREFIX}_{sanitise(name)}", f"Runtime counter '{name}'.")


def gauge_series(name: str) -> Series:
    """The family and labels of the ``Stats`` gauge ``name``."""
    if name in _GAUGES:
        family, text = _GAUGES[name]
        return Series(f"{PREFIX}_{family}", text)
    for prefix, family, label, text in _GAUGE_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return Series(f"{PREFIX}_{family}", text, ((label, name[len(prefix) :]),))
    return Series(f"{PREFIX}_{sanitise(name)}", f"Runtime gauge '{name}'.")


def sanitise(name: str) -> str:
    """A valid metric-name part: dots and other signs become ``_``; a suffix ``_s`` becomes ``_seconds``."""
    text = _UNSAFE.sub("_", name).strip("_") or "unnamed"
    if text.endswith("_s"):
        text = text[:-2] + "_seconds"
    if text[0].isdigit():
        text = f"_{text}"
    return text
