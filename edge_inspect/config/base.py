"""The base of every config model: unknown keys are errors, every field is documented."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Config base: ``extra="forbid"`` so a typo is an error, frozen so config is read-only once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=False)
