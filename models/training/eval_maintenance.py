"""Quality-bar metrics of the bearing-health model: accuracy, breakdowns, false alarms, unknown detection."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from models.training.vibration import BEARING_NAMES, STATES

# Quality bar (DESIGN.md section 10, issue spec): checked by `passes_quality_bar`.
TARGET_STATE_ACCURACY = 0.97
TARGET_HEALTHY_FLAGGED_MAX = 0.01
TARGET_UNKNOWN_DETECTION = 0.90
TARGET_MODEL_BYTES = 200 * 1024

SPEED_BANDS_RPM: tuple[tuple[float, float], ...] = ((0.0, 1200.0), (1200.0, 2400.0), (2400.0, math.inf))
SNR_BANDS_DB: tuple[tuple[float, float], ...] = ((-math.inf, 0.0), (0.0, 6.0), (6.0, 12.0), (12.0, math.inf))


def _band_name(value: float, bands: tuple[tuple[float, float], ...], unit: str) -> str:
    """Human-readable name of the band holding `value` (n/a for NaN)."""
    if not math.isfinite(value):
        return "n/a"
    for lo, hi in bands:
        if lo <= value < hi:
            if not math.isfinite(lo):
                return f"<{hi:g}{unit}"
            if not math.isfinite(hi):
                return f">={lo:g}{unit}"
            return f"{lo:g}-{hi:g}{unit}"
    return "n/a"


def _bearing_group(name: str) -> str:
    """A catalogue bearing's name, or "random geometry" for a geometry drawn for one window."""
    return name if name in BEARING_NAMES or name == "unknown" else "random geometry"


def _grouped_accuracy(keys: Sequence[str], correct: np.ndarray) -> dict[str, dict[str, float]]:
    """Accuracy and count per distinct key."""
    out: dict[str, dict[str, float]] = {}
    for key in sorted(set(keys)):
        mask = np.array([k == key for k in keys])
        out[key] = {"accuracy": float(correct[mask].mean()), "n": int(mask.sum())}
    return out


def maintenance_metrics(
    true_states: list[str],
    probabilities: np.ndarray,
    anomaly_scores: np.ndarray,
    anomaly_threshold: float,
    unknown_scores: np.ndarray,
    params: Sequence[Mapping[str, Any]] | None = None,
    labels: Sequence[str] = STATES,
    negative_label: str = "healthy",
) -> dict[str, Any]:
    """Held-out metrics of trained-state windows (probabilities, scores) and untrained-pattern scores.

    A healthy window counts as flagged when its predicted state is not healthy OR its anomaly score is
    above the threshold: either would raise an alert at the plant. `params` (one dict per window with
    rpm, bearing, snr_db, as in VibrationSample.params) adds per-speed, per-bearing and per-SNR accuracy.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    scores = np.asarray(anomaly_scores, dtype=np.float64).reshape(-1)
    unknown = np.asarray(unknown_scores, dtype=np.float64).reshape(-1)
    if probs.ndim != 2 or probs.shape != (len(true_states), len(labels)):
        raise ValueError(f"probabilities have shape {probs.shape}; expected ({len(true_states)}, {len(labels)})")
    if scores.size != len(true_states):
        raise ValueError(f"{scores.size} anomaly scores for {len(true_states)} windows")
    index = {label: i for i, label in enumerate(labels)}
    truth = np.array([index[s] for s in true_states])
    pred = probs.argmax(axis=1)
    correct = pred == truth
    anomalous = scores > anomaly_threshold

    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, (truth, pred), 1)
    per_class_recall = {label: float(confusion[i, i] / max(confusion[i].sum(), 1)) for i, label in enumerate(labels)}
    healthy = truth == index[negative_label]
    healthy_flagged = (pred != index[negative_label]) | anomalous
    fault = ~healthy
    metrics: dict[str, Any] = {
        "n_windows": len(true_states),
        "n_unknown_windows": int(unknown.size),
        "state_accuracy": float(correct.mean()),
        "per_state_recall": per_class_recall,
        "healthy_flagged_rate": float(healthy_flagged[healthy].mean()) if healthy.any() else float("nan"),
        "healthy_misclassified_rate": float((pred[healthy] != index[negative_label]).mean())
        if healthy.any()
        else float("nan"),
        "healthy_anomalous_rate": float(anomalous[healthy].mean()) if healthy.any() else float("nan"),
        # A fault called healthy and not anomalous is a missed alarm.
        "fault_missed_rate": float(((pred[fault] == index[negative_label]) & ~anomalous[fault]).mean())
        if fault.any()
        else float("nan"),
        "known_anomalous_rate": float(anomalous.mean()),
        "unknown_detection_rate": float((unknown > anomaly_threshold).mean()) if unknown.size else float("nan"),
        "anomaly_threshold": float(anomaly_threshold),
        "confusion_matrix": confusion.tolist(),
        "confusion_labels": list(labels),
    }
    if params is not None:
        if len(params) != len(true_states):
            raise ValueError(f"{len(params)} params for {len(true_states)} windows")
        speed = [_band_name(float(p.get("rpm", math.nan)), SPEED_BANDS_RPM, " rpm") for p in params]
        snr = [_band_name(float(p.get("snr_db", math.nan)), SNR_BANDS_DB, " dB") for p in params]
        # Half the windows sit on a random geometry of their own: one row each would say nothing, so they
        # are pooled, and the catalogue bearings keep a row per type.
        bearing = [_bearing_group(str(p.get("bearing", "unknown"))) for p in params]
        metrics["accuracy_by_speed"] = _grouped_accuracy(speed, correct)
        metrics["accuracy_by_bearing"] = _grouped_accuracy(bearing, correct)
        metrics["accuracy_by_snr"] = _grouped_accuracy(snr, correct)
    return metrics


def unknown_detection_by_pattern(states: Sequence[str], scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Share of windows of each untrained pattern whose anomaly score is above the threshold."""
    arr = np.asarray(scores, dtype=np.float64).reshape(-1)
    return {s: float((arr[[x == s for x in states]] > threshold).mean()) for s in sorted(set(states))}


def passes_quality_bar(metrics: Mapping[str, Any], model_bytes: int) -> dict[str, bool]:
    """Which quality-bar targets the metrics meet."""
    return {
        "state_accuracy": metrics["state_accuracy"] >= TARGET_STATE_ACCURACY,
        "healthy_flagged_rate": metrics["healthy_flagged_rate"] <= TARGET_HEALTHY_FLAGGED_MAX,
        "unknown_detection_rate": metrics["unknown_detection_rate"] >= TARGET_UNKNOWN_DETECTION,
        "model_size": model_bytes <= TARGET_MODEL_BYTES,
    }


def confusion_markdown(confusion: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    """The confusion matrix as a markdown table (rows: true state, columns: predicted)."""
    head = "| true \\ predicted | " + " | ".join(labels) + " |"
    sep = "|---" * (len(labels) + 1) + "|"
    rows = [
        f"| {label} | " + " | ".join(str(v) for v in row) + " |" for label, row in zip(labels, confusion, strict=True)
    ]
    return "\n".join([head, sep, *rows])
