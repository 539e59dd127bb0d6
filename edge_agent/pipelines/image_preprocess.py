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


def _undone_by_quantization(step: ScaleStep, spec: InputSpec) -> bool:
    """True when quantizing (v * factor + offset) to the model's uint8 input gives v back for every 8-bit v:
    factor equal to the input scale (a float32 copy of it included), no offset, zero point 0. The shipped
    LiteRT models are such: 1/255 then quantized at 1/255."""
    q = spec.quantization
    return (
        spec.dtype == "uint8"
        and q is not None
        and q.zero_point == 0
        and step.offset == 0.0
        # 255 * relative error must stay far below half a step for rint to land on v; 1e-6 leaves 2,000x
        and abs(step.factor / q.scale - 1.0) < 1e-6
    )


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
    # The last step's scale that quantization would undo is skipped with it: no float pass over the image
    # (~0.35 ms per 256x256 frame), bit-identical input.
    # Only grayscale and resize may come before it, so the image is still 8-bit when it would be scaled.
    steps = spec.preprocessing
    skip_scale = (
        bool(steps)
        and isinstance(steps[-1], ScaleStep)
        and _undone_by_quantization(steps[-1], spec)
        and not any(isinstance(step, ScaleStep) for step in steps[:-1])
    )
    for step in steps[:-1] if skip_scale else steps:
        if isinstance(step, GrayscaleStep):
            values = to_gray(values)
        elif isinstance(step, ResizeStep):
            if values.shape[0] != step.height or values.shape[1] != step.width:
                values = cv2.resize(values, (step.width, step.height), interpolation=_INTERPOLATION[step.interpolation])
        elif isinstance(step, ScaleStep):
            values = values.astype(np.float32) * np.float32(step.factor) + np.float32(step.offset)
        else:
            raise ModelPackageError(f"preprocessing step {step.op!r} does not apply to images")
    if not skip_scale:
        values = values.astype(np.float32, copy=False)
    if values.ndim == 2:
        values = values[:, :, None]
    if spec.layout == "NCHW":
        values = np.transpose(values, (2, 0, 1))
    expected = tuple(spec.shape[1:])
    if any(e not in (-1, a) for e, a in zip(expected, values.shape, strict=False)) or len(expected) != values.ndim:
        raise InputShapeError(f"preprocessed image has shape {values.shape}; the model expects {expected}")
    if skip_scale:
        return np.ascontiguousarray(values)
    return quantize(values, spec.dtype, spec.quantization)


# Orders of the 8 dihedral transforms (swap H/W, flip H, flip W): the first 2, 4 and 8 are each a group, so a
# view count of 2 or 4 averages over transforms that map the set onto itself (no direction is favoured).
_DIHEDRAL = (
    (False, False, False),
    (True, False, False),
    (False, True, True),
    (True, True, True),
    (False, True, False),
    (False, False, True),
    (True, True, False),
    (True, False, True),
)


def dihedral_views(item: np.ndarray, count: int) -> list[np.ndarray]:
    """The first `count` dihedral transforms of one square HxWxC model input item (the first is the item)."""
    if item.ndim != 3 or item.shape[0] != item.shape[1]:
        raise InputShapeError(f"dihedral views need a square HxWxC item; got shape {item.shape}")
    views = []
    for swap, flip_h, flip_w in _DIHEDRAL[:count]:
        view = item.transpose(1, 0, 2) if swap else item
        view = view[::-1] if flip_h else view
        view = view[:, ::-1] if flip_w else view
        views.append(view)
    return views
