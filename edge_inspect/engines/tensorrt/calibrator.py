"""INT8 calibration: the package's calibration images, through the daemon's own preprocessing, in batches.

The images are decoded and preprocessed exactly as live frames are (``decode_image`` + ``Preprocessor``),
so the activation ranges TensorRT measures are those the engine will see. Everything up to the device copy
is plain numpy and tested on any machine; only :func:`make_entropy_calibrator` touches TensorRT and CUDA.
The calibration cache (TensorRT's table of ranges) is kept beside the plans, so a rebuild for a new GPU or
after a cache wipe of plans skips the slow calibration pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from edge_inspect.engines.tensorrt.cache import atomic_write_bytes, slug
from edge_inspect.errors import EdgeInspectError, EngineError
from edge_inspect.model import ModelPackage
from edge_inspect.model.manifest import MANIFEST_NAME, InputSpec
from edge_inspect.model.package import sha256_file

log = structlog.get_logger(__name__)

IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")
Tiles = npt.NDArray[Any]
"""(N, ...) model-input tiles of one image."""


def calibration_files(package: ModelPackage, limit: int) -> list[Path]:
    """The first ``limit`` calibration images the manifest names (sorted by path), or EngineError."""
    manifest_path = package.root / MANIFEST_NAME
    folder_name = package.manifest.calibration_images
    if folder_name is None:
        msg = f"{manifest_path}: precision int8 needs calibration images; set calibration_images"
        raise EngineError(msg)
    folder = package.root / folder_name
    if not folder.is_dir():
        msg = f"{manifest_path}: calibration_images {folder_name!r}: folder {folder} not found"
        raise EngineError(msg)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        msg = f"{folder}: no calibration images ({', '.join(IMAGE_SUFFIXES)}) for the int8 build"
        raise EngineError(msg)
    return files[:limit]


def calibration_fingerprint(package: ModelPackage, files: Sequence[Path]) -> str:
    """sha256 over the images used (their manifest sha256 where listed): changes when the set changes."""
    digest = hashlib.sha256()
    for path in files:
        rel = path.relative_to(package.root).as_posix()
        file_hash = package.manifest.files.get(rel) or sha256_file(path)
        digest.update(f"{rel}\0{file_hash}\n".encode())
    return digest.hexdigest()


def preprocessed_tiles(spec: InputSpec) -> Callable[[Path], Tiles]:
    """Image file -> model-input tiles, with the daemon's decoder and preprocessor for ``spec``."""
    from edge_inspect.preprocess import Preprocessor  # noqa: PLC0415 (engines do not import stages at load)
    from edge_inspect.sources.decode import decode_image  # noqa: PLC0415

    preprocessor = Preprocessor(spec)

    def to_tiles(path: Path) -> Tiles:
        try:
            tensor, _geometry = preprocessor.prepare(decode_image(path.read_bytes(), str(path)))
        except (OSError, EdgeInspectError) as exc:
            msg = f"calibration image {path}: {exc}"
            raise EngineError(msg) from exc
        return tensor

    return to_tiles


@dataclass
class CalibrationFeed:
    """Fixed-size batches of tiles from calibration images; counts what it used, for the log.

    TensorRT calibrates on batches of exactly the calibration profile's shape, so tiles are pooled across
    images and a last partial batch is left out (and counted in ``dropped_tiles``).
    """

    files: Sequence[Path]
    to_tiles: Callable[[Path], Tiles]
    batch_size: int
    dtype: np.dtype[Any] = field(default_factory=lambda: np.dtype(np.float32))
    images_read: int = 0
    batches: int = 0
    dropped_tiles: int = 0

    def __iter__(self) -> Iterator[Tiles]:
        pending: list[Tiles] = []
        for path in self.files:
            tiles = self.to_tiles(path)
            self.images_read += 1
            pending.extend(tiles)
            while len(pending) >= self.batch_size:
                batch, pending = pending[: self.batch_size], pending[self.batch_size :]
                self.batches += 1
                yield np.ascontiguousarray(np.stack(batch), dtype=self.dtype)
        self.dropped_tiles = len(pending)
        if self.batches == 0:
            msg = (
                f"int8 calibration: {self.images_read} image(s) gave {len(pending)} tile(s), fewer than one "
                f"batch of {self.batch_size}: add images or lower engine.calibration_batch"
            )
            raise EngineError(msg)


def calibration_cache_name(model_name: str, parts: Sequence[object]) -> str:
    """A stable file name for TensorRT's calibration table, keyed by what the ranges depend on."""
    digest = hashlib.sha256("\0".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:16]
    return f"{slug(model_name)}-int8-calibration-{digest}.cache"


def make_entropy_calibrator(
    trt: ModuleType, cuda: ModuleType, feed: CalibrationFeed, batch_shape: tuple[int, ...], cache: Path | None
) -> Any:
    """A ``trt.IInt8EntropyCalibrator2`` that feeds ``feed`` through one device buffer.

    TensorRT calls it on the building thread, which has the CUDA context current. An error while reading
    images ends the batches and is kept in ``error``, so the build can report the file instead of
    TensorRT's generic calibration failure.
    """
    nbytes = int(np.prod(batch_shape)) * feed.dtype.itemsize

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.error: BaseException | None = None
            self.cache_hit = False
            self._batches = iter(feed)
            self._device = cuda.mem_alloc(nbytes)

        def get_batch_size(self) -> int:
            return int(batch_shape[0])

        def get_batch(self, names: list[str]) -> list[int] | None:
            try:
                batch = next(self._batches)
            except StopIteration:
                return None
            except Exception as exc:
                self.error = exc
                return None
            if batch.shape != batch_shape:
                self.error = EngineError(f"calibration batch has shape {batch.shape}, expected {batch_shape}")
                return None
            cuda.memcpy_htod(self._device, batch)
            return [int(self._device)]  # the network has one input (checked before the build)

        def read_calibration_cache(self) -> bytes | None:
            if cache is None or not cache.is_file():
                return None
            self.cache_hit = True
            log.info("int8 calibration cache found; calibration images are not read", cache=str(cache))
            return cache.read_bytes()

        def write_calibration_cache(self, data: Any) -> None:
            if cache is None:
                return
            try:
                atomic_write_bytes(cache, bytes(data))
            except OSError as exc:
                log.warning("cannot save the int8 calibration cache", cache=str(cache), error=str(exc))

        def free(self) -> None:
            self._device.free()

    return EntropyCalibrator()
