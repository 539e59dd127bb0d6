"""Per-asset baseline data: the learned baseline (stored and uploaded as JSON), judgements, errors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.baseline.signature import MachineSignature
from edge_agent.errors import EdgeAgentError

BEARING_FAULT_STATES = ("outer_race", "inner_race", "ball")
# The narrow-band envelope line of each bearing fault (bearing-health 1.3+ features).
NARROW_FAULT_LINES: dict[str, str] = {"outer_race": "nb_bpfo_db", "inner_race": "nb_bpfi_db", "ball": "nb_2bsf_db"}
# Short change names (judgement, telemetry) -> the signature field whose level they compare.
CHANGE_FIELDS: dict[str, str] = {
    "order_1x": "order_1x_g",
    "order_2x": "order_2x_g",
    "order_3x": "order_3x_g",
    "band_rms": "band_rms_g",
    "envelope_floor": "envelope_floor_g2",
    "velocity_rms": "velocity_rms_mm_s",
    "half_orders": "half_orders_g",
    "harmonics_5x_10x": "harmonics_5x_10x_g",
}
LEVEL_FIELDS = (*CHANGE_FIELDS.values(), "order_1x_mm_s", "rms_g")
_LEVEL_FLOOR = 1e-9  # -180 dB: a missing line is "very small", never -inf


class BaselineError(EdgeAgentError):
    """A baseline or commissioning progress cannot be used (corrupt or from another schema)."""


class BaselineRefused(BaselineError):
    """Commissioning ended on data that cannot be a healthy baseline; .reason says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"baseline refused: {reason}")
        self.reason = reason


class AssetBaseline(BaseModel):
    """An asset's healthy signature learned at commissioning (stored on disk and uploaded to the cloud)."""

    model_config = ConfigDict(extra="forbid")

    asset_id: str = Field(description="Asset the baseline belongs to")
    model: str = Field(description="Model that assessed the commissioning windows, name@version")
    created_ts_ms: int = Field(description="When commissioning finished, ms since the epoch")
    windows: int = Field(ge=1, description="Commissioning windows the baseline was learned from")
    rpm_min: float = Field(gt=0, description="Lowest shaft speed seen at commissioning (2nd percentile), rpm")
    rpm_max: float = Field(gt=0, description="Highest shaft speed seen at commissioning (98th percentile), rpm")
    levels: dict[str, tuple[float, float]] = Field(
        description="Signature field -> (median, robust spread) in dB re 1 unit (20*log10)"
    )
    features: dict[str, tuple[float, float]] = Field(
        description="Model feature -> (median, robust spread: 1.4826*MAD, floored)"
    )
    state_counts: dict[str, int] = Field(description="Absolute-model states seen while commissioning")

    def covers(self, rpm: float, tolerance: float) -> bool:
        """True when a window at this speed may be judged against this baseline."""
        return self.rpm_min * (1.0 - tolerance) <= rpm <= self.rpm_max * (1.0 + tolerance)

    def level(self, name: str) -> float:
        """Baseline median of a signature field in its own unit (g, mm/s, g^2)."""
        return 10.0 ** (self.levels[name][0] / 20.0)


@dataclass(frozen=True)
class BaselineJudgement:
    """The final state of one window, judged against the asset's own baseline, and why."""

    state: str
    anomaly: bool
    deviation: float
    status: str
    changes_db: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    # This window's own envelope evidence per bearing fault (robust z; key "unexplained" for the strongest line
    # no bearing explains): the caller keeps the last few to pool with the next window's.
    fault_lines_z: dict[str, float] = field(default_factory=dict)


def to_db(value: float) -> float:
    """Level in dB re 1 unit (20*log10), floored so a missing line is very small rather than -inf."""
    return 20.0 * math.log10(max(float(value), _LEVEL_FLOOR))


def levels_db(signature: MachineSignature) -> dict[str, float]:
    """The signature's levels in dB re 1 unit, by signature field name."""
    values = signature.as_dict()
    return {name: to_db(values[name]) for name in LEVEL_FIELDS}
