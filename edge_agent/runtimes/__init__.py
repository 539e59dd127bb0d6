"""Inference runtimes chosen by a type key; adapters import their heavy library lazily."""

from __future__ import annotations

from pathlib import Path

from edge_agent.errors import RuntimeLoadError
from edge_agent.runtimes.base import InferenceRuntime, RuntimeOptions, TensorInfo

__all__ = ["InferenceRuntime", "RuntimeOptions", "TensorInfo", "create_runtime"]


def create_runtime(kind: str, model_path: Path, options: RuntimeOptions) -> InferenceRuntime:
    """Load a model file with the adapter named by the manifest's `runtime` key."""
    if kind == "litert":
        from edge_agent.runtimes.litert import LiteRTRuntime

        return LiteRTRuntime(model_path, options)
    if kind == "onnx":
        from edge_agent.runtimes.onnx import OnnxRuntime

        return OnnxRuntime(model_path, options)
    raise RuntimeLoadError(f"unknown runtime {kind!r}; this agent has 'litert' and 'onnx'")
