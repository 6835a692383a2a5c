"""Parts of a station, wired from ``part:``: the part book, its triggers and where its verdicts go.

``part.trigger: free`` builds nothing (every frame is a part of its own). ``mqtt`` subscribes to
``{prefix}/{station}/trigger``: each message opens a part and fires the cameras that wait for a
software trigger; the others (hardware-triggered, free-running) have their frames matched to the parts
in order. ``plc`` serves the PLC handshake (``plc:``): the PLC's trigger opens the part, and each part's
verdict goes to the PLC first and then to MQTT (marked late when the PLC was answered TIMEOUT for it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import structlog

from edge_inspect.config import AppConfig
from edge_inspect.errors import TriggerError
from edge_inspect.metrics import CameraStateTracker
from edge_inspect.parts.book import Identity, PartBook, PartResult
from edge_inspect.parts.trigger import parse_trigger
from edge_inspect.plc.link import PlcLink
from edge_inspect.publish.mqtt import MqttPublisher
from edge_inspect.runtime.stats import Stats
from edge_inspect.types import FrameSource, SourceState, TriggeredSource

log = structlog.get_logger(__name__)

PART_COUNTERS = (
    "parts.triggered",
    "parts.verdict.PASS",
    "parts.verdict.NG",
    "parts.verdict.ERROR",
    "parts.timeouts",
    "parts.overflow",
    "parts.duplicates",
    "parts.late_frames",
    "parts.untriggered_frames",
    "parts.bad_triggers",
)
"""Counters of a triggered station, exported at 0 from the start."""


def build_parts(
    config: AppConfig,
    publisher: MqttPublisher,
    sources: Mapping[str, FrameSource],
    stats: Stats,
    *,
    identity: Identity,
    cameras: CameraStateTracker | None = None,
) -> tuple[PartBook | None, PlcLink | None]:
    """The station's part book (None for ``part.trigger: free``), subscribed to its trigger, and its
    PLC link (``part.trigger: plc``; READY only while every camera ``cameras`` tracks is online)."""
    part = config.part
    if part.trigger == "free":
        return None, None
    stats.declare(*PART_COUNTERS)
    plc: PlcLink | None = None

    def publish(result: PartResult) -> None:
        # the PLC first: its answer never waits on the broker or the outbox
        publisher.publish_part(plc.decided(result) if plc is not None else result)

    book = PartBook(
        {camera.id: part.shots_of(camera.id) for camera in config.station_cameras},
        timeout_ms=part.timeout_ms,
        max_pending=part.max_pending,
        publish=publish,
        identity=identity,
        fire=_fired(sources),
        count=stats.count,
        latency=stats.latency,
    )
    stats.gauges["parts.pending"] = book.pending
    if part.trigger == "mqtt":
        publisher.subscribe(publisher.topics.trigger, _on_trigger(book))
    if part.trigger == "plc" and config.plc is not None:
        plc = PlcLink(
            config.plc,
            start_part=book.trigger,
            refuse_part=book.refuse,
            stats=stats,
            on_link=publisher.plc_link,
            cameras_online=None if cameras is None else _all_online(cameras, list(sources)),
        )
    return book, plc


def _all_online(cameras: CameraStateTracker, ids: list[str]) -> Callable[[], bool]:
    """True while every camera of the station reports ``online``."""

    def online() -> bool:
        states = cameras.states()
        return all(camera in states and states[camera].state is SourceState.ONLINE for camera in ids)

    return online


def _fired(sources: Mapping[str, FrameSource]) -> dict[str, Callable[[], None]]:
    """The cameras the station fires per part: those waiting for a software trigger."""
    return {
        camera: source.fire
        for camera, source in sources.items()
        if isinstance(source, TriggeredSource) and source.software_triggered
    }


def _on_trigger(book: PartBook) -> Callable[[bytes], None]:
    def received(payload: bytes) -> None:
        try:
            trigger = parse_trigger(payload)
        except TriggerError as exc:
            log.warning("trigger refused: an ERROR part", error=str(exc))
            book.refuse(str(exc))
            return
        book.trigger(trigger.part_id, trigger.meta)

    return received
