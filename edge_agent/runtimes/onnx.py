"""ONNX Runtime adapter (CPU execution provider)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.errors import InferenceError, RuntimeLoadError
from edge_agent.runtimes.base import RuntimeOptions, TensorInfo

log = logging.getLogger(__name__)

_DTYPES = {
    "tensor(float)": "float32",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int64)": "int64",
}


def _tensor_info(node: Any) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) else -1 for d in node.shape)
    return TensorInfo(name=node.name, shape=shape, dtype=_DTYPES.get(node.type, node.type))


class OnnxRuntime:
    """One ONNX Runtime session; Session.run is thread-safe and releases the GIL."""

    def __init__(self, model_path: Path, options: RuntimeOptions) -> None:
        import onnxruntime as ort

        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = options.num_threads
        session_options.inter_op_num_threads = 1
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session_options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(model_path), sess_options=session_options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
            raise RuntimeLoadError(f"{model_path}: ONNX Runtime cannot load the model ({exc})") from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise RuntimeLoadError(f"{model_path}: model has {len(inputs)} inputs; expected 1")
        self._input_name = inputs[0].name
        self._inputs_info = [_tensor_info(inputs[0])]
        self._outputs_info = [_tensor_info(o) for o in self._session.get_outputs()]
        self._output_names = [o.name for o in self._outputs_info]

    @property
    def inputs(self) -> list[TensorInfo]:
        """The model's input tensor."""
        return self._inputs_info

    @property
    def outputs(self) -> list[TensorInfo]:
        """The model's output tensors."""
        return self._outputs_info

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run a batch through the session."""
        try:
            outputs = self._session.run(self._output_names, {self._input_name: batch})
        except Exception as exc:  # translate ORT's untyped errors at the boundary
            raise InferenceError(f"ONNX Runtime run failed: {exc}") from exc
        return [np.asarray(o) for o in outputs]

    def close(self) -> None:
        """Drop the session."""
        del self._session
