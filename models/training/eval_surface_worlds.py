"""Both inspection packages through the agent's own decode and preprocessing, on images of both generators:
the training one (models/training/surfaces) and the clean-room one (models/evaluation/surface_world)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.app import build_pipeline
from edge_agent.ingest.images import decode_image
from edge_agent.pipelines.inspection import QualityInspector
from models.training.eval_inspection import TARGETS, agreement, inspection_metrics

SIZES = (128, 192, 256, 384, 512, 768, 1024)


@dataclass(frozen=True)
class LabelledImage:
    """An encoded camera frame with its true class and width."""

    label: str
    encoded: bytes
    width: int


def training_images(seed: int, n_per_class: int, sizes: Sequence[int] = SIZES) -> list[LabelledImage]:
    """Held-out frames of the training generator (other seeds than any training split)."""
    from models.training.surfaces import generate_batch

    return [
        LabelledImage(s.label, s.jpeg, int(s.image.shape[1]))
        for s in generate_batch(seed, n_per_class, sizes=tuple(sizes))
    ]


def cleanroom_images(seed: int, n_per_class: int, sizes: Sequence[int] = SIZES) -> list[LabelledImage]:
    """Frames of the clean-room generator, written from the task spec alone."""
    from models.evaluation.surface_world import images

    return [LabelledImage(s.label, s.encoded, s.width) for s in images(seed, n_per_class, sizes)]


def plant_images(seed: int, n_per_class: int, sizes: Sequence[int] = SIZES) -> list[LabelledImage]:
    """Frames of the second clean-room generator, written later from the spec alone by someone who had seen
    neither the training code nor the first clean-room generator (it keeps the first one's failures honest)."""
    from models.evaluation.plant_surfaces import images

    return [LabelledImage(s.label, s.encoded, s.width) for s in images(seed, n_per_class, sizes)]


def _meets(m: dict[str, Any]) -> dict[str, bool]:
    return {
        "balanced_accuracy>=0.98": m["balanced_accuracy"] >= TARGETS["balanced_accuracy"],
        "defect_recall>=0.99": m["defect_recall"] >= TARGETS["defect_recall"],
        "false_rejects<=0.02": m["false_reject_rate"] <= TARGETS["false_reject_rate"],
        "type_accuracy>=0.95": m["defect_type_accuracy"] >= TARGETS["defect_type_accuracy"],
    }


def _by_size(
    widths: np.ndarray, truth: list[str], probs: np.ndarray, ng_score: float, labels: list[str]
) -> dict[str, dict[str, float]]:
    """Recall, false rejects and type accuracy per frame width: where on the size range the errors are."""
    out = {}
    for width in sorted(set(widths.tolist())):
        pick = widths == width
        sub = inspection_metrics([t for t, k in zip(truth, pick, strict=True) if k], probs[pick], ng_score, labels)
        out[f"{width}px"] = {
            key: sub[key]
            for key in ("n", "balanced_accuracy", "defect_recall", "false_reject_rate", "defect_type_accuracy")
        }
    return out


def inspection_report(packages: dict[str, Path], keys: list[Path], samples: list[LabelledImage]) -> dict[str, Any]:
    """Every package on the same frames: overall, per class (confusion) and per size; verdict agreement."""
    truth = [s.label for s in samples]
    widths = np.array([s.width for s in samples])
    report: dict[str, Any] = {"n_images": len(samples), "sizes": sorted(set(widths.tolist()))}
    verdicts: dict[str, np.ndarray] = {}
    for name, package in packages.items():
        pipeline = build_pipeline(package, keys)
        assert isinstance(pipeline, QualityInspector)
        manifest = pipeline.model.manifest
        labels = manifest.output.labels
        probs, ng = [], []
        started = time.perf_counter()
        for sample in samples:
            outcome = pipeline.inspect(decode_image(sample.encoded))
            probs.append([outcome.result.scores[label] for label in labels])
            ng.append(outcome.result.verdict == "ng")
        elapsed = time.perf_counter() - started
        ng_score = manifest.thresholds.ng_score or 0.5
        metrics = inspection_metrics(truth, np.asarray(probs), ng_score, labels)
        metrics["by_size"] = _by_size(widths, truth, np.asarray(probs), ng_score, labels)
        metrics["every_size_meets"] = all(
            s["defect_recall"] >= TARGETS["defect_recall"] and s["false_reject_rate"] <= TARGETS["false_reject_rate"]
            for s in metrics["by_size"].values()
        )
        metrics["meets_targets"] = _meets(metrics)
        metrics["version"] = manifest.version
        metrics["ms_per_image_incl_decode"] = round(elapsed * 1000 / len(samples), 3)
        report[name] = metrics
        verdicts[name] = np.array(ng)
    names = list(packages)
    if len(names) == 2:
        report["verdict_agreement"] = agreement(verdicts[names[0]], verdicts[names[1]])
    return report
