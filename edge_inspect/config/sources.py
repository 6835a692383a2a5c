"""Frame-source plug-in configs. ``source.type`` picks one; each names the module that implements it."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field, ValidationInfo, field_validator

from edge_inspect.config.base import StrictModel
from edge_inspect.config.paths import resolve

DropPolicy = Literal["block", "drop_oldest", "drop_newest"]


class ReplaySourceConfig(StrictModel):
    """Replay image files or a video: the simulator for tests and demos."""

    plugin: ClassVar[str] = "edge_inspect.sources.replay:ReplaySource"

    type: Literal["replay"] = Field(description="Selects the file-replay source.")
    path: str = Field(
        description="A folder of images, a glob pattern (e.g. 'data/*.png'), or a video file. "
        "Relative paths resolve against the config file's folder."
    )
    fps: float = Field(0.0, ge=0.0, description="Replay rate in frames per second; 0 = as fast as possible.")
    loop: int = Field(1, ge=0, description="Number of passes over the files; 0 = forever.")
    ground_truth: str | None = Field(
        "auto",
        description="Ground-truth masks: a folder of masks named like the images (optionally with a "
        "'_label' suffix), 'auto' to detect the DAGM layout (Label/NNNN_label.PNG beside the images), "
        "or null for none.",
    )
    drop_policy: DropPolicy = Field(
        "block", description="When the pipeline is full: 'block' the source (replay default) or drop frames."
    )
    extensions: tuple[str, ...] = Field(
        (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg"),
        description="File extensions taken from a folder (case-insensitive).",
    )
    cache_in_memory: bool = Field(
        False,
        description="Decode every file once and replay from memory (benchmarks: no disk or decode cost "
        "after the first pass). Holds every frame in RAM.",
    )

    @field_validator("path")
    @classmethod
    def _resolve_path(cls, value: str, info: ValidationInfo) -> str:
        return str(resolve(value, info))

    @field_validator("ground_truth")
    @classmethod
    def _resolve_ground_truth(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or value == "auto":
            return value
        return str(resolve(value, info))


# The one registry of source plug-ins: add a member here; its ``plugin`` names the implementation.
SourceConfig = Annotated[
    Union[ReplaySourceConfig],  # noqa: UP007 (a one-member union today; plug-ins add members)
    Field(discriminator="type"),
]
