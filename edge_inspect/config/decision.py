"""Decision rules: pixel thresholds, minimum areas, count limit, ignore zones (defaults: the model's)."""

from __future__ import annotations

from pydantic import Field, model_validator

from edge_inspect.config.base import StrictModel


class Zone(StrictModel):
    """A rectangle in original-frame pixels, where defects are ignored."""

    x: int = Field(ge=0, description="Left edge, pixels.")
    y: int = Field(ge=0, description="Top edge, pixels.")
    width: int = Field(gt=0, description="Width, pixels.")
    height: int = Field(gt=0, description="Height, pixels.")
    classes: tuple[str, ...] | None = Field(
        None, description="Ignore only these classes here; null = every class."
    )


class DecisionConfig(StrictModel):
    """Overrides of the model manifest's default decision settings; a null field keeps the manifest's."""

    thresholds: dict[str, float] | None = Field(
        None, description="Per-class pixel probability threshold, class name -> 0..1."
    )
    score_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="Classification models: a score >= this is NG."
    )
    min_area_px: dict[str, int] | None = Field(
        None, description="Per-class minimum defect area in frame pixels; smaller regions are ignored."
    )
    max_defects: int | None = Field(
        None, ge=0, description="Defects allowed per frame before the verdict is NG (0 = any defect is NG)."
    )
    ignore_zones: tuple[Zone, ...] = Field((), description="Regions where defects are ignored.")
    connectivity: int = Field(8, description="Pixel connectivity for defect regions: 4 or 8.")

    @model_validator(mode="after")
    def _check(self) -> DecisionConfig:
        if self.connectivity not in (4, 8):
            msg = "connectivity must be 4 or 8"
            raise ValueError(msg)
        for name, value in (self.thresholds or {}).items():
            if not 0.0 <= value <= 1.0:
                msg = f"thresholds.{name} must be within 0..1, got {value}"
                raise ValueError(msg)
        for name, area in (self.min_area_px or {}).items():
            if area < 0:
                msg = f"min_area_px.{name} must be >= 0, got {area}"
                raise ValueError(msg)
        return self
