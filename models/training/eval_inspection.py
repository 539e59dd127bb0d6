"""Quality-bar metrics for the surface inspection model (ok/ng verdicts, defect types, agreement)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.training.surfaces import CLASSES

NEGATIVE = "ok"

# DESIGN §10 quality bar, checked by ``meets_bar``
TARGETS: dict[str, float] = {
    "balanced_accuracy": 0.98,
    "defect_recall": 0.99,
    "false_reject_rate": 0.02,  # at most
    "defect_type_accuracy": 0.95,
}


def verdicts(probabilities: np.ndarray, ng_score: float, labels: Sequence[str] = CLASSES) -> np.ndarray:
    """Boolean ng verdict per row: 1 - p(ok) >= ng_score."""
    probs = np.asarray(probabilities, dtype=np.float64)
    return (1.0 - probs[:, list(labels).index(NEGATIVE)]) >= ng_score


def confusion_matrix(true_idx: np.ndarray, pred_idx: np.ndarray, n: int) -> np.ndarray:
    """n x n counts, rows are true classes, columns predicted classes."""
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (true_idx, pred_idx), 1)
    return matrix


def inspection_metrics(
    true_labels: list[str], probabilities: np.ndarray, ng_score: float, labels: Sequence[str] = CLASSES
) -> dict:
    """Balanced ok/ng accuracy, defect recall, false reject rate, defect type accuracy, confusion matrix."""
    labels = list(labels)
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != (len(true_labels), len(labels)):
        raise ValueError(f"probabilities have shape {probs.shape}; expected ({len(true_labels)}, {len(labels)})")
    unknown = sorted(set(true_labels) - set(labels))
    if unknown:
        raise ValueError(f"unknown labels {unknown}; expected some of {labels}")
    true_idx = np.array([labels.index(t) for t in true_labels], dtype=np.int64)
    neg = labels.index(NEGATIVE)
    is_defect = true_idx != neg
    ng = verdicts(probs, ng_score, labels)
    recall = float(ng[is_defect].mean()) if is_defect.any() else float("nan")
    frr = float(ng[~is_defect].mean()) if (~is_defect).any() else float("nan")
    # defect type: argmax over the defect classes only, on truly defective samples
    defect_cols = [i for i in range(len(labels)) if i != neg]
    type_pred = np.array(defect_cols)[np.argmax(probs[:, defect_cols], axis=1)]
    type_acc = float((type_pred[is_defect] == true_idx[is_defect]).mean()) if is_defect.any() else float("nan")
    matrix = confusion_matrix(true_idx, np.argmax(probs, axis=1), len(labels))
    per_class_recall = {
        label: float(ng[true_idx == i].mean()) for i, label in enumerate(labels) if i != neg and (true_idx == i).any()
    }
    return {
        "n": len(true_labels),
        "ng_score": float(ng_score),
        "balanced_accuracy": (recall + (1.0 - frr)) / 2.0,
        "defect_recall": recall,
        "false_reject_rate": frr,
        "defect_type_accuracy": type_acc,
        "accuracy": float((np.argmax(probs, axis=1) == true_idx).mean()),
        "recall_per_defect": per_class_recall,
        "confusion_matrix": matrix.tolist(),
        "labels": labels,
    }


def meets_bar(metrics: dict) -> dict[str, bool]:
    """Which DESIGN §10 targets a metrics dict meets (false reject rate is an upper bound)."""
    return {
        key: (metrics[key] <= target if key == "false_reject_rate" else metrics[key] >= target)
        for key, target in TARGETS.items()
    }


def agreement(a_verdicts: Sequence[bool] | np.ndarray, b_verdicts: Sequence[bool] | np.ndarray) -> float:
    """Fraction of items on which two models give the same verdict."""
    a, b = np.asarray(a_verdicts), np.asarray(b_verdicts)
    if a.shape != b.shape:
        raise ValueError(f"verdict arrays differ in shape: {a.shape} vs {b.shape}")
    return float((a == b).mean()) if a.size else float("nan")


def choose_ng_score(
    true_labels: list[str],
    probabilities: np.ndarray,
    min_recall: float = 0.99,
    max_frr: float = 0.02,
    labels: Sequence[str] = CLASSES,
) -> float:
    """Threshold on 1 - p(ok) with the most slack to both recall and false-reject targets."""
    probs = np.asarray(probabilities, dtype=np.float64)
    is_defect = np.array([t != NEGATIVE for t in true_labels])
    score = 1.0 - probs[:, list(labels).index(NEGATIVE)]
    grid = np.linspace(0.02, 0.98, 97)
    recall = np.array([(score[is_defect] >= t).mean() for t in grid])
    frr = np.array([(score[~is_defect] >= t).mean() for t in grid])
    # normalised slack: how far each constraint is from being violated (worst of the two)
    slack = np.minimum((recall - min_recall) / (1.0 - min_recall), (max_frr - frr) / max_frr)
    best = float(slack.max())
    # among equally good thresholds take the middle of the plateau: stable under small output shifts
    candidates = grid[slack >= best - 1e-9]
    return float(np.round(candidates[len(candidates) // 2], 2))
