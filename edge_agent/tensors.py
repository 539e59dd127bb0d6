"""Affine (de)quantization of tensors per the manifest's quantization parameters."""

from __future__ import annotations

import numpy as np

from edge_agent.contracts import Quantization
from edge_agent.errors import ModelPackageError


def quantize(values: np.ndarray, dtype: str, quantization: Quantization | None) -> np.ndarray:
    """Map real values to the model's input dtype (affine quantization for integer inputs)."""
    if dtype == "float32":
        return values.astype(np.float32, copy=False)
    if quantization is None:
        raise ModelPackageError(f"input dtype {dtype} needs a quantization scale and zero point")
    info = np.iinfo(np.uint8 if dtype == "uint8" else np.int8)
    q = np.rint(values / quantization.scale) + quantization.zero_point
    return np.clip(q, info.min, info.max).astype(info.dtype)


def dequantize(values: np.ndarray, quantization: Quantization | None) -> np.ndarray:
    """Real values of a (possibly quantized) output tensor."""
    if quantization is None:
        return values.astype(np.float32, copy=False)
    return (values.astype(np.float32) - quantization.zero_point) * np.float32(quantization.scale)
