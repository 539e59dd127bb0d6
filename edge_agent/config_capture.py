"""Hard-example capture settings: one default policy and what each model package changes of it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class CaptureKnobs(BaseModel):
    """The rules for keeping a model's inputs as hard examples."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low_margin: float | None = Field(default=0.1, ge=0, le=1, description="Capture when the margin is below this")
    ng: bool = Field(default=True, description="Capture every ng verdict / fault or anomaly state")
    uncertain: bool = Field(default=True, description="Capture results the model called `uncertain`")
    labels: list[str] = Field(
        default_factory=list,
        description="Predicted labels or states always captured (rare classes the next version needs), within caps",
    )
    disagreement: bool = Field(default=True, description="Capture when a label disagrees with the model")
    audit_rate: float = Field(default=0.01, ge=0, le=1, description="Random share captured whatever the result")
    max_per_hour: int = Field(default=200, ge=0, description="Samples per hour per model at most")
    max_bytes_per_hour: int = Field(default=50 * 1024 * 1024, ge=0, description="Sample bytes per hour per model")


class CaptureOverride(BaseModel):
    """One model's changes to the default policy; a key left out keeps the default's value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low_margin: float | None = Field(default=None, ge=0, le=1, description="Capture when the margin is below this")
    ng: bool | None = Field(default=None, description="Capture every ng verdict / fault or anomaly state")
    uncertain: bool | None = Field(default=None, description="Capture results the model called `uncertain`")
    labels: list[str] | None = Field(default=None, description="Predicted labels or states always captured")
    disagreement: bool | None = Field(default=None, description="Capture when a label disagrees with the model")
    audit_rate: float | None = Field(default=None, ge=0, le=1, description="Random share captured whatever")
    max_per_hour: int | None = Field(default=None, ge=0, description="Samples per hour for this model at most")
    max_bytes_per_hour: int | None = Field(default=None, ge=0, description="Sample bytes per hour for this model")


class CapturePolicy(CaptureKnobs):
    """The capture section: the default rules, and per model package name what differs."""

    recent_bytes_per_source: int = Field(
        default=4 * 1024 * 1024,
        ge=0,
        description="Memory per camera or asset for its latest inputs (at most 256), kept so that a late label "
        "(PLC reject gate, operator) can still join its input; the oldest go first. 4 MiB holds ~110 640x480 JPEG "
        "frames or ~60 0.5 s windows",
    )
    models: dict[str, CaptureOverride] = Field(
        default_factory=dict,
        description="Per model package name (e.g. surface-inspection-onnx), the keys that differ from the default; "
        "an explicit null low_margin switches margin captures off for that model",
    )

    def for_model(self, name: str) -> CaptureKnobs:
        """The rules in force for one model package."""
        merged = self.model_dump(include=set(CaptureKnobs.model_fields))
        override = self.models.get(name)
        if override is not None:
            merged.update(override.model_dump(include=override.model_fields_set))
        try:
            return CaptureKnobs.model_validate(merged)
        except ValidationError as exc:  # pragma: no cover - both sides were validated on their own
            raise ValueError(f"capture.models.{name}: {exc.errors()[0]['msg']}") from exc
