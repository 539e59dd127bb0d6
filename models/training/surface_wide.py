"""Training surfaces over the widened nuisance domain: many textures, lighting fields, capture pipelines.

The surface generator in ``surfaces.py`` renders the DESIGN §10 world with one brushed texture and a
linear light ramp; this module keeps its defect geometry conventions but randomises everything the spec
calls benign a margin past its ranges (textures, lighting, mean grey, noise, blur, resampling, colour,
JPEG/PNG), adds hard negatives (streaks, specks, grains, faint blotches) to frames of every class, and
draws defects from ``surface_defect_shapes``. Frames come back decoded exactly as the gateway decodes them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge_agent.ingest.images import decode_image
from models.training.surface_defect_shapes import WIDE_DEFECTS, WIDE_RENDERERS
from models.training.surface_defects import REF_WIDTH, DefectSpec
from models.training.surface_textures import hard_negatives, illumination, texture, waviness

# how a camera (or the software in front of it) brought the frame to its size
_RESAMPLERS = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST)
WIDE_RANGES: dict[str, tuple[float, float]] = {
    "mean_grey": (65.0, 195.0),
    "light_peak": (0.0, 0.3),
    "texture_sigma": (0.8, 10.0),
    "waviness_sigma": (0.0, 4.5),
    "noise_sigma": (0.0, 8.0),
    "blur_sigma_at_256": (0.0, 1.4),
    "jpeg_quality": (60.0, 97.0),
}
PNG_SHARE = 0.2
COLOUR_SHARE = 0.3
RESAMPLE_SHARE = 0.3
WAVINESS_SHARE = 0.6
RENDER_MAX_PX = 512


def _encode(rng: np.random.Generator, raw: np.ndarray) -> tuple[bytes, str]:
    """JPEG at a random quality (sometimes twice, as a re-saving pipeline does) or lossless PNG."""
    if rng.random() < PNG_SHARE:
        ok, buf = cv2.imencode(".png", raw, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        return buf.tobytes(), "png"
    lo, hi = WIDE_RANGES["jpeg_quality"]
    quality = int(rng.integers(int(lo), int(hi) + 1))
    if rng.random() < 0.1:
        ok, buf = cv2.imencode(".jpg", raw, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 98))])
        raw = np.asarray(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), np.uint8)
    ok, buf = cv2.imencode(".jpg", raw, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes(), f"jpeg{quality}"


def generate_wide(
    rng: np.random.Generator, label: str, height: int, width: int, defects: DefectSpec = WIDE_DEFECTS
) -> tuple[np.ndarray, np.ndarray, dict[str, float | str]]:
    """One frame of class ``label`` as the gateway decodes it (grey or BGR uint8), its defect mask, params."""
    # render larger and resample down some of the time: the sensor and the delivered frame differ
    factor = float(rng.uniform(1.1, 1.8)) if rng.random() < RESAMPLE_SHARE and width * height <= 800 * 800 else 1.0
    # a frame far larger than the 256 px model input is rendered at RENDER_MAX_PX and brought up to size
    # (noise and compression still act on native pixels): 4x faster, the same after the gateway's area resize
    factor = min(factor, RENDER_MAX_PX / max(height, width)) if max(height, width) > RENDER_MAX_PX else factor
    rh, rw = round(height * factor), round(width * factor)
    scale = rw / REF_WIDTH
    p: dict[str, float | str] = {
        "mean_grey": float(rng.uniform(*WIDE_RANGES["mean_grey"])),
        "light_peak": float(rng.uniform(*WIDE_RANGES["light_peak"])),
        "texture_sigma": float(rng.uniform(*WIDE_RANGES["texture_sigma"])),
        "noise_sigma": float(rng.uniform(*WIDE_RANGES["noise_sigma"])),
        "blur_px": float(rng.uniform(*WIDE_RANGES["blur_sigma_at_256"])) * scale,
        "resample": factor,
    }
    tex, p["texture"] = texture(rng, rh, rw)
    scene: np.ndarray = np.float32(p["mean_grey"]) + np.float32(p["texture_sigma"]) * tex
    if rng.random() < WAVINESS_SHARE:
        p["waviness_sigma"] = float(rng.uniform(*WIDE_RANGES["waviness_sigma"]))
        scene += np.float32(p["waviness_sigma"]) * waviness(rng, rh, rw)
    nuisance, kinds = hard_negatives(rng, rh, rw, "brush" in str(p["texture"]))
    p["hard_negatives"] = "+".join(kinds) or "none"
    scene += nuisance
    mask: np.ndarray = np.zeros((rh, rw), bool)
    if label != "ok":
        delta, mask = WIDE_RENDERERS[label](rng, rh, rw, 0.0, p, defects)
        scene += delta
    # the light falls on the part, defects included (a stain in shadow is fainter in grey levels)
    scene *= illumination(rng, rh, rw, float(p["light_peak"]))
    if float(p["blur_px"]) > 0.05:
        scene = cv2.GaussianBlur(scene, (0, 0), sigmaX=float(p["blur_px"]))
    if factor != 1.0:
        shrink = factor > 1.0
        method = _RESAMPLERS[int(rng.integers(len(_RESAMPLERS)))] if shrink else cv2.INTER_LINEAR
        scene = cv2.resize(scene, (width, height), interpolation=method)
        mask = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
    colour = rng.random() < COLOUR_SHARE
    sigma = np.float32(p["noise_sigma"])
    if colour:
        # a colour camera: slightly tinted channels, each with its own noise; the gateway converts to grey
        gains = rng.uniform(0.88, 1.12, 3).astype(np.float32)
        noise = rng.standard_normal((height, width, 3), dtype=np.float32)
        frame = scene[:, :, None] * gains + sigma * noise
    else:
        # shot noise grows with brightness; read noise does not
        shot = np.sqrt(np.clip(scene, 1, 255) / 128.0).astype(np.float32) if rng.random() < 0.5 else np.float32(1)
        frame = scene + sigma * shot * rng.standard_normal((height, width), dtype=np.float32)
    raw = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    data, p["encoding"] = _encode(rng, raw)
    p["colour"] = "yes" if colour else "no"
    return decode_image(data), mask, p


def wide_size(rng: np.random.Generator, widths: tuple[int, int], aspect: tuple[float, float]) -> tuple[int, int]:
    """(height, width): log-uniform width, log-uniform aspect, both sides >= 128 px."""
    width = int(math.exp(rng.uniform(math.log(widths[0]), math.log(widths[1] + 1))))
    height = round(width * math.exp(rng.uniform(math.log(aspect[0]), math.log(aspect[1]))))
    return max(128, height), max(128, min(width, widths[1]))
