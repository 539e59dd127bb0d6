"""Judge a window against its asset's own healthy baseline: change of shaft-order lines and features, explained."""

from __future__ import annotations

import math
from collections.abc import Mapping

from edge_agent.baseline.model import (
    BEARING_FAULT_STATES,
    CHANGE_FIELDS,
    AssetBaseline,
    BaselineJudgement,
    BaselineSettings,
    levels_db,
)
from edge_agent.baseline.signature import MachineSignature
from edge_agent.pipelines.postprocess import UNCERTAIN_STATE, UNKNOWN_STATE, HealthAssessment

HEALTHY_STATE = "healthy"
Z_CLIP = 10.0  # one wild feature must not decide alone: each robust z-score counts at most this much
TOP_Z = 5  # deviation = RMS of the largest few |z|: a fault moves several features, noise rarely moves five
LEVEL_Z = 3.0  # a line change counts only beyond 3 robust spreads of its own commissioning jitter


def feature_deviation(features: Mapping[str, float], baseline: AssetBaseline) -> tuple[float, list[tuple[str, float]]]:
    """RMS of the TOP_Z largest clipped robust z-scores over the features both have, and those z-scores."""
    zs = []
    for name, (median, spread) in baseline.features.items():
        value = features.get(name)
        if value is None or not math.isfinite(value):
            continue
        zs.append((name, max(-Z_CLIP, min(Z_CLIP, (float(value) - median) / spread))))
    if not zs:
        return 0.0, []
    zs.sort(key=lambda item: -abs(item[1]))
    top = zs[:TOP_Z]
    return math.sqrt(sum(z * z for _, z in top) / len(top)), top


def _db(value: float) -> str:
    return f"{value:+.1f} dB"


def _absolute(assessment: HealthAssessment, status: str, reason: str) -> BaselineJudgement:
    return BaselineJudgement(assessment.state, assessment.anomaly, 0.0, status, {}, [reason])


def judge(
    assessment: HealthAssessment,
    features: Mapping[str, float],
    signature: MachineSignature,
    baseline: AssetBaseline | None,
    settings: BaselineSettings,
) -> BaselineJudgement:
    """Final state of a window: the absolute model's, corrected by what changed against the asset's baseline."""
    if baseline is None:
        return _absolute(assessment, "none", "no baseline: absolute model only")
    if not baseline.covers(signature.rpm, settings.speed_tolerance):
        return _absolute(
            assessment,
            "other_speed",
            f"baseline learned at {baseline.rpm_min:.0f}-{baseline.rpm_max:.0f} rpm, window at "
            f"{signature.rpm:.0f} rpm: absolute model only",
        )
    now = levels_db(signature)
    changes = {
        short: round(now[name] - baseline.levels[name][0], 2)
        for short, name in CHANGE_FIELDS.items()
        if name in baseline.levels
    }

    def grew(short: str, threshold: float) -> bool:
        spread = baseline.levels[CHANGE_FIELDS[short]][1] if short in changes else math.inf
        change = changes.get(short, 0.0)
        return change >= threshold and change >= LEVEL_Z * spread

    alarm = settings.change_alarm_db
    dominance = alarm / 2.0  # "clearly less": half the alarm step below the line that grew
    d1, d2, d3 = (changes.get(k, 0.0) for k in ("order_1x", "order_2x", "order_3x"))
    imbalance = grew("order_1x", alarm) and d1 - max(d2, d3) >= dominance
    misalignment = not imbalance and grew("order_2x", alarm) and d2 > d1 - dominance
    bearing_band = [k for k in ("band_rms", "envelope_floor") if grew(k, alarm / 2.0)]
    changed = [k for k in changes if grew(k, alarm)]
    deviation, top = feature_deviation(features, baseline)
    deviant = deviation >= settings.deviation_alarm
    most = ", ".join(f"{n} z={z:+.1f}" for n, z in top[:3])
    absolute = assessment.state
    candidate = assessment.closest_state if absolute == UNCERTAIN_STATE else absolute

    def result(state: str, anomaly: bool, *reasons: str) -> BaselineJudgement:
        return BaselineJudgement(state, anomaly, round(deviation, 3), "used", changes, list(reasons))

    if candidate in BEARING_FAULT_STATES and (bearing_band or (deviant and not imbalance and not misalignment)):
        evidence = ", ".join(f"{k.replace('_', ' ')} {_db(changes[k])}" for k in bearing_band)
        why = f"{candidate} and the window left its baseline ({evidence or f'deviation {deviation:.1f}: {most}'})"
        other = assessment.top2[1] if absolute == UNCERTAIN_STATE else ""
        if other in BEARING_FAULT_STATES:
            return result(UNCERTAIN_STATE, False, why, f"model unsure between {candidate} and {other}")
        return result(candidate, False, why)
    if imbalance:
        rest = "2x/3x unchanged" if max(d2, d3) < dominance else f"2x {_db(d2)}, 3x {_db(d3)}"
        return result("imbalance", False, f"1x {_db(d1)} over baseline, {rest}: imbalance")
    if misalignment:
        return result("misalignment", False, f"2x {_db(d2)} over baseline (1x {_db(d1)}): misalignment")
    if not deviant and not changed:
        reasons = [f"matches its baseline (deviation {deviation:.1f} < {settings.deviation_alarm:g})"]
        if absolute == UNCERTAIN_STATE:
            reasons.append(f"absolute model was unsure ({' vs '.join(assessment.top2)}): resolved by the baseline")
        elif absolute != HEALTHY_STATE:
            reasons.append(f"absolute model said {absolute}: the machine's own signature, not a fault")
        return result(HEALTHY_STATE, False, *reasons)
    parts = [", ".join(f"{k.replace('_', ' ')} {_db(changes[k])}" for k in changed)]
    parts.append(f"deviation {deviation:.1f}: {most}" if deviant else "")
    why = f"left its baseline ({'; '.join(p for p in parts if p)})"
    if absolute == UNCERTAIN_STATE and not deviant:
        return result(UNCERTAIN_STATE, False, why, "no known fault explains the change")
    return result(UNKNOWN_STATE, True, why, "no known fault explains the change")
