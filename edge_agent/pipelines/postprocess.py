"""Pure post-processing: class probabilities (and anomaly scores) to verdicts and states."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.contracts import Manifest
from edge_agent.errors import InferenceError

UNKNOWN_STATE = "unknown"
UNCERTAIN_STATE = "uncertain"


@dataclass(frozen=True)
class InspectionVerdict:
    """The verdict on one part: ok/ng, the most likely defect, scores per class."""

    verdict: str
    label: str
    scores: dict[str, float]
    margin: float


@dataclass(frozen=True)
class HealthAssessment:
    """The state of one asset window: class scores, anomaly score and a 0..1 health index."""

    state: str
    closest_state: str
    scores: dict[str, float]
    anomaly_score: float
    anomaly: bool
    health_index: float
    margin: float
    top2: tuple[str, str] = ("", "")


def _checked(probabilities: np.ndarray, labels: list[str]) -> np.ndarray:
    probs = np.asarray(probabilities, dtype=np.float32)
    if probs.ndim != 2 or probs.shape[1] != len(labels):
        raise InferenceError(f"model returned scores of shape {probs.shape}; expected (N, {len(labels)})")
    if not np.all(np.isfinite(probs)):
        raise InferenceError("model returned NaN or infinite scores")
    return probs


def _margin(row: np.ndarray) -> float:
    top = np.sort(row)[::-1]
    return float(top[0] - top[1])


def mean_over_views(probabilities: np.ndarray, views: int) -> np.ndarray:
    """Class probabilities of N items from those of N x `views` rows (each item's views consecutive)."""
    probs = np.asarray(probabilities, dtype=np.float32)
    if views == 1:
        return probs
    if probs.ndim != 2 or probs.shape[0] % views:
        raise InferenceError(f"model returned scores of shape {probs.shape} for items of {views} views each")
    return np.asarray(probs.reshape(-1, views, probs.shape[1]).mean(axis=1), dtype=np.float32)


def inspection_verdicts(probabilities: np.ndarray, manifest: Manifest) -> list[InspectionVerdict]:
    """ng when 1 - p(ok) reaches the manifest's ng_score; the label is then the likeliest defect."""
    labels = manifest.output.labels
    probs = _checked(probabilities, labels)
    ok_index = labels.index(manifest.output.negative_label)
    ng_score = manifest.thresholds.ng_score if manifest.thresholds.ng_score is not None else 0.5
    defect_indices = [i for i in range(len(labels)) if i != ok_index]
    verdicts = []
    for row in probs:
        is_ng = 1.0 - float(row[ok_index]) >= ng_score
        label = labels[defect_indices[int(np.argmax(row[defect_indices]))]] if is_ng else labels[ok_index]
        verdicts.append(
            InspectionVerdict(
                verdict="ng" if is_ng else "ok",
                label=label,
                scores={name: round(float(p), 5) for name, p in zip(labels, row)},
                margin=round(abs(1.0 - float(row[ok_index]) - ng_score), 5),
            )
        )
    return verdicts


def health_assessments(
    probabilities: np.ndarray, anomaly_scores: np.ndarray | None, manifest: Manifest
) -> list[HealthAssessment]:
    """Most likely state; 'unknown' for a pattern never trained on, else 'uncertain' below uncertain_below."""
    labels = manifest.output.labels
    probs = _checked(probabilities, labels)
    healthy = labels.index(manifest.output.negative_label)
    threshold = manifest.thresholds.anomaly
    uncertain_below = manifest.thresholds.uncertain_below
    scores = (
        np.zeros(len(probs), dtype=np.float32)
        if anomaly_scores is None
        else np.asarray(anomaly_scores, dtype=np.float32).reshape(len(probs))
    )
    if not np.all(np.isfinite(scores)):
        raise InferenceError("model returned NaN or infinite anomaly scores")
    results = []
    for row, score in zip(probs, scores):
        order = np.argsort(-row, kind="stable")
        closest = labels[int(order[0])]
        second = labels[int(order[1])] if len(labels) > 1 else closest
        anomalous = threshold is not None and float(score) > threshold
        # A confident wrong state costs a plant more than "not sure between these two"; unknown still wins.
        unsure = uncertain_below is not None and float(row[order[0]]) < uncertain_below
        state = UNKNOWN_STATE if anomalous else UNCERTAIN_STATE if unsure else closest
        # Past the threshold the index keeps falling with the score, so trends stay visible.
        novelty = min(1.0, threshold / float(score)) if anomalous and threshold and score > 0 else 1.0
        results.append(
            HealthAssessment(
                state=state,
                closest_state=closest,
                scores={name: round(float(p), 5) for name, p in zip(labels, row)},
                anomaly_score=round(float(score), 5),
                anomaly=bool(anomalous),
                health_index=round(float(row[healthy]) * novelty, 5),
                margin=round(_margin(row), 5),
                top2=(closest, second),
            )
        )
    return results
