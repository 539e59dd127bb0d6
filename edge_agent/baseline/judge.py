"""Judge a window against its asset's own healthy baseline: change of shaft-order lines and features, explained."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from edge_agent.baseline.model import (
    BEARING_FAULT_STATES,
    CHANGE_FIELDS,
    NARROW_FAULT_LINES,
    AssetBaseline,
    BaselineJudgement,
    levels_db,
)
from edge_agent.baseline.signature import MachineSignature
from edge_agent.config_baseline import BaselineSettings
from edge_agent.pipelines.postprocess import UNCERTAIN_STATE, UNKNOWN_STATE, HealthAssessment

HEALTHY_STATE = "healthy"
Z_CLIP = 10.0  # one wild feature must not decide alone: each robust z-score counts at most this much
TOP_Z = 5  # deviation = RMS of the largest few |z|: a fault moves several features, noise rarely moves five
LEVEL_Z = 3.0  # a line change counts only beyond 3 robust spreads of its own commissioning jitter
# An absolute anomaly is overruled only by a close match: below this share of deviation_alarm.
ANOMALY_MATCH = 0.7
LINE_HZ = (50.0, 60.0)
# The grid holds its frequency to ~0.1%; an induction motor's 2x sits its slip (~1-4%) below 2x line.
LINE_TOLERANCE = 0.005
# The envelope lines of each bearing fault (model features); their mean robust z says the fault's lines rose.
FAULT_ENVELOPE_LINES: dict[str, tuple[str, ...]] = {
    "outer_race": ("env_bpfo_1_db", "env_bpfo_2_db", "env_bpfo_3_db"),
    "inner_race": ("env_bpfi_1_db", "env_bpfi_2_db", "env_bpfi_3_db"),
    "ball": ("env_2bsf_1_db", "env_2bsf_2_db", "env_2bsf_3_db"),
}
ENVELOPE_LINE_Z = 2.0
# A bearing fault the absolute model missed: one fault's envelope lines rose this far (mean robust z) over the
# machine's own commissioning scatter, and clearly more than any other fault's lines did.
ENVELOPE_DETECT_Z = 3.0
ENVELOPE_DETECT_MARGIN = 1.5
SHAFT_LINES = ("order_1x_g", "order_2x_g", "order_3x_g")
UNEXPLAINED = "unexplained"
# Pooled evidence names a fault only while the window itself leans that way: a healthy machine's windows are not
# quite independent (its commissioning median is one estimate), and a run of chance highs must not outlive itself.
POOLED_OWN_Z = 1.0


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


def _z(name: str, features: Mapping[str, float], baseline: AssetBaseline) -> float | None:
    if name not in features or name not in baseline.features:
        return None
    median, spread = baseline.features[name]
    return (features[name] - median) / spread


def _envelope_lines_z(fault: str, features: Mapping[str, float], baseline: AssetBaseline) -> float:
    """How far the fault's envelope lines rose over the baseline in robust z: the mean over its wide-band lines,
    or its narrow-band line where that rose more (0 when the model has no such features)."""
    zs = [z for z in (_z(n, features, baseline) for n in FAULT_ENVELOPE_LINES.get(fault, ())) if z is not None]
    narrow = _z(NARROW_FAULT_LINES.get(fault, ""), features, baseline)
    wide = sum(zs) / len(zs) if zs else 0.0
    return wide if narrow is None else max(wide, narrow)


def fault_lines_z(features: Mapping[str, float], baseline: AssetBaseline) -> dict[str, float]:
    """One window's envelope evidence: each bearing fault's lines_z, and the strongest unexplained line's z."""
    out = {fault: round(_envelope_lines_z(fault, features, baseline), 3) for fault in FAULT_ENVELOPE_LINES}
    out[UNEXPLAINED] = round(_z("env_max_unexplained_db", features, baseline) or 0.0, 3)
    return out


