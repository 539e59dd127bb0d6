"""Predictive maintenance: vibration window -> speed-normalised features -> state and anomaly score."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_agent.contracts import BearingFeaturesStep
from edge_agent.errors import ModelPackageError
from edge_agent.ingest.vibration import VibrationWindow
from edge_agent.loading import LoadedModel
from edge_agent.pipelines.postprocess import HealthAssessment, health_assessments
from edge_agent.pipelines.vibration_features import extract_features


@dataclass(frozen=True)
class HealthOutcome:
    """An assessment, the features it was made from, and the time it took."""

    result: HealthAssessment
    features: dict[str, float]
    latency_ms: float


class HealthMonitor:
    """Runs a maintenance model package on vibration windows; windows batch into one run."""

    def __init__(self, model: LoadedModel) -> None:
        manifest = model.manifest
        if manifest.task != "predictive_maintenance":
            raise ValueError(f"{model.package.ident} is a {manifest.task} model")
        steps = [s for s in manifest.input.preprocessing if isinstance(s, BearingFeaturesStep)]
        if len(steps) != 1 or len(manifest.input.preprocessing) != 1:
            raise ModelPackageError(f"{model.package.ident}: expected one bearing_features preprocessing step")
        self.model = model
        self.step = steps[0]
        probs = manifest.tensor_for("class_probabilities")
        assert probs is not None  # the manifest schema guarantees one
        self._probs_index = probs[0]
        anomaly = manifest.tensor_for("anomaly_score")
        self._anomaly_index = anomaly[0] if anomaly else None

    def prepare(self, window: VibrationWindow) -> np.ndarray:
        """Feature vector of one window (raises InputError on windows the features cannot use)."""
        return extract_features(window.samples, window.fs_hz, window.rpm, window.bearing, self.step)

    def infer(self, items: Sequence[np.ndarray]) -> list[HealthOutcome]:
        """Assessments for prepared feature vectors, run as one micro-batch."""
        started = time.perf_counter()
        batch = np.stack(items).astype(np.float32, copy=False)
        outputs = self.model.run(batch)
        anomaly = outputs[self._anomaly_index] if self._anomaly_index is not None else None
        assessments = health_assessments(outputs[self._probs_index], anomaly, self.model.manifest)
        latency = (time.perf_counter() - started) * 1000 / len(items)
        names = self.step.feature_names
        return [
            HealthOutcome(a, {n: round(float(v), 5) for n, v in zip(names, row)}, round(latency, 3))
            for a, row in zip(assessments, batch)
        ]

    def assess(self, window: VibrationWindow) -> HealthOutcome:
        """Assessment of one window; latency covers feature extraction and inference."""
        started = time.perf_counter()
        outcome = self.infer([self.prepare(window)])[0]
        return HealthOutcome(outcome.result, outcome.features, round((time.perf_counter() - started) * 1000, 3))
