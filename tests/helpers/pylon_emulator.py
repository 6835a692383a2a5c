"""pylon's camera emulation (``PYLON_CAMEMU``) for tests: no hardware, the real pylon transport layer.

The emulator reads ``PYLON_CAMEMU`` when it enumerates devices, so :func:`use_emulator` must run before a
test looks for cameras (importing pypylon earlier is fine). It serves the files of a folder, in byte-wise
sorted name order, one per frame (``block_id % count``); every other entry in the folder (a ``Label``
sub-folder, say) becomes a failed buffer, so :func:`serve_folder` copies only the images.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

CAMERAS = 2
SERIALS = ("0815-0000", "0815-0001")
IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff"}


def use_emulator(count: int = CAMERAS) -> None:
    """Ask pylon for ``count`` emulated cameras in this process."""
    os.environ["PYLON_CAMEMU"] = str(count)


def emulator_env(count: int = CAMERAS) -> dict[str, str]:
    """The environment of a sub-process that sees ``count`` emulated cameras (and no other change)."""
    return {**os.environ, "PYLON_CAMEMU": str(count)}


def require_emulator(count: int = CAMERAS) -> None:
    """Skip the test when pypylon is missing or the emulator offers fewer than ``count`` cameras."""
    pylon = pytest.importorskip("pypylon.pylon")
    use_emulator(count)
    found = [d.GetSerialNumber() for d in pylon.TlFactory.GetInstance().EnumerateDevices()]
    if sum(serial in SERIALS for serial in found) < count:
        pytest.skip(f"pylon camera emulation offers {found}, need {count} emulated cameras")


def file_features(folder: Path) -> dict[str, str]:
    """Source ``features`` that make the emulator serve ``folder``'s files instead of its test pattern."""
    return {"TestImageSelector": "Off", "ImageFileMode": "On", "ImageFilename": str(folder)}


def serve_folder(images: Iterable[Path], folder: Path) -> list[Path]:
    """Copy ``images`` into ``folder`` (which gets nothing else); returns the copies in serving order."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = [Path(shutil.copy2(image, folder / image.name)) for image in images]
    return sorted(copies, key=lambda p: p.name.encode())


def write_gray_images(folder: Path, values: Iterable[int], size: tuple[int, int] = (48, 64)) -> list[Path]:
    """One flat 8-bit image per value (``000.png``, ``001.png``, ...), with a gradient row so that the
    orientation is checked too: row 0 column x holds ``x``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, value in enumerate(values):
        image = np.full(size, value, dtype=np.uint8)
        image[0, :] = np.arange(size[1], dtype=np.uint8)
        path = folder / f"{index:03d}.png"
        cv2.imwrite(str(path), image)
        paths.append(path)
    return paths


def read_gray(path: Path) -> npt.NDArray[np.uint8]:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image is not None, path
    return np.asarray(image, dtype=np.uint8)


class RecordingStatus:
    """A StatusListener that records every state change, in order, from any thread."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str | None]] = []
        self._cond = threading.Condition()

    def source_state(self, camera: str, state: object, reason: str | None = None) -> None:
        with self._cond:
            self.events.append((camera, str(getattr(state, "value", state)), reason))
            self._cond.notify_all()

    @property
    def states(self) -> list[str]:
        with self._cond:
            return [state for _camera, state, _reason in self.events]

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate([state for _c, state, _r in self.events]):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True
