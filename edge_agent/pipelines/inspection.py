"""Visual quality inspection: decoded frame -> preprocess -> model -> ok/ng verdict."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_agent.loading import LoadedModel
from edge_agent.pipelines.image_preprocess import dihedral_views, preprocess_image
from edge_agent.pipelines.postprocess import InspectionVerdict, inspection_verdicts, mean_over_views


@dataclass(frozen=True)
class InspectionOutcome:
    """A verdict with the time the model step took."""

    result: InspectionVerdict
    latency_ms: float


class QualityInspector:
    """Runs an inspection model package on camera frames."""

    def __init__(self, model: LoadedModel) -> None:
        if model.manifest.task != "quality_inspection":
            raise ValueError(f"{model.package.ident} is a {model.manifest.task} model")
        self.model = model
        index = model.manifest.tensor_for("class_probabilities")
        assert index is not None  # the manifest schema guarantees one
        self._probs_index = index[0]

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """One model input item from a decoded image (raises InputShapeError on bad frames)."""
        return preprocess_image(image, self.model.manifest.input)

    def infer(self, items: Sequence[np.ndarray]) -> list[InspectionOutcome]:
        """Verdicts for prepared items, run as one batch (with the manifest's test-time views of each)."""
        started = time.perf_counter()
        views = self.model.manifest.input.test_time_views
        if views > 1:
            batch = np.stack([view for item in items for view in dihedral_views(item, views)])
        else:
            batch = np.stack(items)
        outputs = self.model.run(batch)
        probabilities = mean_over_views(outputs[self._probs_index], views)
        verdicts = inspection_verdicts(probabilities, self.model.manifest)
        latency = (time.perf_counter() - started) * 1000 / len(items)
        return [InspectionOutcome(v, round(latency, 3)) for v in verdicts]

    def inspect(self, image: np.ndarray) -> InspectionOutcome:
        """Verdict for one decoded image; latency covers preprocessing and inference."""
        started = time.perf_counter()
        outcome = self.infer([self.prepare(image)])[0]
        return InspectionOutcome(outcome.result, round((time.perf_counter() - started) * 1000, 3))
