"""Seeded generator of top-down brushed/machined metal surface images with labelled defects (DESIGN §10).

Geometry convention: a pixel (row i, column j) has its centre at (x=j, y=i). Every length that is
physical (defect sizes, streak lengths, optical blur, pose shift) is given at 256 px width and scales
with the image width, so a 512 px image shows the same part at twice the resolution. Sensor noise and
JPEG compression act on native pixels.

The surface, illumination, optics and noise are drawn from the generator *before* the label is
looked at, so the same ``rng`` state renders the same background for every label: rendering one seed
as ``ok`` and as ``scratch`` differs only by the defect.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from models.training.surface_defects import DEFECTS, REF_WIDTH, RENDERERS, DefectSpec, uniform

logger = logging.getLogger(__name__)

CLASSES: tuple[str, ...] = ("ok", "scratch", "pit", "crack", "stain")
MIN_SIZE_PX = 128


@dataclass(frozen=True)
class SurfaceDomain:
    """Ranges of benign variation (uniformly sampled), so a later issue can shift the domain."""

    mean_grey: tuple[float, float] = (80.0, 180.0)
    # peak relative illumination change of a linear ramp: the frame goes from (1-g) to (1+g)
    gradient: tuple[float, float] = (0.0, 0.25)
    noise_sigma: tuple[float, float] = (0.0, 6.0)
    # Gaussian optical blur sigma in px at 256 px width ("mild")
    blur_sigma: tuple[float, float] = (0.0, 1.0)
    jpeg_quality: tuple[int, int] = (70, 95)
    # pose of the part under the camera; shift in px at 256 px width
    max_shift_px: float = 8.0
    max_rotation_deg: float = 5.0
    # brushed texture: std of the streak pattern in grey levels, streak length as a fraction of width
    texture_sigma: tuple[float, float] = (1.5, 6.0)
    streak_length: tuple[float, float] = (0.08, 0.5)
    # across-streak smoothing in px at 256 px width (fine vs coarse brushing)
    streak_width: tuple[float, float] = (0.4, 1.5)


@dataclass
class SurfaceSample:
    """One rendered surface: final pixels, their JPEG bytes, label, defect mask and the drawn params."""

    image: np.ndarray  # uint8 HxW, the final pixels after the JPEG round trip
    jpeg: bytes  # the JPEG bytes of that image (what a camera publishes)
    label: str  # one of CLASSES
    mask: np.ndarray  # bool HxW, True where the defect is (all False for ok)
    params: dict[str, float | str]


def _check_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """Normalise ``size`` (int or (height, width)) and reject what the spec does not cover."""
    if isinstance(size, (int, np.integer)):
        height = width = int(size)
    else:
        if len(size) != 2:
            raise ValueError(f"size must be an int or (height, width), got {size!r}")
        height, width = int(size[0]), int(size[1])
    if min(height, width) < MIN_SIZE_PX:
        raise ValueError(f"size {height}x{width} is below the {MIN_SIZE_PX} px minimum of the spec")
    return height, width


def _std(values: np.ndarray) -> float:
    """Standard deviation estimated on a sub-grid (cheap; only used to normalise amplitudes)."""
    return float(values[::3, ::3].std()) + 1e-6


def _texture(
    rng: np.random.Generator, height: int, width: int, angle_deg: float, params: dict[str, float], margin: int
) -> np.ndarray:
    """Brushed texture: streaks along ``angle_deg``, sampled into the frame (zero mean, unit std)."""
    scale = width / REF_WIDTH
    side = math.ceil(math.hypot(height, width)) + 2 * margin + 4
    length = max(3.0, params["streak_length"] * width)
    # the canvas is coarse along the streaks (they are smooth there), full resolution across them
    step = max(1.0, length / 6.0)
    cols = math.ceil(side / step) + 2
    noise = rng.standard_normal((side, cols), dtype=np.float32)
    k = max(1, round(length / step))
    fine = cv2.blur(cv2.blur(noise, (k, 1)), (max(1, k // 2), 1))
    across = params["streak_width"] * scale
    fine = cv2.GaussianBlur(fine, (1, 2 * math.ceil(3 * across) + 1), sigmaX=0, sigmaY=across)
    # coarse bands from the brush pressure varying across the stroke
    band = max(1, round(6 * scale))
    coarse = cv2.blur(cv2.blur(fine, (3 * k, band)), (3 * k, band))
    tex = (fine / _std(fine) + 0.5 * coarse / _std(coarse)).astype(np.float32)
    phi = math.radians(angle_deg)
    c, s = math.cos(phi), math.sin(phi)
    ox = (width - 1) / 2.0 + params["shift_x_px"]
    oy = (height - 1) / 2.0 + params["shift_y_px"]
    cu, cv_ = (cols - 1) / 2.0, (side - 1) / 2.0
    # inverse map: output pixel -> (along / step, across) canvas coordinates
    inv = np.array([[c / step, s / step, cu - (c * ox + s * oy) / step], [-s, c, cv_ - (-s * ox + c * oy)]], np.float64)
    out = cv2.warpAffine(
        tex, inv, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101
    )
    return out / _std(out)


def _illumination(height: int, width: int, gain: float, angle_deg: float) -> np.ndarray:
    """Linear illumination ramp from (1-gain) to (1+gain) between the extreme points of the frame."""
    phi = math.radians(angle_deg)
    c, s = math.cos(phi), math.sin(phi)
    half_extent = (abs(c) * (width - 1) + abs(s) * (height - 1)) / 2.0
    x = (np.arange(width, dtype=np.float32) - (width - 1) / 2.0) * np.float32(c / half_extent)
    y = (np.arange(height, dtype=np.float32) - (height - 1) / 2.0) * np.float32(s / half_extent)
    return 1.0 + np.float32(gain) * (y[:, None] + x[None, :])


def generate_surface(
    rng: np.random.Generator,
    label: str,
    size: int | tuple[int, int] = 256,
    domain: SurfaceDomain | None = None,
    defects: DefectSpec = DEFECTS,
) -> SurfaceSample:
    """Render one surface of class ``label``; ``size`` is an int (square) or (height, width), >= 128 px."""
    if label not in CLASSES:
        raise ValueError(f"unknown label {label!r}; expected one of {CLASSES}")
    height, width = _check_size(size)
    dom = domain or SurfaceDomain()
    scale = width / REF_WIDTH
    # benign draws first, in a fixed order, so every label shares the background of one rng state
    p: dict[str, float] = {
        "mean_grey": uniform(rng, dom.mean_grey),
        "gradient": uniform(rng, dom.gradient),
        "gradient_angle_deg": float(rng.uniform(0.0, 360.0)),
        "noise_sigma": uniform(rng, dom.noise_sigma),
        "blur_sigma_px": uniform(rng, dom.blur_sigma) * scale,
        "jpeg_quality": float(int(rng.integers(dom.jpeg_quality[0], dom.jpeg_quality[1] + 1))),
        "shift_x_px": float(rng.uniform(-1, 1)) * dom.max_shift_px * scale,
        "shift_y_px": float(rng.uniform(-1, 1)) * dom.max_shift_px * scale,
        "rotation_deg": float(rng.uniform(-1, 1)) * dom.max_rotation_deg,
        "brush_angle_deg": float(rng.uniform(0.0, 180.0)),
        "texture_sigma": uniform(rng, dom.texture_sigma),
        "streak_length": uniform(rng, dom.streak_length),
        "streak_width": uniform(rng, dom.streak_width),
    }
    texture_seed, defect_seed, noise_seed = (int(s) for s in rng.integers(0, 2**63 - 1, size=3))
    margin = math.ceil(dom.max_shift_px * scale)
    # the part (texture and defect) turns with the pose; the illumination stays with the camera
    tex = _texture(
        np.random.default_rng(texture_seed), height, width, p["brush_angle_deg"] + p["rotation_deg"], p, margin
    )
    light = _illumination(height, width, p["gradient"], p["gradient_angle_deg"])
    scene = (np.float32(p["mean_grey"]) + np.float32(p["texture_sigma"]) * tex) * light
    params: dict[str, float | str] = {"label": label, "height": float(height), "width": float(width), **p}
    if label == "ok":
        mask = np.zeros((height, width), bool)
    else:
        defect_rng = np.random.default_rng(defect_seed)
        delta, mask = RENDERERS[label](defect_rng, height, width, p["rotation_deg"], params, defects)
        scene += delta
    if p["blur_sigma_px"] > 0.05:
        scene = cv2.GaussianBlur(scene, (0, 0), sigmaX=p["blur_sigma_px"])
    if p["noise_sigma"] > 0:
        noise = np.random.default_rng(noise_seed).standard_normal((height, width), dtype=np.float32)
        scene += np.float32(p["noise_sigma"]) * noise
    raw = np.clip(np.rint(scene), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", raw, [cv2.IMWRITE_JPEG_QUALITY, int(p["jpeg_quality"])])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("JPEG encoding failed")
    jpeg = buf.tobytes()
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:  # pragma: no cover - the bytes were just encoded by OpenCV
        raise RuntimeError("JPEG decoding failed")
    return SurfaceSample(image=image, jpeg=jpeg, label=label, mask=mask, params=params)


def generate_batch(
    seed: int, n_per_class: int, sizes: tuple[int, ...] = (256,), domain: SurfaceDomain | None = None
) -> list[SurfaceSample]:
    """``n_per_class`` samples of every class, interleaved by class; deterministic per seed.

    Each class cycles through every size on its own (round i of class k takes size i + k): cycling one
    counter over classes and sizes together would tie a class to a size whenever the two counts share
    a factor (five classes, five sizes: every ``ok`` frame the smallest).
    """
    if n_per_class < 0:
        raise ValueError(f"n_per_class must be >= 0, got {n_per_class}")
    if not sizes:
        raise ValueError("sizes must name at least one size")
    for size in sizes:
        _check_size(size)
    samples = []
    for i in range(n_per_class):
        for k, label in enumerate(CLASSES):
            rng = np.random.default_rng([seed, i, k])
            samples.append(generate_surface(rng, label, sizes[(i + k) % len(sizes)], domain))
    return samples


def domain_dict(domain: SurfaceDomain | None = None) -> dict[str, object]:
    """Plain-dict view of a domain and the defect ranges, for training recipes and model cards."""
    return {"domain": asdict(domain or SurfaceDomain()), "defects": asdict(DEFECTS)}
