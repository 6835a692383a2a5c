"""Pre-made input tensors for mode (a): the sample images, preprocessed once as the daemon would."""

from __future__ import annotations

from typing import Any

import numpy.typing as npt

from edge_inspect.bench.quiet import QuietStatus
from edge_inspect.config import AppConfig
from edge_inspect.errors import EdgeInspectError
from edge_inspect.model.manifest import InputSpec
from edge_inspect.model.package import ModelPackage
from edge_inspect.preprocess import Preprocessor
from edge_inspect.sources import open_source


def frame_tensors(config: AppConfig, package: ModelPackage, spec: InputSpec) -> list[npt.NDArray[Any]]:
    """One input tensor per readable frame of the first camera's source (one pass), in replay order, made for
    ``spec`` (the manifest's input, or 8-bit pixels for an engine that normalises inside).

    Unreadable frames are left out; none at all is an error naming the source.
    """
    preprocessor = Preprocessor(spec, roi=config.preprocess.roi)
    camera = config.station_cameras[0]
    source = open_source(camera.source, camera.id, QuietStatus())
    source.open()
    try:
        tensors = [preprocessor(frame).rows() for frame in source.frames() if frame.image is not None]
    finally:
        source.close()
    if not tensors:
        where = getattr(camera.source, "path", camera.source.type)
        msg = f"bench: no readable image in {where} to make input tensors from"
        raise EdgeInspectError(msg)
    return tensors