def pooled_lines_z(now: Mapping[str, float], recent: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Evidence of this window and the recent ones pooled as Stouffer's z (sum / sqrt(count)): on a healthy
    machine the pooled z scatters like one window's, while a fault's faint lines add up window after window."""
    windows = [*recent, now]
    return {k: sum(w.get(k, 0.0) for w in windows) / math.sqrt(len(windows)) for k in now}


def kept_evidence(
    recent: Sequence[Mapping[str, float]], judgement: BaselineJudgement, settings: BaselineSettings
) -> list[Mapping[str, float]]:
    """The evidence to pool with an asset's next window: the last evidence_windows - 1 windows' fault_lines_z,
    this judgement's included (a window judged without a baseline adds nothing)."""
    kept = [*recent, judgement.fault_lines_z] if judgement.fault_lines_z else list(recent)
    return kept[max(0, len(kept) - (settings.evidence_windows - 1)) :]


def _on_2x_line_frequency(signature: MachineSignature) -> float | None:
    """The line frequency whose second harmonic the 2x peak sits on, rather than on twice the measured 1x."""
    for line in LINE_HZ:
        off_line = abs(signature.order_2x_hz - 2.0 * line)
        if off_line <= LINE_TOLERANCE * 2.0 * line and off_line < abs(
            signature.order_2x_hz - 2.0 * signature.order_1x_hz
        ):
            return line
    return None


def _power_sum_db(levels_in_db: Iterable[float]) -> float:
    return 10.0 * math.log10(sum(10.0 ** (level / 10.0) for level in levels_in_db))


def _db(value: float) -> str:
    return f"{value:+.1f} dB"


@dataclass(frozen=True)
class _Findings:
    """What changed against the baseline, before the rules turn it into a state."""

    changes: dict[str, float]
    grown: list[str]  # every level that grew by the alarm step (bearing band: half of it), significantly
    bearing_band: list[str]
    series: list[str]
    line_hz: float | None
    imbalance: bool
    misalignment: bool


def _findings(signature: MachineSignature, baseline: AssetBaseline, settings: BaselineSettings) -> _Findings:
    """Level changes in dB against the baseline medians and the line rules they fire."""
    now = levels_db(signature)
    changes = {
        short: round(now[name] - baseline.levels[name][0], 2)
        for short, name in CHANGE_FIELDS.items()
        if name in baseline.levels
    }

    def grew(short: str, threshold: float) -> bool:
        change = changes.get(short, -math.inf)
        return change >= threshold and change >= LEVEL_Z * baseline.levels[CHANGE_FIELDS[short]][1]

    alarm = settings.change_alarm_db
    dominance = alarm / 2.0  # "clearly less": half the alarm step below the line that grew
    d1, d2, d3 = (changes.get(k, 0.0) for k in ("order_1x", "order_2x", "order_3x"))
    # The envelope floor is a squared quantity: its 6 dB are the band's 3 dB (x1.4 more bearing-band energy).
    bearing_band = [k for k, t in (("band_rms", alarm / 2.0), ("envelope_floor", alarm)) if grew(k, t)]
    # Half orders sit between the shaft lines, which leak into them on short windows: they must outgrow the
    # 1x-3x series as a whole. 5x-10x lie two orders or more from the lines imbalance and misalignment raise.
    shaft = max(d1, d2, d3)
    if all(n in baseline.levels for n in SHAFT_LINES):
        shaft = _power_sum_db(now[n] for n in SHAFT_LINES) - _power_sum_db(baseline.levels[n][0] for n in SHAFT_LINES)
    series = [k for k in ("half_orders",) if grew(k, alarm) and changes[k] - shaft >= dominance]
    series += [k for k in ("harmonics_5x_10x",) if grew(k, alarm)]
    line_hz = _on_2x_line_frequency(signature) if grew("order_2x", alarm) else None
    imbalance = not series and grew("order_1x", alarm) and d1 - max(d2, d3) >= dominance
    misalignment = not (series or imbalance or line_hz) and grew("order_2x", alarm) and d2 > d1 - dominance
    grown = [k for k in changes if grew(k, alarm)]
    grown += [k for k in bearing_band if k not in grown]
    return _Findings(changes, grown, bearing_band, series, line_hz, imbalance, misalignment)


def judge(
    assessment: HealthAssessment,
    features: Mapping[str, float],
    signature: MachineSignature,
    baseline: AssetBaseline | None,
    settings: BaselineSettings,
    recent: Sequence[Mapping[str, float]] = (),
) -> BaselineJudgement:
    """Final state of a window: the absolute model's, corrected by what changed against the asset's baseline.
    `recent` holds the fault_lines_z of the asset's windows just before this one (oldest first); the last
    settings.evidence_windows - 1 of them are pooled with this window's to find a faint bearing fault."""
    if baseline is None:
        return BaselineJudgement(assessment.state, assessment.anomaly, 0.0, "none", {}, ["no baseline: absolute only"])
    if not baseline.covers(signature.rpm, settings.speed_tolerance):
        reason = (
            f"baseline learned at {baseline.rpm_min:.0f}-{baseline.rpm_max:.0f} rpm, window at "
            f"{signature.rpm:.0f} rpm: absolute model only"
        )
        return BaselineJudgement(assessment.state, assessment.anomaly, 0.0, "other_speed", {}, [reason])
    f = _findings(signature, baseline, settings)
    d1, d2, d3 = (f.changes.get(k, 0.0) for k in ("order_1x", "order_2x", "order_3x"))
    deviation, top = feature_deviation(features, baseline)
    deviant = deviation >= settings.deviation_alarm
    most = ", ".join(f"{n} z={z:+.1f}" for n, z in top[:3])
    absolute = assessment.state
    candidate = assessment.closest_state if absolute == UNCERTAIN_STATE else absolute

    own_lines = fault_lines_z(features, baseline)
    earlier = list(recent)[max(0, len(recent) - (settings.evidence_windows - 1)) :]
    pooled = pooled_lines_z(own_lines, earlier)

    def result(state: str, anomaly: bool, *reasons: str) -> BaselineJudgement:
        return BaselineJudgement(state, anomaly, round(deviation, 3), "used", f.changes, list(reasons), own_lines)

    if candidate in BEARING_FAULT_STATES:
        lines_z = _envelope_lines_z(candidate, features, baseline)
        evidence = [f"{k.replace('_', ' ')} {_db(f.changes[k])}" for k in f.bearing_band]
        evidence += [f"its envelope lines z={lines_z:+.1f}"] if lines_z >= ENVELOPE_LINE_Z else []
        if not evidence and deviant and not (f.imbalance or f.misalignment):
            evidence = [f"deviation {deviation:.1f}: {most}"]
        if evidence:
            why = f"{candidate} and the window left its baseline ({', '.join(evidence)})"
            other = assessment.top2[1] if absolute == UNCERTAIN_STATE else ""
            if other in BEARING_FAULT_STATES:
                return result(UNCERTAIN_STATE, False, why, f"model unsure between {candidate} and {other}")
            return result(candidate, False, why)
    if candidate not in BEARING_FAULT_STATES and not (f.imbalance or f.misalignment or f.series):
        rose = sorted(((pooled[k], k) for k in FAULT_ENVELOPE_LINES), reverse=True)
        (z_best, fault), (z_next, _) = rose[0], rose[1]
        # Impacts at a rate no bearing explains can lift one of a fault's harmonics by chance; then the strongest
        # unexplained envelope line rose more than the fault's lines did, and the change stays unexplained.
        if (
            z_best >= ENVELOPE_DETECT_Z
            and z_best - max(z_next, 0.0) >= ENVELOPE_DETECT_MARGIN
            and pooled[UNEXPLAINED] < z_best
            and (not earlier or own_lines[fault] >= POOLED_OWN_Z)
        ):
            over = f" over its last {len(earlier) + 1} windows" if earlier else ""
            return result(
                fault,
                False,
                f"its {fault.replace('_', ' ')} envelope lines rose over its baseline{over} (z={z_best:+.1f}, next "
                f"z={z_next:+.1f}) while the absolute model said {absolute}",
            )
    if f.imbalance:
        rest = "2x/3x unchanged" if max(d2, d3) < settings.change_alarm_db / 2 else f"2x {_db(d2)}, 3x {_db(d3)}"
        return result("imbalance", False, f"1x {_db(d1)} over baseline, {rest}: imbalance")
    if f.misalignment:
        return result("misalignment", False, f"2x {_db(d2)} over baseline (1x {_db(d1)}): misalignment")
    match_below = settings.deviation_alarm * (ANOMALY_MATCH if absolute == UNKNOWN_STATE else 1.0)
    if deviation < match_below and not f.grown:
        reasons = [f"matches its baseline (deviation {deviation:.1f} < {match_below:g})"]
        if absolute == UNCERTAIN_STATE:
            pair = " vs ".join(name for name in assessment.top2 if name) or assessment.closest_state
            reasons.append(f"absolute model was unsure ({pair}): resolved by the baseline")
        elif absolute != HEALTHY_STATE:
            reasons.append(f"absolute model said {absolute}: the machine's own signature, not a fault")
        return result(HEALTHY_STATE, False, *reasons)
    lines = ", ".join(f"{k.replace('_', ' ')} {_db(f.changes[k])}" for k in f.grown)
    parts = [lines, f"deviation {deviation:.1f}: {most}" if deviation >= match_below else ""]
    reasons = [f"left its baseline ({'; '.join(p for p in parts if p)})"]
    if f.series:
        reasons.append("a harmonic series or half orders grew: looseness-like, not a trained fault")
    if f.line_hz:
        reasons.append(
            f"the grown 2x sits on twice line frequency ({2 * f.line_hz:g} Hz): electrical, not misalignment"
        )
    reasons.append("no known fault explains the change")
    if absolute == UNCERTAIN_STATE and not deviant:
        return result(UNCERTAIN_STATE, False, *reasons)
    return result(UNKNOWN_STATE, True, *reasons)
