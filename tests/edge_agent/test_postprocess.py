"""Given model scores, when turned into verdicts and states, then thresholds from the manifest decide."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.contracts import Manifest
from edge_agent.errors import InferenceError
from edge_agent.pipelines.postprocess import UNCERTAIN_STATE, health_assessments, inspection_verdicts
from tests.builders import tiny_trained

LABELS = ["ok", "scratch", "pit", "crack", "stain"]


def _manifest(task: str, labels: list[str], negative: str, **thresholds: float) -> Manifest:
    trained = tiny_trained()
    return Manifest(
        name="m",
        version="1.0.0",
        task=task,
        runtime="onnx",
        file="m.onnx",
        sha256="0" * 64,
        size=1,
        files={"selftest.npz": "0" * 64},
        input=trained.input,
        output=trained.output.model_copy(update={"labels": labels, "negative_label": negative}),
        thresholds=trained.thresholds.model_copy(update=thresholds),
        min_agent_version="0.1.0",
        created="2026-01-01T00:00:00+00:00",
    )


def test_a_part_is_ng_once_the_defect_probability_reaches_the_threshold() -> None:
    manifest = _manifest("quality_inspection", LABELS, "ok", ng_score=0.3)
    probs = np.array([[0.75, 0.05, 0.1, 0.05, 0.05], [0.65, 0.05, 0.25, 0.03, 0.02]], np.float32)
    first, second = inspection_verdicts(probs, manifest)
    assert (first.verdict, first.label) == ("ok", "ok")
    assert (second.verdict, second.label) == ("ng", "pit")
    assert second.scores["pit"] == pytest.approx(0.25)


def test_scores_with_nan_or_the_wrong_width_are_an_inference_error() -> None:
    manifest = _manifest("quality_inspection", LABELS, "ok", ng_score=0.3)
    with pytest.raises(InferenceError, match="NaN"):
        inspection_verdicts(np.full((1, 5), np.nan, np.float32), manifest)
    with pytest.raises(InferenceError, match="shape"):
        inspection_verdicts(np.ones((1, 3), np.float32), manifest)


def test_an_anomalous_window_is_unknown_rather_than_a_confident_wrong_state() -> None:
    labels = ["healthy", "outer_race", "inner_race"]
    manifest = _manifest("predictive_maintenance", labels, "healthy", anomaly=5.0)
    probs = np.array([[0.9, 0.05, 0.05], [0.02, 0.97, 0.01]], np.float32)
    normal, strange = health_assessments(probs, np.array([[1.0], [20.0]], np.float32), manifest)
    assert (normal.state, normal.anomaly, normal.health_index) == ("healthy", False, pytest.approx(0.9))
    assert (strange.state, strange.closest_state, strange.anomaly) == ("unknown", "outer_race", True)
    assert strange.health_index < 0.01


def test_given_a_top_probability_below_uncertain_below_then_the_state_is_uncertain_with_the_top_two() -> None:
    labels = ["healthy", "outer_race", "imbalance"]
    manifest = _manifest("predictive_maintenance", labels, "healthy", anomaly=5.0, uncertain_below=0.6)
    probs = np.array([[0.45, 0.15, 0.4], [0.1, 0.85, 0.05]], np.float32)
    unsure, sure = health_assessments(probs, np.array([[1.0], [1.0]], np.float32), manifest)
    assert (unsure.state, unsure.closest_state, unsure.top2, unsure.anomaly) == (
        UNCERTAIN_STATE,
        "healthy",
        ("healthy", "imbalance"),
        False,
    )
    assert (sure.state, sure.top2) == ("outer_race", ("outer_race", "healthy"))


def test_given_an_anomalous_unsure_window_then_unknown_wins_over_uncertain() -> None:
    labels = ["healthy", "outer_race", "imbalance"]
    manifest = _manifest("predictive_maintenance", labels, "healthy", anomaly=5.0, uncertain_below=0.6)
    (result,) = health_assessments(np.array([[0.4, 0.35, 0.25]], np.float32), np.array([9.0], np.float32), manifest)
    assert (result.state, result.closest_state, result.anomaly) == ("unknown", "healthy", True)


def test_given_a_manifest_without_uncertain_below_then_low_confidence_keeps_the_top_class() -> None:
    labels = ["healthy", "outer_race", "imbalance"]
    manifest = _manifest("predictive_maintenance", labels, "healthy", anomaly=5.0)
    assert manifest.thresholds.uncertain_below is None
    assert "uncertain_below" not in manifest.model_dump(exclude_defaults=True)["thresholds"]
    (result,) = health_assessments(np.array([[0.34, 0.33, 0.33]], np.float32), np.array([1.0], np.float32), manifest)
    assert (result.state, result.closest_state, result.top2) == ("healthy", "healthy", ("healthy", "outer_race"))
