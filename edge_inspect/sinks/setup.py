"""Build image saving from the station config: the saver, and the thumbnail connection when enabled."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge_inspect.config import AppConfig
from edge_inspect.config.images import images_folder
from edge_inspect.config.mqtt import MqttConfig
from edge_inspect.publish.tls import TlsSetup
from edge_inspect.publish.topics import Topics
from edge_inspect.runtime.stats import Stats
from edge_inspect.sinks.images import ImageSaver, ResultFactory
from edge_inspect.sinks.thumbnail import MqttThumbnailPublisher, Thumbnailer


@dataclass
class ImageSaving:
    """The saver and its thumbnail publisher, started and stopped together."""

    saver: ImageSaver
    thumbnails: MqttThumbnailPublisher | None = None

    def wrap(self, make_result: ResultFactory) -> ResultFactory:
        return self.saver.wrap(make_result)

    def start(self) -> None:
        if self.thumbnails is not None:
            self.thumbnails.start()
        self.saver.start()

    def close(self, timeout: float) -> bool:
        """Write what is queued (within ``timeout``); False if frames were left unwritten."""
        written = self.saver.close(timeout)
        if self.thumbnails is not None:
            self.thumbnails.close()
        return written


def image_saving(
    config: AppConfig,
    *,
    classes: Sequence[str],
    stats: Stats,
    mqtt: MqttConfig,
    tls: TlsSetup | None,
    topics: Topics,
    client_id: str,
    thread_init: Callable[[], object] = lambda: None,
) -> ImageSaving | None:
    """None when ``images.enabled`` is false. ``mqtt`` is the connection config with its password read."""
    images = config.images
    folder = images_folder(images, config.paths.state_dir)
    if not images.enabled or folder is None:
        return None
    publisher = None
    thumbnails = None
    if images.thumbnail.enabled:
        publisher = MqttThumbnailPublisher(
            mqtt, topics.thumbnail_of, client_id=f"{client_id}-thumbnails", qos=images.thumbnail.qos, tls=tls
        )
        thumbnails = Thumbnailer(images.thumbnail, publisher)
    saver = ImageSaver(
        images, folder, classes=classes, stats=stats, thumbnails=thumbnails, thread_init=thread_init
    )
    return ImageSaving(saver, publisher)
