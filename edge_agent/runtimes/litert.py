"""LiteRT (TFLite) adapter; falls back to tflite_runtime on older gateways."""

from __future__ import annotations

import logging
import queue
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.errors import InferenceError, RuntimeLoadError
from edge_agent.runtimes.base import RuntimeOptions, TensorInfo

log = logging.getLogger(__name__)


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as exc:
            raise RuntimeLoadError(
                "no LiteRT runtime: install ai-edge-litert (or tflite-runtime on numpy<2 gateways)"
            ) from exc
    return Interpreter


def _tensor_info(detail: dict[str, Any]) -> TensorInfo:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    signature = detail.get("shape_signature", detail["shape"])
    return TensorInfo(
        name=str(detail["name"]),
        shape=tuple(int(d) for d in signature),
        dtype=np.dtype(detail["dtype"]).name,
        scale=float(scale) if scale else None,
        zero_point=int(zero_point) if scale else None,
    )


class LiteRTRuntime:
    """`options.parallel` LiteRT interpreters of one model; a call borrows a free one, since an interpreter is
    not thread-safe: as many inferences run at once as there are interpreters (1 serialises every call)."""

    def __init__(self, model_path: Path, options: RuntimeOptions) -> None:
        interpreter_class = _interpreter_class()
        interpreters = []
        try:
            for _ in range(options.parallel):
                interpreter = interpreter_class(model_path=str(model_path), num_threads=options.num_threads)
                interpreter.allocate_tensors()
                interpreters.append(interpreter)
        except (ValueError, RuntimeError) as exc:
            raise RuntimeLoadError(f"{model_path}: LiteRT cannot load the model ({exc})") from exc
        first = interpreters[0]
        input_details = first.get_input_details()
        if len(input_details) != 1:
            raise RuntimeLoadError(f"{model_path}: model has {len(input_details)} inputs; expected 1")
        self._input = input_details[0]
        self._outputs = first.get_output_details()
        self._inputs_info = [_tensor_info(self._input)]
        self._outputs_info = [_tensor_info(d) for d in self._outputs]
        self._dynamic_batch = self._inputs_info[0].shape[0] == -1
        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for interpreter in interpreters:
            self._free.put(interpreter)
        self._count = len(interpreters)
        self._closed = False

    @property
    def inputs(self) -> list[TensorInfo]:
        """The model's input tensor."""
        return self._inputs_info

    @property
    def outputs(self) -> list[TensorInfo]:
        """The model's output tensors."""
        return self._outputs_info

    def _invoke(self, interpreter: Any, batch: np.ndarray) -> list[np.ndarray]:
        if tuple(interpreter.get_input_details()[0]["shape"]) != batch.shape:
            interpreter.resize_tensor_input(self._input["index"], list(batch.shape))
            interpreter.allocate_tensors()
        interpreter.set_tensor(self._input["index"], batch)
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]).copy() for d in self._outputs]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run a batch; models with a fixed batch of 1 are run item by item."""
        batch = np.ascontiguousarray(batch)
        interpreter = self._free.get()
        try:
            if interpreter is None:
                raise InferenceError("LiteRT runtime is closed")
            if self._dynamic_batch or batch.shape[0] == 1:
                return self._invoke(interpreter, batch)
            parts = [self._invoke(interpreter, batch[i : i + 1]) for i in range(batch.shape[0])]
        except (ValueError, RuntimeError) as exc:
            raise InferenceError(f"LiteRT invoke failed: {exc}") from exc
        finally:
            self._free.put(interpreter)
        return [np.concatenate([p[k] for p in parts]) for k in range(len(self._outputs))]

    def close(self) -> None:
        """Drop the interpreters once the calls in flight have returned them."""
        if self._closed:
            return
        self._closed = True
        for _ in range(self._count):
            self._free.get()
        for _ in range(self._count):
            self._free.put(None)  # a late caller gets a clear error instead of waiting for ever
