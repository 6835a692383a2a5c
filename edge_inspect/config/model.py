"""Which model package to load."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from edge_inspect.config.base import StrictModel
from edge_inspect.config.paths import RELATIVE_TO_FILE, resolve


class ModelConfig(StrictModel):
    path: Path = Field(
        description="The model package folder (holds manifest.yaml). Relative paths resolve against the "
        "config file's folder.",
        json_schema_extra=RELATIVE_TO_FILE,
    )
    variant: str | None = Field(
        None,
        description="Which of the package's artifacts to run (e.g. 'fp32', 'int8'); null = the manifest's "
        "default_variant.",
    )

    @field_validator("path")
    @classmethod
    def _resolve_path(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve(value, info)
