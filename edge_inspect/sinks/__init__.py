"""Result sinks beside MQTT: saved NG images with overlays and retention, and their thumbnails."""

from edge_inspect.sinks.images import ImageSaver, overlay_path, relative_path
from edge_inspect.sinks.overlay import render_overlay, to_bgr8
from edge_inspect.sinks.thumbnail import (
    MqttThumbnailPublisher,
    Thumbnailer,
    thumbnail_jpeg,
    thumbnail_payload,
)

__all__ = [
    "ImageSaver",
    "MqttThumbnailPublisher",
    "Thumbnailer",
    "overlay_path",
    "relative_path",
    "render_overlay",
    "thumbnail_jpeg",
    "thumbnail_payload",
    "to_bgr8",
]
