"""Clean-room evaluation images for quality inspection, written from DESIGN.md section 10 alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from models.evaluation.surface_defects import Stamp, crack, pit, scratch, stain
from models.evaluation.surface_textures import DIRECTIONAL, background

CLASSES: tuple[str, ...] = ("ok", "scratch", "pit", "crack", "stain")
SIZES: tuple[int, ...] = (128, 192, 256, 384, 512, 768, 1024)
MAX_NOISE_SIGMA = 6.0
PIPELINES: tuple[str, ...] = ("grey", "colour_to_grey", "colour_bgr")
_SAMPLING = {
    "420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
}


@dataclass(frozen=True)
class EvalImage:
    """One encoded evaluation image with its ground-truth label and generation parameters."""

    label: str
    encoded: bytes
    width: int
    height: int
    params: dict[str, Any]


def _r(x: float) -> float:
    return round(float(x), 4)


def _to_u8(a: np.ndarray) -> np.ndarray:
    """Round and saturate to uint8 in one C pass (numpy needs three)."""
    return np.asarray(cv2.add(a, 0.0, dtype=cv2.CV_8U))


def _defect(rng: np.random.Generator, label: str, h: int, w: int, bg: dict[str, Any]) -> Stamp:
    grain = bg["texture_params"].get("grain_angle_deg") if bg["texture"] in DIRECTIONAL else None
    makers: dict[str, Callable[[], Stamp]] = {
        "scratch": lambda: scratch(rng, h, w, grain),
        "pit": lambda: pit(rng, h, w),
        "crack": lambda: crack(rng, h, w),
        "stain": lambda: stain(rng, h, w),
    }
    return makers[label]()


def _camera(rng: np.random.Generator, grey: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Sensor noise (read + shot, sigma <= 6 everywhere), optional colour capture, quantisation to uint8."""
    pipeline = PIPELINES[int(rng.choice(3, p=[0.4, 0.25, 0.35]))]
    read = float(rng.uniform(0.5, 3.5))
    shot = float(rng.uniform(0.0, 1.0)) * (MAX_NOISE_SIGMA**2 - read**2) / 255.0
    sigma = np.sqrt(np.maximum(grey, 0.0) * shot + read**2)
    params: dict[str, Any] = {"pipeline": pipeline, "read_noise": _r(read), "shot_gain": _r(shot)}
    if pipeline == "grey":
        out = grey + sigma * rng.standard_normal(grey.shape, dtype=np.float32)
        return _to_u8(out), params
    # Colour sensor under slightly tinted light. Demosaicing leaves chroma noise blotchy (half resolution)
    # while luma noise stays per-pixel.
    gains = rng.uniform(0.95, 1.05, 3)
    gains /= float(np.dot(gains[::-1], [0.299, 0.587, 0.114]))  # keep luma, so the exposure stays in range
    h, w = grey.shape
    luma = grey + sigma * rng.standard_normal((h, w), dtype=np.float32)
    chroma = rng.standard_normal((2, (h + 1) // 2, (w + 1) // 2), dtype=np.float32) * float(rng.uniform(0.5, 2.5))
    cb, cr = (cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in chroma)
    # Luma-neutral chroma offsets: 0.299 r + 0.587 g + 0.114 b stays unchanged.
    chans = [
        luma * float(gains[0]) + cb,
        luma * float(gains[1]) - (0.114 * cb + 0.299 * cr) / 0.587,
        luma * float(gains[2]) + cr,
    ]
    bgr = _to_u8(cv2.merge(chans))
    params["channel_gains_bgr"] = [_r(g) for g in gains]
    if pipeline == "colour_to_grey":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), params
    return bgr, params


def _encoding(rng: np.random.Generator, colour: bool) -> dict[str, Any]:
    if rng.random() < 0.12:
        return {"format": "png", "compression": int(rng.integers(1, 9))}
    enc: dict[str, Any] = {"format": "jpeg", "quality": int(rng.integers(70, 96))}
    enc["optimize"] = bool(rng.random() < 0.5)
    enc["progressive"] = bool(rng.random() < 0.2)
    if colour:
        enc["sampling"] = str(rng.choice(list(_SAMPLING), p=[0.6, 0.25, 0.15]))
    return enc


def encode(image: np.ndarray, enc: dict[str, Any]) -> bytes:
    """Encode as the camera would publish: PNG, or JPEG with the recorded quality, flags and chroma subsampling."""
    if enc["format"] == "png":
        ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, enc["compression"]])
    else:
        flags = [cv2.IMWRITE_JPEG_QUALITY, enc["quality"], cv2.IMWRITE_JPEG_OPTIMIZE, int(enc["optimize"])]
        flags += [cv2.IMWRITE_JPEG_PROGRESSIVE, int(enc["progressive"])]
        if "sampling" in enc:
            flags += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _SAMPLING[enc["sampling"]]]
        ok, buf = cv2.imencode(".jpg", image, flags)
    if not ok:
        raise RuntimeError(f"cv2 could not encode {enc}")
    return buf.tobytes()


