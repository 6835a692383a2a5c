"""Saved inspection images: the original frame and an overlay for NG frames, with retention."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from edge_inspect.config.base import StrictModel
from edge_inspect.config.paths import must_be_absolute


class RetentionConfig(StrictModel):
    """Limits on the saved-image folder; the oldest saved frames go first. A null limit is no limit."""

    max_frames: int | None = Field(
        20000, ge=1, description="Most frames kept (a frame is its original plus its overlay)."
    )
    max_mib: float | None = Field(4096.0, gt=0, description="Most disk space used by saved images, MiB.")
    max_age_h: float | None = Field(
        24.0 * 30, gt=0, description="Saved frames older than this are deleted, hours."
    )
    sweep_interval_s: float = Field(
        60.0, gt=0, description="How often the age limit is applied when no new image is being saved."
    )


class ThumbnailConfig(StrictModel):
    """A small JPEG of each saved frame's overlay, published on ``{prefix}/{station}/{camera}/thumbnail``."""

    enabled: bool = Field(False, description="Publish a thumbnail for every saved frame.")
    max_side: int = Field(256, ge=16, le=2048, description="Longest side of the thumbnail, pixels.")
    jpeg_quality: int = Field(70, ge=10, le=100, description="JPEG quality of the thumbnail.")
    qos: int = Field(
        0, ge=0, le=1, description="MQTT QoS: 0 drops previews while the broker is away (results never are)."
    )


class ImagesConfig(StrictModel):
    """Which frames are saved, how, where, and for how long.

    Saving runs on a writer thread: the result carries the path at once, and the file appears (written
    to a temporary name, then renamed) a few milliseconds later. PASS frames cost one counter increment.
    """

    enabled: bool = Field(
        False, description="Save images of NG (and optionally ERROR and sampled PASS) frames."
    )
    dir: Path | None = Field(
        None, description="Absolute folder for saved images; null = '<paths.state_dir>/images'."
    )
    save_ng: bool = Field(True, description="Save every NG frame.")
    save_error: bool = Field(
        True, description="Save ERROR frames that have pixels (e.g. a frame the model could not take)."
    )
    pass_every: int = Field(
        0, ge=0, description="Also save every Nth PASS frame, for audits and re-training; 0 = none."
    )
    original_format: Literal["png", "tiff"] = Field(
        "png", description="Lossless format of the original frame (both keep 16-bit pixels)."
    )
    png_compression: int = Field(
        1, ge=0, le=9, description="PNG compression level: 1 is fast; 9 is smaller and several times slower."
    )
    overlay: bool = Field(True, description="Also save an overlay: defect contours, boxes, class and score.")
    overlay_jpeg_quality: int = Field(90, ge=10, le=100, description="JPEG quality of the overlay.")
    queue_size: int = Field(
        16,
        ge=1,
        description="Frames waiting for the writer. When full, a frame is not saved (counted as "
        "'images.dropped') and its result carries no image_path: inspection never waits for the disk.",
    )
    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="Retention limits.")
    thumbnail: ThumbnailConfig = Field(default_factory=ThumbnailConfig, description="Thumbnail publishing.")

    @field_validator("dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return must_be_absolute(value)


def images_folder(images: ImagesConfig, state_dir: Path | None) -> Path | None:
    """Where images are saved: ``images.dir``, else ``<state_dir>/images``; None when neither is set."""
    if images.dir is not None:
        return images.dir
    return state_dir / "images" if state_dir is not None else None


def images_problems(images: ImagesConfig, state_dir: Path | None) -> list[str]:
    """Cross-field checks for the whole config (the images section alone cannot see ``paths``)."""
    if images.enabled and images_folder(images, state_dir) is None:
        return ["images.enabled needs images.dir or paths.state_dir (where would the images go?)"]
    return []
