"""The baseline sections of the agent config: global keys and per-asset overrides (kept apart for size)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Section(BaseModel):
    """Base for config sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class BaselineKnobs(_Section):
    """How an asset's healthy baseline is learned at commissioning and how windows are judged against it."""

    windows: int = Field(default=200, ge=1, le=100_000, description="Windows learned during commissioning")
    min_windows: int = Field(
        default=30, ge=1, le=100_000, description="Fewest windows a baseline is learned from (also by finish)"
    )
    speed_tolerance: float = Field(
        default=0.10, ge=0, le=1, description="Share outside the learned rpm range still judged against the baseline"
    )
    change_alarm_db: float = Field(
        default=6.0, gt=0, description="Rise of a learned level (1x, 2x, 3x, band, envelope) in dB that is a change"
    )
    deviation_alarm: float = Field(
        default=5.0,
        gt=0,
        description="Deviation from the learned features (RMS of the 5 largest robust z-scores) that is anomalous",
    )
    refuse_velocity_mm_s: float = Field(
        default=7.1, gt=0, description="A baseline whose velocity RMS (mm/s) reaches this is refused (ISO zone C/D)"
    )
    refuse_fault_share: float = Field(
        default=0.3, ge=0, le=1, description="A baseline whose windows the model calls faulty this often is refused"
    )
    fault_confidence: float = Field(
        default=0.8, ge=0, le=1, description="Class probability at which a commissioning window counts as a fault"
    )
    evidence_windows: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Windows of an asset whose bearing-fault envelope evidence is pooled (this one and those before "
        "it): faint impacts one window cannot tell stand out of several, as a CM system's averaging does; 1 judges "
        "each window alone",
    )
    refuse_envelope_line_db: float = Field(
        default=16.0,
        gt=0,
        description="A baseline whose median window has a bearing fault's narrow-band envelope lines this many dB "
        "over the envelope floor is refused (models with narrow-band features; healthy machines stay under ~15 dB)",
    )


def _min_within_windows(knobs: BaselineKnobs) -> None:
    if knobs.min_windows > knobs.windows:
        raise ValueError(f"min_windows ({knobs.min_windows}) exceeds windows ({knobs.windows})")


class BaselineSettings(BaselineKnobs):
    """The knobs the baseline learner and judge run with, checked together."""

    @model_validator(mode="after")
    def _checked(self) -> BaselineSettings:
        _min_within_windows(self)
        return self


class BaselineOverride(BaselineKnobs):
    """One asset's baseline keys: the knobs, whether baselines are on, and a commissioning time limit."""

    enabled: bool = Field(default=True, description="Learn a per-asset baseline and judge windows against it")
    commissioning_hours: float | None = Field(
        default=None,
        gt=0,
        description="Commissioning also ends after this long (wall time since it began) once min_windows are in",
    )


class BaselineTuning(BaselineOverride):
    """The baseline keys in force for an asset, checked together."""

    @model_validator(mode="after")
    def _checked(self) -> BaselineTuning:
        _min_within_windows(self)
        return self


class BaselineConfig(BaselineTuning):
    """Per-asset baselines: where they are kept and the defaults every asset uses unless it overrides them."""

    dir: Path | None = Field(
        default=None, description="Directory of baseline files; default baselines/ beside store.path"
    )
    save_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="How often commissioning progress is saved (windows a kill -9 may lose)"
    )


def merged_tuning(base: BaselineTuning, override: BaselineOverride | None, where: str) -> BaselineTuning:
    """The global keys with an asset's own (only those it sets) laid over them, checked together."""
    merged = base.model_dump(include=set(BaselineOverride.model_fields))
    if override is not None:
        merged.update(override.model_dump(include=override.model_fields_set))
    try:
        return BaselineTuning.model_validate(merged)
    except ValidationError as exc:
        raise ValueError(f"{where}.baseline: {exc.errors()[0]['msg']}") from exc
