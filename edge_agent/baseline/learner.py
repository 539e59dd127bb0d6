"""Commissioning: collect an asset's healthy windows, refuse a faulty machine, and produce its baseline."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_agent.baseline.model import (
    BEARING_FAULT_STATES,
    LEVEL_FIELDS,
    NARROW_FAULT_LINES,
    AssetBaseline,
    BaselineError,
    BaselineRefused,
    levels_db,
)
from edge_agent.baseline.signature import MachineSignature, iso_zone
from edge_agent.config_baseline import BaselineSettings
from edge_agent.pipelines.postprocess import HealthAssessment

log = logging.getLogger(__name__)

MAX_ROWS = 1024  # windows kept for the medians; a long commissioning is thinned evenly over time
MAD_TO_SIGMA = 1.4826
LEVEL_SPREAD_FLOOR_DB = 0.5
# A very steady commissioning must not make every later window "deviant": spreads have a floor of the
# window-to-window jitter a healthy machine shows anyway (dB features, and log10/shape features).
FEATURE_SPREAD_FLOOR_DB = 1.0
FEATURE_SPREAD_FLOOR_OTHER = 0.05


class _Progress(BaseModel):
    """JSON form of a commissioning in progress, so it resumes after a restart."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(default=1, description="Progress format version")
    asset_id: str = Field(description="Asset being commissioned")
    model: str = Field(description="Model assessing the windows, name@version")
    windows: int = Field(ge=0, description="Windows seen so far")
    stride: int = Field(ge=1, description="Every stride-th window is kept (thinning of long commissionings)")
    rpm: list[float] = Field(description="Shaft speed of each kept window")
    levels: dict[str, list[float]] = Field(description="Signature level (dB) of each kept window, by field")
    features: dict[str, list[float]] = Field(description="Model feature of each kept window, by name")
    state_counts: dict[str, int] = Field(description="Absolute-model states of all windows")
    fault_counts: dict[str, int] = Field(description="Windows confidently called a bearing fault, by fault")


def _bearing_lines_db(features: Mapping[str, list[float]]) -> dict[str, float]:
    """Median over the kept commissioning windows of each bearing fault's narrow-band line, where the model has it:
    impacts at a fault frequency are there from the first window on a machine commissioned already faulty, even
    when the model calls only some of its windows that fault with confidence."""
    return {fault: float(np.median(features[name])) for fault, name in NARROW_FAULT_LINES.items() if features.get(name)}


def feature_spread_floor(name: str) -> float:
    """Smallest robust spread a feature may have: 1 dB for dB features, 0.05 for log10 and shape features."""
    return FEATURE_SPREAD_FLOOR_DB if name.endswith("_db") else FEATURE_SPREAD_FLOOR_OTHER


def _robust(values: list[float], floor: float) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    median = float(np.median(arr))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(arr - median)))
    return round(median, 4), round(max(spread, floor), 4)


