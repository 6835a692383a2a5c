"""Frame sources: plug-ins chosen by ``source.type``, each yielding :class:`~edge_inspect.types.Frame`."""

from __future__ import annotations

from typing import cast

from edge_inspect.config.sources import SourceConfig
from edge_inspect.plugins import plugin_of
from edge_inspect.sources.decode import decode_image
from edge_inspect.types import FrameSource, StatusListener


def open_source(config: SourceConfig, camera: str, status: StatusListener) -> FrameSource:
    """Build the source plug-in named by ``type(config).plugin`` (imported only now). Call ``open()`` next."""
    return cast(FrameSource, plugin_of(config)(config, camera, status))


__all__ = ["decode_image", "open_source"]
