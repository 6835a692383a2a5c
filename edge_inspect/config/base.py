"""The base of every config model: unknown keys are errors, every field is documented."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
"""Station and camera ids: one MQTT topic level, no wildcards or separators."""


class StrictModel(BaseModel):
    """Config base: ``extra="forbid"`` so a typo is an error, frozen so config is read-only once loaded;
    no float field takes ``inf`` or ``nan`` (a grace of ``.inf`` would pass validation, then overflow)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=False, allow_inf_nan=False
    )
