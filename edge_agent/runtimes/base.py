"""The InferenceRuntime protocol every runtime adapter implements, and its options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class TensorInfo:
    """Name, shape (-1 for dynamic), dtype and quantization of one model tensor."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


class RuntimeOptions(BaseModel):
    """Runtime settings shared by every adapter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_threads: int = Field(default=1, ge=1, le=64, description="Threads one inference may use")
    parallel: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Inferences of one model that may run at once (LiteRT interpreters; an ONNX Runtime session "
        "is already concurrent); the agent matches it to its workers per pipeline",
    )


class InferenceRuntime(Protocol):
    """A loaded model that maps one input batch to its outputs; safe to call from many threads."""

    @property
    def inputs(self) -> list[TensorInfo]:
        """The model's input tensors."""
        ...

    @property
    def outputs(self) -> list[TensorInfo]:
        """The model's output tensors, in output order."""
        ...

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Outputs (batch axis first, raw dtype) for a batch of the model's single input."""
        ...

    def close(self) -> None:
        """Release the model's memory."""
        ...
