"""Station-side preprocessing: the region of interest in the camera frame.

The model's own preprocessing (bit-depth scale, normalisation, border crop, tiling) travels in the model
manifest; only what depends on how the camera sees the part lives here.
"""

from __future__ import annotations

from pydantic import Field

from edge_inspect.config.base import StrictModel


class Roi(StrictModel):
    """A rectangle in original-frame pixels; only this part of the frame is inspected."""

    x: int = Field(ge=0, description="Left edge, pixels.")
    y: int = Field(ge=0, description="Top edge, pixels.")
    width: int = Field(gt=0, description="Width, pixels.")
    height: int = Field(gt=0, description="Height, pixels.")


class PreprocessConfig(StrictModel):
    """How this station's frames are cut before the model's own preprocessing."""

    roi: Roi | None = Field(
        None,
        description="Station region of interest in frame pixels, applied before the model's border crop; "
        "null = the whole frame. Defects outside it are never reported.",
    )

    min_input_fraction: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Smallest inspected area (the ROI after the model's border crop) accepted, as a fraction "
        "of the model's input width and height: a smaller frame is one ERROR result, never padded or "
        "stretched into a verdict (a 1x1 image mirror-padded to 512x512 is no inspection). 0 = any size.",
    )
