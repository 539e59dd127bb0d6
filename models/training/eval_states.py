"""Maintenance figures from the states the agent publishes (after 'unknown', 'uncertain' and the baseline judge)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from models.training.eval_maintenance import SPEED_BANDS_RPM, _band_name

TRAINED = ("healthy", "outer_race", "inner_race", "ball", "imbalance", "misalignment")
# States that raise nothing at the plant: the machine is fine, or the model says it cannot tell.
QUIET = ("healthy", "uncertain")


def _rate(mask: np.ndarray, pick: np.ndarray) -> float:
    return float(mask[pick].mean()) if pick.any() else float("nan")


def state_metrics(
    truth: Sequence[str],
    states: Sequence[str],
    rpm: Sequence[float],
    untrained_truth: Sequence[str] = (),
    untrained_states: Sequence[str] = (),
    severity: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Accuracy (uncertain and unknown count as wrong), how often each answer was 'uncertain', healthy windows
    that raised an alarm (a fault state or unknown), faults that passed as healthy, untrained patterns that
    raised an alarm, and accuracy per speed band and per state; with the generator's `severity` (0..1) of each
    window, fault recall per severity quarter (where a generator's mildest faults sit under the noise)."""
    t = np.array(truth)
    s = np.array(states)
    correct = t == s
    uncertain = s == "uncertain"
    alarm = ~np.isin(s, QUIET)
    healthy = t == "healthy"
    fault = ~healthy
    bands = np.array([_band_name(float(r), SPEED_BANDS_RPM, " rpm") for r in rpm])
    out: dict[str, Any] = {
        "n_windows": int(t.size),
        "state_accuracy": float(correct.mean()),
        "decided_accuracy": _rate(correct, ~uncertain),
        "uncertain_rate": float(uncertain.mean()),
        "healthy_flagged_rate": _rate(alarm, healthy),
        "healthy_uncertain_rate": _rate(uncertain, healthy),
        "fault_missed_rate": _rate(s == "healthy", fault),
        "per_state_recall": {state: _rate(correct, t == state) for state in TRAINED if (t == state).any()},
        "per_state_uncertain": {state: _rate(uncertain, t == state) for state in TRAINED if (t == state).any()},
        "accuracy_by_speed": {
            band: {"accuracy": _rate(correct, bands == band), "n": int((bands == band).sum())}
            for band in sorted(set(bands.tolist()))
        },
        "confusion": _confusion(t, s),
    }
    if severity is not None:
        quarter = np.minimum(np.floor(np.asarray(severity, dtype=float) * 4), 3)  # severity 1.0 in the last
        out["fault_recall_by_severity"] = {
            f"{q / 4:.2f}-{(q + 1) / 4:.2f}": _rate(correct, fault & (quarter == q)) for q in range(4)
        }
    if len(untrained_truth):
        ut = np.array(untrained_truth)
        us = np.array(untrained_states)
        flagged = ~np.isin(us, QUIET)
        out["n_untrained_windows"] = int(ut.size)
        out["untrained_flagged_rate"] = float(flagged.mean())
        out["untrained_unknown_rate"] = float((us == "unknown").mean())
        out["untrained_flagged_by_pattern"] = {p: _rate(flagged, ut == p) for p in sorted(set(ut.tolist()))}
    return out


def _confusion(truth: np.ndarray, states: np.ndarray) -> dict[str, dict[str, int]]:
    """Counts of published states per true state."""
    return {
        t: {s: int(((truth == t) & (states == s)).sum()) for s in sorted(set(states[truth == t].tolist()))}
        for t in TRAINED
        if (truth == t).any()
    }


def meets_targets(m: dict[str, Any]) -> dict[str, bool]:
    """The issue-10 maintenance targets: accuracy >= 97%, healthy flagged <= 1%, untrained flagged >= 90%."""
    out = {
        "state_accuracy>=0.97": m["state_accuracy"] >= 0.97,
        "healthy_flagged<=0.01": m["healthy_flagged_rate"] <= 0.01,
    }
    if "untrained_flagged_rate" in m:
        out["untrained_flagged>=0.90"] = m["untrained_flagged_rate"] >= 0.90
    if not math.isnan(m.get("imbalance_at_3x_detected", math.nan)):
        out["imbalance_at_3x_detected>=0.97"] = m["imbalance_at_3x_detected"] >= 0.97
    if "faulty_commissioning_refused" in m:
        out["faulty_commissioning_refused"] = m["faulty_commissioning_refused"] == 1.0
        out["other_speed_told"] = m["other_speed_windows_told"] == 1.0
    return out
