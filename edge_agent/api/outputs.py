"""What a served model takes and returns: its raw tensors from the manifest, its encoded input, named results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_agent.api.tensors import BYTES, NUMPY_TO_DATATYPE, Tensor
from edge_agent.contracts import Manifest
from edge_agent.pipelines.postprocess import health_assessments, inspection_verdicts, mean_over_views
from edge_agent.tensors import dequantize

# the encoded input of each task: the bytes MQTT would carry, through the same pre-processing
ENCODED_INPUT = {"quality_inspection": "image_bytes", "predictive_maintenance": "vibration_message"}


@dataclass(frozen=True)
class TensorSpec:
    """Name, datatype and shape (-1 dynamic) of a tensor in model metadata."""

    name: str
    datatype: str
    shape: list[int]

    def as_dict(self) -> dict[str, Any]:
        """The metadata JSON object."""
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}


def _datatype(dtype: str) -> str:
    return NUMPY_TO_DATATYPE[np.dtype(dtype).name]


def raw_input(manifest: Manifest) -> TensorSpec:
    """The model's own input tensor."""
    spec = manifest.input
    return TensorSpec(spec.name, _datatype(spec.dtype), list(spec.shape))


def encoded_input(manifest: Manifest) -> TensorSpec:
    """A BYTES tensor of JPEG/PNG files or vibration message JSON documents, one per item."""
    return TensorSpec(ENCODED_INPUT[manifest.task], BYTES, [-1])


def derived_outputs(manifest: Manifest) -> list[TensorSpec]:
    """The result fields MQTT publishes, as tensors with one row per item."""
    labels = len(manifest.output.labels)
    if manifest.task == "quality_inspection":
        return [
            TensorSpec("verdict", BYTES, [-1]),
            TensorSpec("label", BYTES, [-1]),
            TensorSpec("scores", "FP32", [-1, labels]),
            TensorSpec("margin", "FP32", [-1]),
        ]
    return [
        TensorSpec("state", BYTES, [-1]),
        TensorSpec("closest_state", BYTES, [-1]),
        TensorSpec("scores", "FP32", [-1, labels]),
        TensorSpec("anomaly_score", "FP32", [-1]),
        TensorSpec("anomaly", "BOOL", [-1]),
        TensorSpec("health_index", "FP32", [-1]),
    ]


def model_outputs(manifest: Manifest) -> list[TensorSpec]:
    """The model's own output tensors whose names no result field takes."""
    taken = {spec.name for spec in derived_outputs(manifest)}
    return [
        TensorSpec(t.name, _datatype(t.dtype), list(t.shape)) for t in manifest.output.tensors if t.name not in taken
    ]


def all_outputs(manifest: Manifest) -> list[TensorSpec]:
    """Every output a request may ask for: result fields first, then the model's tensors."""
    return derived_outputs(manifest) + model_outputs(manifest)


def _strings(values: list[str]) -> list[bytes]:
    return [v.encode() for v in values]


def _result_fields(
    manifest: Manifest, raw: list[np.ndarray], views: int
) -> dict[str, Callable[[], np.ndarray | list[bytes]]]:
    real = [dequantize(out, spec.quantization) for out, spec in zip(raw, manifest.output.tensors)]
    probs_index = manifest.tensor_for("class_probabilities")
    assert probs_index is not None  # the manifest schema guarantees one
    probs = mean_over_views(real[probs_index[0]], views)
    labels = manifest.output.labels
    if manifest.task == "quality_inspection":
        verdicts = inspection_verdicts(probs, manifest)
        return {
            "verdict": lambda: _strings([v.verdict for v in verdicts]),
            "label": lambda: _strings([v.label for v in verdicts]),
            "scores": lambda: np.array([[v.scores[k] for k in labels] for v in verdicts], np.float32),
            "margin": lambda: np.array([v.margin for v in verdicts], np.float32),
        }
    anomaly_index = manifest.tensor_for("anomaly_score")
    anomaly = real[anomaly_index[0]] if anomaly_index else None
    health = health_assessments(probs, anomaly, manifest)
    return {
        "state": lambda: _strings([h.state for h in health]),
        "closest_state": lambda: _strings([h.closest_state for h in health]),
        "scores": lambda: np.array([[h.scores[k] for k in labels] for h in health], np.float32),
        "anomaly_score": lambda: np.array([h.anomaly_score for h in health], np.float32),
        "anomaly": lambda: np.array([h.anomaly for h in health], np.bool_),
        "health_index": lambda: np.array([h.health_index for h in health], np.float32),
    }


def build_outputs(manifest: Manifest, raw: list[np.ndarray], names: list[str], views: int = 1) -> list[Tensor]:
    """The requested outputs from the model's raw outputs for a request's rows (post-processed like MQTT).

    With test-time views the model ran `views` consecutive rows per item: result fields average them like the
    MQTT path does, the model's own tensors are its outputs on the items as sent (the first view).
    """
    specs = {spec.name: spec for spec in all_outputs(manifest)}
    tensors_by_name = {t.name: out[::views] for t, out in zip(manifest.output.tensors, raw)}
    fields = _result_fields(manifest, raw, views) if any(n in _derived_names(manifest) for n in names) else {}
    result = []
    for name in names:
        spec = specs[name]
        data: np.ndarray | list[bytes] = fields[name]() if name in fields else tensors_by_name[name]
        shape = [len(data)] if isinstance(data, list) else list(data.shape)
        result.append(Tensor(name, spec.datatype, shape, data))
    return result


def _derived_names(manifest: Manifest) -> set[str]:
    return {spec.name for spec in derived_outputs(manifest)}


def default_outputs(manifest: Manifest, encoded: bool) -> list[str]:
    """Outputs sent when a request names none: result fields for encoded inputs, model tensors for raw ones."""
    if encoded:
        return [spec.name for spec in derived_outputs(manifest)]
    derived = _derived_names(manifest)
    return [t.name for t in manifest.output.tensors if t.name not in derived] + [
        t.name for t in manifest.output.tensors if t.name in derived
    ]
