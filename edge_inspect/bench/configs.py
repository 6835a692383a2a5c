"""The station config, as each bench mode runs it: same model, engine and rules, other source and broker.

What changes, and why:
- the source becomes a replay of the sample images from memory (decoded once), so the bench measures the
  daemon and not the disk or the camera; at a fixed rate for the fixed-load modes;
- the broker is the bench's (``--broker mosquitto``) or the config's own, results go at QoS 1 at least
  (a frame counts at its PUBACK, which QoS 0 does not have), and under
  ``<topic_prefix>-bench/...`` with a fresh client id and no kept session, so MES subscribers of the
  station never receive bench results and the broker keeps nothing afterwards;
- durable state (``paths.state_dir``, ``outbox.path``, ``images.dir``) moves into a scratch folder, so the
  outbox and saved images cost what they cost, but the station's own state is never touched;
- a metrics exporter, if enabled, listens on a free port beside a station that may be running.
"""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

from edge_inspect.config import AppConfig
from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.config.sources import ReplaySourceConfig
from edge_inspect.config.station import PartConfig
from edge_inspect.errors import ConfigError
from edge_inspect.net import free_loopback_port

BENCH_TOPIC_SUFFIX = "-bench"


def samples_path(config: AppConfig, samples: Path | None) -> str:
    """The images the bench replays: ``--samples``, else the config's replay ``source.path``."""
    if samples is not None:
        if not samples.exists():
            raise ConfigError([f"--samples {samples}: no such folder or file"])
        return str(samples)
    source = config.station_cameras[0].source
    if isinstance(source, ReplaySourceConfig):
        return source.path
    raise ConfigError(
        [
            f"source.type is {source.type!r}: the bench replays images from memory; "
            "give it a folder of images with --samples DIR"
        ]
    )


def passes_for(frames: int, files: int) -> int:
    """Replay passes over ``files`` images that deliver at least ``frames`` frames."""
    if frames < 1 or files < 1:
        msg = f"frames and files must be >= 1, got frames={frames}, files={files}"
        raise ValueError(msg)
    return math.ceil(frames / files)


def replay_source(config: AppConfig, path: str, *, passes: int, fps: float = 0.0) -> ReplaySourceConfig:
    """A replay of ``path`` from memory, ``passes`` times (0 = until stopped), at ``fps`` (0 = flat out)."""
    first = config.station_cameras[0].source
    ground_truth = first.ground_truth if isinstance(first, ReplaySourceConfig) else None
    return ReplaySourceConfig(
        type="replay",
        path=path,
        fps=fps,
        loop=passes,
        ground_truth=ground_truth,
        drop_policy="block",
        cache_in_memory=True,
    )


def _update(model: Any, **changes: Any) -> Any:
    """``model`` with only the fields it really has changed (sections grow while the bench stays put)."""
    known = {k: v for k, v in changes.items() if k in type(model).model_fields}
    return model.model_copy(update=known)


def bench_config(
    config: AppConfig,
    source: ReplaySourceConfig,
    scratch: Path,
    broker: tuple[str, int] | None,
) -> AppConfig:
    """``config`` for one bench run: ``source``, the bench's broker, topics and state (see the module doc)."""
    mqtt = _update(
        config.mqtt,
        topic_prefix=config.mqtt.topic_prefix + BENCH_TOPIC_SUFFIX,
        client_id=f"edge-inspect-bench-{uuid.uuid4().hex[:12]}",
        session_expiry_s=0,
        qos=max(config.mqtt.qos, 1),
    )
    if broker is not None:
        mqtt = _update(mqtt, host=broker[0], port=broker[1], tls=None, username=None, password=None,
                       password_file=None)  # fmt: skip
    # one camera, free-running: the first camera's settings over a replay from memory
    first = config.station_cameras[0]
    changes: dict[str, Any] = {
        "source": source,
        "mqtt": mqtt,
        "camera": first.id,
        "cameras": None,
        "part": PartConfig(),
        "plc": None,
    }
    if config.paths.state_dir is not None:
        changes["paths"] = _update(config.paths, state_dir=scratch / "state")
    outbox = getattr(config, "outbox", None)
    if outbox is not None and getattr(outbox, "path", None) is not None:
        changes["outbox"] = _update(outbox, path=scratch / "outbox.sqlite3")
    images = getattr(config, "images", None)
    if images is not None and getattr(images, "dir", None) is not None:
        changes["images"] = _update(images, dir=scratch / "images")
    metrics = getattr(config, "metrics", None)
    if metrics is not None and getattr(metrics, "enabled", False):
        changes["metrics"] = _update(metrics, port=free_loopback_port())
    return config.model_copy(update=changes)


def private_daemon(data: dict[str, Any], *, port: int, prefix: str) -> dict[str, Any]:
    """A dumped config made into a bench daemon's: the bench's broker on loopback ``port`` without
    credentials, topics under ``prefix``, no outbox, metrics, saved images or state folder of the
    user's; warnings only, as JSON."""
    mqtt_section = data["mqtt"]
    for key in ("username", "password", "password_file", "tls", "client_id"):
        mqtt_section[key] = None
    mqtt_section.update(host="127.0.0.1", port=port, topic_prefix=prefix, session_expiry_s=0)
    data["outbox"] = {**data.get("outbox", {}), "enabled": False}
    data["metrics"] = {**data.get("metrics", {}), "enabled": False}
    data["images"] = {}
    data["paths"] = {}
    data["logging"] = {"level": "warning", "format": "json"}
    return data


def naive_engine_config(engine: Any) -> Any:
    """The engine a hand-written sequential loop gets: the same one, set up for one request at a time.

    For OpenVINO that is the LATENCY hint with one request (one stream using every thread), the best a
    loop that waits for each inference can do; so the b/c ratio is not flattered by a baseline that
    leaves cores idle. Other engines keep their settings.
    """
    if isinstance(engine, OpenVINOEngineConfig):
        return engine.model_copy(
            update={"performance_hint": "LATENCY", "num_requests": 1, "num_streams": None}
        )
    return engine
