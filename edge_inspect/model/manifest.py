"""The model package manifest (``manifest.yaml``): input spec, normalisation, outputs, defaults, hashes.

Thresholds and normalisation travel with the model, so every engine gives the same verdict from one package.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Final, Literal

from pydantic import Field, model_validator

from edge_inspect.config.base import StrictModel

MANIFEST_NAME = "manifest.yaml"
SCHEMA_VERSION: Final = 1


class Crop(StrictModel):
    """Pixels removed from each border of the frame before anything else (fixtures, vignetting)."""

    top: int = Field(0, ge=0, description="Rows removed at the top.")
    bottom: int = Field(0, ge=0, description="Rows removed at the bottom.")
    left: int = Field(0, ge=0, description="Columns removed at the left.")
    right: int = Field(0, ge=0, description="Columns removed at the right.")


class InputSpec(StrictModel):
    """How a frame becomes the model's input tensor: ``x = (pixel / scale - mean) / std`` per channel."""

    name: str = Field(description="Input tensor name in the model files.")
    width: int = Field(gt=0, description="Model input width, pixels.")
    height: int = Field(gt=0, description="Model input height, pixels.")
    channels: Literal[1, 3] = Field(description="1 = mono, 3 = colour.")
    color_order: Literal["gray", "rgb", "bgr"] = Field(description="Channel order the model expects.")
    layout: Literal["NCHW", "NHWC"] = Field("NCHW", description="Tensor layout.")
    dtype: Literal["float32", "float16", "uint8"] = Field("float32", description="Tensor element type.")
    scale: float | None = Field(
        None,
        gt=0,
        description="Divisor that maps pixels to 0..1; null = the frame's full bit-depth range "
        "(255 for 8-bit, 65535 for 16-bit). Never guessed from pixel values.",
    )
    mean: tuple[float, ...] = Field((0.0,), description="Per-channel mean subtracted after scaling.")
    std: tuple[float, ...] = Field((1.0,), description="Per-channel std divided after the mean.")
    crop: Crop = Field(default_factory=Crop, description="Border crop applied first.")
    fit: Literal["resize", "tile"] = Field(
        "tile",
        description="Frames of another size: 'resize' to the input size, or 'tile' into input-sized tiles "
        "with overlap and stitch the outputs back (a frame of exactly the input size is one tile).",
    )
    tile_overlap: int = Field(32, ge=0, description="Overlap between neighbouring tiles, pixels.")

    @model_validator(mode="after")
    def _check(self) -> InputSpec:
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) not in (1, self.channels):
                msg = f"{name} needs 1 or {self.channels} values, got {len(values)}"
                raise ValueError(msg)
        if any(v == 0 for v in self.std):
            msg = "std values must be non-zero"
            raise ValueError(msg)
        if self.tile_overlap >= min(self.width, self.height):
            msg = "tile_overlap must be smaller than the input size"
            raise ValueError(msg)
        return self


def pixel_input(spec: InputSpec) -> InputSpec:
    """``spec`` for an engine that normalises inside the model: 8-bit pixels (``pixel * 255 / scale``,
    so 8-bit frames go through unchanged), mean 0 and std 1, in the manifest's size and layout."""
    zeros, ones = (0.0,) * spec.channels, (1.0,) * spec.channels
    return spec.model_copy(update={"dtype": "uint8", "mean": zeros, "std": ones})


class OutputSpec(StrictModel):
    """What the model's output means."""

    name: str = Field(description="Output tensor name in the model files.")
    kind: Literal["segmentation", "classification"] = Field(
        description="'segmentation': per-pixel maps (N, C, H, W); 'classification': scores (N, C)."
    )
    activation: Literal["sigmoid", "softmax", "none"] = Field(
        description="Applied by the daemon to the raw output: 'sigmoid' (independent classes), "
        "'softmax' (class 0 is background), or 'none' (the model outputs probabilities)."
    )
    classes: tuple[str, ...] = Field(
        description="Defect class names, in output-channel order. With softmax, the background channel "
        "is not listed: channel i+1 is classes[i]."
    )
    stride: int = Field(1, ge=1, description="Output map is input size / stride.")


