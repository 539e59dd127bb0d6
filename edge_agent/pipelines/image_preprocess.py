"""Pure image preprocessing driven by a manifest's input spec."""

from __future__ import annotations

import numpy as np

from edge_agent.contracts import GrayscaleStep, InputSpec, ResizeStep, ScaleStep
from edge_agent.errors import InputShapeError, ModelPackageError
from edge_agent.tensors import quantize

_INTERPOLATION = {"area": 3, "linear": 1}  # cv2.INTER_AREA, cv2.INTER_LINEAR


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luma (BT.601) of an HxWx3 BGR image; a 2-D image is returned unchanged."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        bgr = image[:, :, :3].astype(np.float32)
        gray = 0.114 * bgr[:, :, 0] + 0.587 * bgr[:, :, 1] + 0.299 * bgr[:, :, 2]
        return np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    raise InputShapeError(f"image has shape {image.shape}; expected HxW, HxWx1, HxWx3 or HxWx4")


def preprocess_image(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Turn a decoded uint8 image into one model input item (no batch axis), per the manifest."""
    import cv2  # heavy import kept local: the module stays importable for type checks

    if image.dtype != np.uint8:
        raise InputShapeError(f"image pixels are {image.dtype}; expected 8-bit")
    if spec.min_image_px is not None and min(image.shape[:2]) < spec.min_image_px:
        raise InputShapeError(
            f"image is {image.shape[1]}x{image.shape[0]} px; the model needs at least "
            f"{spec.min_image_px} px on each side"
        )
    values: np.ndarray = image
    for step in spec.preprocessing:
        if isinstance(step, GrayscaleStep):
            values = to_gray(values)
        elif isinstance(step, ResizeStep):
            if values.shape[0] != step.height or values.shape[1] != step.width:
                values = cv2.resize(values, (step.width, step.height), interpolation=_INTERPOLATION[step.interpolation])
        elif isinstance(step, ScaleStep):
            values = values.astype(np.float32) * np.float32(step.factor) + np.float32(step.offset)
        else:
            raise ModelPackageError(f"preprocessing step {step.op!r} does not apply to images")
    values = values.astype(np.float32, copy=False)
    if values.ndim == 2:
        values = values[:, :, None]
    if spec.layout == "NCHW":
        values = np.transpose(values, (2, 0, 1))
    expected = tuple(spec.shape[1:])
    if any(e not in (-1, a) for e, a in zip(expected, values.shape, strict=False)) or len(expected) != values.ndim:
        raise InputShapeError(f"preprocessed image has shape {values.shape}; the model expects {expected}")
    return quantize(values, spec.dtype, spec.quantization)