def render(rng: np.random.Generator, label: str, width: int, height: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The uint8 image before encoding (grey HxW or BGR HxWx3) and its generation parameters.

    Background, defect and camera draw from separate child streams, so the same rng state gives the same
    part and noise for every label: a defect image differs from its `ok` twin only inside params["defect"]["bbox"].
    """
    if label not in CLASSES:
        raise ValueError(f"unknown label {label!r}; expected one of {CLASSES}")
    if min(width, height) < 16:
        raise ValueError("image too small")
    bg_rng, defect_rng, cam_rng = (np.random.default_rng(int(s)) for s in rng.integers(0, 2**62, size=3))
    grey, bg_params = background(bg_rng, height, width)
    defect: dict[str, Any] | None = None
    if label != "ok":
        st = _defect(defect_rng, label, height, width, bg_params)
        # a stain or pit sized from the width can outgrow a wide frame's height: what is off the part is cut
        dh, dw = min(st.delta.shape[0], height - st.y0), min(st.delta.shape[1], width - st.x0)
        grey[st.y0 : st.y0 + dh, st.x0 : st.x0 + dw] += st.delta[:dh, :dw]
        defect = {"kind": label, "bbox": [st.x0, st.y0, st.x0 + dw, st.y0 + dh], **st.params}
    image, cam_params = _camera(cam_rng, grey)
    cam_params["encoding"] = _encoding(cam_rng, image.ndim == 3)
    params = {
        "label": label,
        "ng": label != "ok",
        "width": width,
        "height": height,
        **bg_params,
        "camera": cam_params,
        "defect": defect,
    }
    return image, params


def _shape(rng: np.random.Generator, size: int) -> tuple[int, int]:
    """Mostly square; a quarter of frames are up to 4:3 either way, never under 128 px on the short side."""
    if rng.random() >= 0.25:
        return size, size
    ratio = float(rng.uniform(1.1, 4 / 3))
    tall = rng.random() < 0.5 or size / ratio < min(128, size)
    other = round(size * ratio) if tall else round(size / ratio)
    return size, int(other)


def images(seed: int, n_per_class: int, sizes: Sequence[int] = SIZES) -> list[EvalImage]:
    """n_per_class encoded images of every class, cycling through `sizes` (the width); deterministic per seed."""
    out: list[EvalImage] = []
    for ci, label in enumerate(CLASSES):
        for i in range(n_per_class):
            width, height = _shape(np.random.default_rng([seed, 1, ci, i]), sizes[i % len(sizes)])
            image, params = render(np.random.default_rng([seed, 0, ci, i]), label, width, height)
            params["index"] = i
            out.append(EvalImage(label, encode(image, params["camera"]["encoding"]), width, height, params))
    return out