class DecisionDefaults(StrictModel):
    """The operating point chosen at evaluation; a station config may override any of it."""

    thresholds: dict[str, float] = Field(description="Per-class pixel threshold (segmentation).")
    score_threshold: float = Field(0.5, ge=0, le=1, description="Classification NG threshold.")
    min_area_px: dict[str, int] = Field(default_factory=dict, description="Per-class minimum area.")
    max_defects: int = Field(0, ge=0, description="Defects allowed before NG.")


class VariantDecision(StrictModel):
    """An operating point chosen for one variant (quantisation moves probabilities): it overrides the
    package's ``decision`` per class, for stations that run this variant."""

    thresholds: dict[str, float] | None = Field(None, description="Per-class pixel threshold.")
    min_area_px: dict[str, int] | None = Field(None, description="Per-class minimum area.")


class Artifact(StrictModel):
    """One runnable form of the model."""

    format: Literal["openvino", "onnx", "tensorrt-plan"] = Field(description="File format.")
    path: str = Field(description="Main file, relative to the package (the .xml for OpenVINO IR).")
    precision: Literal["fp32", "fp16", "int8"] = Field(description="Weights / compute precision.")
    decision: VariantDecision | None = Field(
        None, description="This variant's own operating point, over the package's decision; null: none."
    )


def artifact_files(artifact: Artifact) -> list[str]:
    """Every package file the engine reads for ``artifact``: the main file, and an IR's weights."""
    files = [artifact.path]
    if artifact.format == "openvino" and artifact.path.endswith(".xml"):
        files.append(artifact.path[: -len(".xml")] + ".bin")
    return files


def inside_problem(rel: str) -> str | None:
    """Why ``rel`` is not a plain relative path inside the package, or None."""
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or rel.startswith(("\\", "/")) or ":" in path.parts[0]:
        return "must be relative to the package folder"
    if any(part in ("..", "") for part in rel.split("/")):
        return "must stay inside the package folder (no '..' or empty parts)"
    return None


class Manifest(StrictModel):
    schema_version: Literal[1] = Field(SCHEMA_VERSION, description="Manifest format version.")
    name: str = Field(description="Model name.")
    version: str = Field(description="Model version.")
    description: str = Field("", description="One line on what it inspects.")
    input: InputSpec
    output: OutputSpec
    decision: DecisionDefaults
    artifacts: dict[str, Artifact] = Field(
        description="Named variants, e.g. 'fp32' (OpenVINO IR), 'int8' (OpenVINO IR), 'onnx'."
    )
    default_variant: str = Field(description="The artifact run when the config names none.")
    calibration_images: str | None = Field(
        None, description="Folder (relative) of calibration images for INT8 builds (TensorRT)."
    )
    files: dict[str, str] = Field(
        description="sha256 of every file in the package except manifest.yaml, relative path -> hex."
    )
    training: dict[str, Any] = Field(default_factory=dict, description="How the model was trained.")
    evaluation: dict[str, Any] = Field(default_factory=dict, description="Evaluation figures.")

    @model_validator(mode="after")
    def _check(self) -> Manifest:
        if self.default_variant not in self.artifacts:
            msg = f"default_variant {self.default_variant!r} is not one of artifacts {sorted(self.artifacts)}"
            raise ValueError(msg)
        problems = []
        for rel in self.files:
            problem = inside_problem(rel)
            if problem is not None:
                problems.append(f"files: {rel!r} {problem}")
        for name, art in self.artifacts.items():
            problem = inside_problem(art.path)
            if problem is not None:
                problems.append(f"artifacts.{name}.path {art.path!r} {problem}")
                continue
            problems += [
                f"artifacts.{name}: {rel!r} is read by the engine but has no sha256 in files, so a change "
                "to it would go unnoticed"
                for rel in artifact_files(art)
                if rel not in self.files
            ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def decision_for(self, variant: str | None = None) -> DecisionDefaults:
        """The operating point of ``variant`` (None: the default variant): the package's ``decision``
        with the variant's own thresholds and minimum areas over it, class by class."""
        artifact = self.artifacts.get(variant or self.default_variant)
        own = artifact.decision if artifact is not None else None
        if own is None:
            return self.decision
        return self.decision.model_copy(
            update={
                "thresholds": {**self.decision.thresholds, **(own.thresholds or {})},
                "min_area_px": {**self.decision.min_area_px, **(own.min_area_px or {})},
            }
        )
