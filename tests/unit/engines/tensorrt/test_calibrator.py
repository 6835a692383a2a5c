"""INT8 calibration data: the package's images, through the daemon's own decoder and preprocessor, in batches.

Everything up to the device copy is real (files, decoding, preprocessing, batching). The calibrator class
itself subclasses TensorRT's, so its tests use the FAKE tensorrt / pycuda modules from ``trt_fakes``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_inspect.engines.tensorrt.calibrator import (
    CalibrationFeed,
    calibration_cache_name,
    calibration_files,
    calibration_fingerprint,
    make_entropy_calibrator,
    preprocessed_tiles,
)
from edge_inspect.errors import EngineError
from edge_inspect.model import load_package
from edge_inspect.model.package import ModelPackage
from tests.helpers.tiny_model import make_tiny_package, write_tiny_manifest
from tests.unit.engines.trt_fakes import FakeCuda, FakeTensorRT, make_calibrated_package

ARTIFACTS = {"onnx": {"format": "onnx", "path": "onnx/model.onnx", "precision": "fp32"}}


@pytest.fixture
def package(tmp_path: Path) -> ModelPackage:
    return load_package(make_calibrated_package(tmp_path / "pkg", size=32, images=3, image_size=48))


def test_given_a_package_with_calibration_images_when_listed_then_sorted_and_limited(
    package: ModelPackage,
) -> None:
    assert [p.name for p in calibration_files(package, limit=10)] == [
        "cal-000.png",
        "cal-001.png",
        "cal-002.png",
    ]
    assert [p.name for p in calibration_files(package, limit=2)] == ["cal-000.png", "cal-001.png"]


def test_given_a_manifest_without_calibration_images_when_listed_then_the_error_names_the_manifest(
    tmp_path: Path,
) -> None:
    plain = load_package(make_tiny_package(tmp_path / "plain", size=32, variants=("onnx",)))
    with pytest.raises(EngineError, match=r"manifest.yaml: precision int8 needs calibration images"):
        calibration_files(plain, limit=10)


def test_given_a_calibration_folder_that_is_missing_or_empty_when_listed_then_the_error_names_it(
    tmp_path: Path,
) -> None:
    root = make_tiny_package(tmp_path / "pkg", size=32, variants=("onnx",))
    write_tiny_manifest(root, "segmentation", 32, ARTIFACTS, calibration_images="calib")
    with pytest.raises(EngineError, match=r"calibration_images 'calib': folder .*calib not found"):
        calibration_files(load_package(root), limit=10)
    (root / "calib").mkdir()
    (root / "calib" / "notes.txt").write_text("not an image")
    write_tiny_manifest(root, "segmentation", 32, ARTIFACTS, calibration_images="calib")
    with pytest.raises(EngineError, match=r"calib: no calibration images"):
        calibration_files(load_package(root), limit=10)


def test_given_the_same_images_when_fingerprinted_then_stable_and_a_changed_image_changes_it(
    package: ModelPackage,
) -> None:
    files = calibration_files(package, limit=10)
    first = calibration_fingerprint(package, files)
    assert calibration_fingerprint(package, files) == first
    assert calibration_fingerprint(package, files[:2]) != first
    (package.root / "calibration" / "cal-000.png").write_bytes(b"changed")
    repacked = load_package(package.root, verify=False)
    assert calibration_fingerprint(repacked, files) == first  # the manifest's hashes are what count
    write_tiny_manifest(package.root, "segmentation", 32, ARTIFACTS, calibration_images="calibration")
    assert calibration_fingerprint(load_package(package.root, verify=False), files) != first


def test_given_an_image_when_turned_into_tiles_then_the_daemons_preprocessing_is_used(
    package: ModelPackage,
) -> None:
    to_tiles = preprocessed_tiles(package.manifest.input)
    tiles = to_tiles(package.root / "calibration" / "cal-001.png")
    assert tiles.shape == (4, 1, 32, 32)  # 48x48 in 32x32 tiles with overlap 8: 2 x 2
    assert tiles.dtype == np.float32
    np.testing.assert_allclose(tiles, 80 / 255, rtol=1e-6)


def test_given_a_corrupt_image_when_turned_into_tiles_then_the_error_names_the_file(
    package: ModelPackage,
) -> None:
    bad = package.root / "calibration" / "cal-001.png"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(EngineError, match=r"calibration image .*cal-001.png: truncated PNG"):
        preprocessed_tiles(package.manifest.input)(bad)


def test_given_tiles_from_several_images_when_batched_then_full_batches_in_order_and_the_rest_counted(
    package: ModelPackage,
) -> None:
    feed = CalibrationFeed(
        calibration_files(package, 10), preprocessed_tiles(package.manifest.input), batch_size=5
    )
    batches = list(feed)
    assert [b.shape for b in batches] == [(5, 1, 32, 32), (5, 1, 32, 32)]  # 3 images x 4 tiles = 12 tiles
    means = [float(tile.mean()) * 255 for batch in batches for tile in batch]
    assert means == pytest.approx([40] * 4 + [80] * 4 + [120] * 2, abs=1e-3)
    assert (feed.images_read, feed.batches, feed.dropped_tiles) == (3, 2, 2)
    assert all(b.flags.c_contiguous for b in batches)


def test_given_fewer_tiles_than_one_batch_when_batched_then_the_error_says_what_to_change(
    package: ModelPackage,
) -> None:
    feed = CalibrationFeed(calibration_files(package, 1), preprocessed_tiles(package.manifest.input), 8)
    with pytest.raises(EngineError, match=r"1 image\(s\) gave 4 tile\(s\), fewer than one batch of 8"):
        list(feed)


def test_given_the_same_inputs_when_a_cache_is_named_then_the_name_is_stable() -> None:
    parts = ("ab" * 32, "10.3.0", ((1, 1, 32, 32),), 8, "f" * 64)
    name = calibration_cache_name("tiny 1.0", parts)
    assert name == calibration_cache_name("tiny 1.0", parts)
    assert name.startswith("tiny_1.0-int8-calibration-")
    assert calibration_cache_name("tiny 1.0", (*parts[:-1], "0" * 64)) != name


# ----------------------------------------------------------------------------- the calibrator (FAKE TRT)


def test_given_a_feed_when_tensorrt_pulls_batches_then_each_lands_in_device_memory_and_ends_with_none(
    package: ModelPackage, tmp_path: Path
) -> None:
    """FAKE tensorrt / pycuda: checks what the calibrator puts at the device pointer it returns."""
    cuda = FakeCuda()
    trt = FakeTensorRT(cuda)
    cache = tmp_path / "cache" / "calib.cache"
    feed = CalibrationFeed(calibration_files(package, 10), preprocessed_tiles(package.manifest.input), 4)
    context = cuda.Device(0).retain_primary_context()
    context.push()
    try:
        calibrator = make_entropy_calibrator(trt, cuda, feed, (4, 1, 32, 32), cache)
        assert calibrator.get_batch_size() == 4
        assert calibrator.read_calibration_cache() is None
        seen = []
        while (pointers := calibrator.get_batch(["image"])) is not None:
            data = cuda.view(pointers[0], 4 * 32 * 32 * 4).view(np.float32).reshape(4, 1, 32, 32)
            seen.append(round(float(data.mean()) * 255))
        calibrator.write_calibration_cache(b"table")
        calibrator.free()
    finally:
        cuda.Context.pop()
    assert seen == [40, 80, 120]
    assert calibrator.error is None
    assert cache.read_bytes() == b"table"
    assert calibrator.read_calibration_cache() == b"table"
    assert calibrator.cache_hit
    assert cuda.violations == []
    assert cuda.live_allocations() == 0


def test_given_a_feed_that_fails_when_tensorrt_pulls_then_batches_end_and_the_error_is_kept(
    package: ModelPackage,
) -> None:
    """FAKE tensorrt / pycuda: an unreadable image ends calibration and is reported after the build."""
    cuda = FakeCuda()
    bad = package.root / "calibration" / "cal-000.png"
    bad.write_bytes(b"not a png at all, but long enough to be sniffed")
    feed = CalibrationFeed(calibration_files(package, 10), preprocessed_tiles(package.manifest.input), 4)
    context = cuda.Device(0).retain_primary_context()
    context.push()
    try:
        calibrator = make_entropy_calibrator(FakeTensorRT(cuda), cuda, feed, (4, 1, 32, 32), None)
        assert calibrator.get_batch(["image"]) is None
        calibrator.free()
    finally:
        cuda.Context.pop()
    assert isinstance(calibrator.error, EngineError)
    assert "cal-000.png" in str(calibrator.error)
