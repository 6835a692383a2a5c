"""Preprocessing: frames to model input as the model manifest says, and tile outputs back to frame pixels."""

from edge_inspect.preprocess.preprocessor import FramePlan, Preprocessor, preprocess_input
from edge_inspect.preprocess.stitch import stitch
from edge_inspect.preprocess.tiling import Box, crop_box, tile_boxes, tile_starts

__all__ = [
    "Box",
    "FramePlan",
    "Preprocessor",
    "crop_box",
    "preprocess_input",
    "stitch",
    "tile_boxes",
    "tile_starts",
]