class BaselineLearner:
    """Learns one asset's healthy signature from its commissioning windows."""

    def __init__(self, asset_id: str, model: str, settings: BaselineSettings) -> None:
        self.settings = settings
        self._p = _Progress(
            asset_id=asset_id,
            model=model,
            windows=0,
            stride=1,
            rpm=[],
            levels={name: [] for name in LEVEL_FIELDS},
            features={},
            state_counts={},
            fault_counts={},
        )

    @property
    def asset_id(self) -> str:
        """Asset being commissioned."""
        return self._p.asset_id

    @property
    def model(self) -> str:
        """Model assessing the commissioning windows, name@version."""
        return self._p.model

    @property
    def windows(self) -> int:
        """Commissioning windows seen so far."""
        return self._p.windows

    @property
    def ready(self) -> bool:
        """True once the configured number of windows has been seen."""
        return self._p.windows >= self.settings.windows

    def add(self, signature: MachineSignature, features: Mapping[str, float], assessment: HealthAssessment) -> None:
        """Count one commissioning window; its levels and features are kept (thinned evenly when very long)."""
        p = self._p
        p.state_counts[assessment.state] = p.state_counts.get(assessment.state, 0) + 1
        if (
            assessment.state in BEARING_FAULT_STATES
            and assessment.scores.get(assessment.state, 0.0) >= self.settings.fault_confidence
        ):
            p.fault_counts[assessment.state] = p.fault_counts.get(assessment.state, 0) + 1
        keep = p.windows % p.stride == 0
        p.windows += 1
        if not keep:
            return
        p.rpm.append(float(signature.rpm))
        for name, value in levels_db(signature).items():
            p.levels.setdefault(name, []).append(round(value, 4))
        for name, value in features.items():
            p.features.setdefault(name, []).append(round(float(value), 5))
        if len(p.rpm) >= MAX_ROWS:
            # Keep every other window and halve the intake: the kept windows stay spread over the whole period.
            p.stride *= 2
            p.rpm = p.rpm[::2]
            p.levels = {k: v[::2] for k, v in p.levels.items()}
            p.features = {k: v[::2] for k, v in p.features.items()}

    def finish(self, now_ms: int) -> AssetBaseline:
        """The baseline, or BaselineRefused when there are too few windows or they look like a faulty machine."""
        p, s = self._p, self.settings
        if p.windows < s.min_windows or not p.rpm:
            raise BaselineRefused(f"only {p.windows} commissioning windows; at least {s.min_windows} are needed")
        levels = {name: _robust(values, LEVEL_SPREAD_FLOOR_DB) for name, values in p.levels.items() if values}
        velocity = 10.0 ** (levels["velocity_rms_mm_s"][0] / 20.0)
        if velocity > s.refuse_velocity_mm_s:
            raise BaselineRefused(
                f"velocity {velocity:.1f} mm/s RMS is ISO zone {iso_zone(velocity)} "
                f"(above {s.refuse_velocity_mm_s:g} mm/s): the machine is not healthy enough to be a baseline"
            )
        faults = sum(p.fault_counts.values())
        if faults > s.refuse_fault_share * p.windows:
            worst = max(sorted(p.fault_counts), key=lambda k: p.fault_counts[k])
            raise BaselineRefused(
                f"commissioning windows look like {worst} ({faults / p.windows:.0%} of {p.windows} windows "
                f"confidently a bearing fault)"
            )
        lines = _bearing_lines_db(p.features)
        if lines and max(lines.values()) >= s.refuse_envelope_line_db:
            worst = max(sorted(lines), key=lambda k: lines[k])
            raise BaselineRefused(
                f"commissioning windows carry {worst} impacts: its envelope lines stand {lines[worst]:.1f} dB over "
                f"the envelope floor in the median window (refused from {s.refuse_envelope_line_db:g} dB)"
            )
        rpm = np.asarray(p.rpm, dtype=np.float64)
        baseline = AssetBaseline(
            asset_id=p.asset_id,
            model=p.model,
            created_ts_ms=int(now_ms),
            windows=p.windows,
            rpm_min=round(float(np.percentile(rpm, 2)), 2),
            rpm_max=round(float(np.percentile(rpm, 98)), 2),
            levels=levels,
            features={n: _robust(v, feature_spread_floor(n)) for n, v in p.features.items() if v},
            state_counts=dict(p.state_counts),
        )
        log.info(
            "baseline for %s learned from %d windows at %.0f-%.0f rpm (velocity %.2f mm/s RMS)",
            p.asset_id,
            p.windows,
            baseline.rpm_min,
            baseline.rpm_max,
            velocity,
        )
        return baseline

    def to_dict(self) -> dict[str, Any]:
        """JSON-able progress; from_dict resumes counting where this left off."""
        return self._p.model_dump()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], settings: BaselineSettings) -> BaselineLearner:
        """Resume a commissioning saved by to_dict (BaselineError when the data is not such progress)."""
        try:
            progress = _Progress.model_validate(dict(data))
        except ValidationError as exc:
            raise BaselineError(f"commissioning progress is unreadable: {exc.errors()[0]['msg']}") from exc
        learner = cls(progress.asset_id, progress.model, settings)
        learner._p = progress
        return learner
