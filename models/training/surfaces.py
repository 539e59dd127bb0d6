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

logger = logging.getLogger(__name__)

CLASSES: tuple[str, ...] = ("ok", "scratch", "pit", "crack", "stain")
MIN_SIZE_PX = 128
_REF_WIDTH = 256.0


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


@dataclass(frozen=True)
class DefectSpec:
    """Size and contrast ranges of the defects; the defaults are the DESIGN §10 numbers."""

    scratch_width_px: tuple[float, float] = (1.0, 3.0)  # at 256 px width
    scratch_length: tuple[float, float] = (0.15, 0.60)  # fraction of width
    scratch_contrast: tuple[float, float] = (25.0, 70.0)  # grey levels, brighter or darker
    pit_diameter: tuple[float, float] = (0.02, 0.06)  # fraction of width (equivalent diameter)
    # the spec only says "dark"; a pit is a cavity in shadow, clearly darker than a stain
    pit_contrast: tuple[float, float] = (40.0, 100.0)
    crack_length: tuple[float, float] = (0.10, 0.40)  # end-to-end span, fraction of width
    crack_width_px: tuple[float, float] = (0.8, 2.0)  # at 256 px width
    crack_contrast: tuple[float, float] = (30.0, 80.0)  # "dark": grey levels below the surface
    stain_diameter: tuple[float, float] = (0.08, 0.25)  # fraction of width (half-contrast contour)
    stain_contrast: tuple[float, float] = (12.0, 40.0)
    stain_dark_probability: float = 0.7  # oil/coolant residue is usually darker than bare metal


DEFECTS = DefectSpec()


@dataclass
class SurfaceSample:
    """One rendered surface: final pixels, their JPEG bytes, label, defect mask and the drawn params."""

    image: np.ndarray  # uint8 HxW, the final pixels after the JPEG round trip
    jpeg: bytes  # the JPEG bytes of that image (what a camera publishes)
    label: str  # one of CLASSES
    mask: np.ndarray  # bool HxW, True where the defect is (all False for ok)
    params: dict[str, float | str]


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """One uniform draw in [low, high] (a degenerate range returns its value)."""
    low, high = float(bounds[0]), float(bounds[1])
    return low if high <= low else float(rng.uniform(low, high))


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
    scale = width / _REF_WIDTH
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


def _bbox(
    points: np.ndarray, pad: float, height: int, width: int
) -> tuple[slice, slice, np.ndarray, np.ndarray] | None:
    """Pixel window around points (+pad) clipped to the frame, with its x/y coordinate grids."""
    x0 = max(0, math.floor(points[:, 0].min() - pad))
    x1 = min(width, math.ceil(points[:, 0].max() + pad) + 1)
    y0 = max(0, math.floor(points[:, 1].min() - pad))
    y1 = min(height, math.ceil(points[:, 1].max() + pad) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    xs = np.arange(x0, x1, dtype=np.float32)[None, :, None]
    ys = np.arange(y0, y1, dtype=np.float32)[:, None, None]
    return slice(y0, y1), slice(x0, x1), xs, ys


def _polyline(points: np.ndarray, widths: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased coverage (0..1) and footprint mask of a polyline with per-segment widths."""
    coverage = np.zeros((height, width), np.float32)
    mask = np.zeros((height, width), bool)
    window = _bbox(points, float(widths.max()) / 2 + 2, height, width)
    if window is None:
        return coverage, mask
    rows, cols, xs, ys = window
    a, b = points[:-1].astype(np.float32), points[1:].astype(np.float32)
    d = b - a
    len2 = np.maximum((d**2).sum(axis=1), 1e-6)
    t = np.clip(((xs - a[:, 0]) * d[:, 0] + (ys - a[:, 1]) * d[:, 1]) / len2, 0.0, 1.0)
    dist = np.hypot(xs - (a[:, 0] + t * d[:, 0]), ys - (a[:, 1] + t * d[:, 1]))
    w = widths.astype(np.float32)
    # area of a strip of width w crossing a unit pixel at distance dist from its centre
    cov = np.clip((w + 1) / 2 - dist, 0.0, np.minimum(w, 1.0))
    coverage[rows, cols] = cov.max(axis=2)
    mask[rows, cols] = (dist <= np.maximum(w / 2, 0.5)).any(axis=2)
    return coverage, mask


def _place(rng: np.random.Generator, local: np.ndarray, height: int, width: int, margin: float) -> np.ndarray:
    """Translate local defect points to a uniform random spot where they stay inside the frame."""
    lo, hi = local.min(axis=0), local.max(axis=0)
    cx_lo, cx_hi = margin - lo[0], width - 1 - margin - hi[0]
    cy_lo, cy_hi = margin - lo[1], height - 1 - margin - hi[1]
    cx = rng.uniform(cx_lo, cx_hi) if cx_hi > cx_lo else (cx_lo + cx_hi) / 2
    cy = rng.uniform(cy_lo, cy_hi) if cy_hi > cy_lo else (cy_lo + cy_hi) / 2
    return local + np.array([cx, cy])


def _rotate(points: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotate local points about the origin (image axes: y down)."""
    phi = math.radians(angle_deg)
    rot = np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]])
    return points @ rot.T


def _scratch(
    rng: np.random.Generator, height: int, width: int, rotation: float, p: dict[str, float | str]
) -> tuple[np.ndarray, np.ndarray]:
    """Thin straight (slightly curved) line, brighter or darker than the surface."""
    scale = width / _REF_WIDTH
    length = _uniform(rng, DEFECTS.scratch_length) * width
    line_w = _uniform(rng, DEFECTS.scratch_width_px) * scale
    contrast = _uniform(rng, DEFECTS.scratch_contrast) * (1 if rng.random() < 0.5 else -1)
    angle = float(rng.uniform(0.0, 180.0))
    sagitta = float(rng.uniform(-0.03, 0.03)) * length
    u = np.linspace(-0.5, 0.5, 9)
    local = np.stack([u * length, sagitta * (1 - 4 * u**2)], axis=1)
    points = _place(rng, _rotate(local, angle + rotation), height, width, 0.03 * width)
    coverage, mask = _polyline(points, np.full(len(points) - 1, line_w), height, width)
    p.update(length_px=length, width_px=line_w, contrast=contrast, angle_deg=angle)
    return contrast * coverage, mask


def _crack(
    rng: np.random.Generator, height: int, width: int, rotation: float, p: dict[str, float | str]
) -> tuple[np.ndarray, np.ndarray]:
    """Thin dark jagged polyline (random walk rescaled to the drawn span), sometimes with a branch."""
    scale = width / _REF_WIDTH
    span = _uniform(rng, DEFECTS.crack_length) * width
    # segments of 4-9 px at 256 px width: the zig-zag stays visible on short cracks too
    n_seg = int(np.clip(round(span / (_uniform(rng, (4.0, 9.0)) * scale)), 3, 16))
    jag = math.radians(float(rng.uniform(25.0, 45.0)))
    # every segment leaves the main direction by 15-60 degrees, mostly zig-zagging left and right
    signs = np.cumprod(np.where(rng.random(n_seg) < 0.7, -1.0, 1.0)) * rng.choice([-1.0, 1.0])
    turns = signs * np.clip(np.abs(rng.normal(0.0, jag, n_seg)) + math.radians(15), 0.0, math.radians(60))
    steps = rng.uniform(0.5, 1.5, n_seg)
    walk = np.concatenate([[[0.0, 0.0]], np.cumsum(np.stack([steps * np.cos(turns), steps * np.sin(turns)], 1), 0)])
    chord = walk[-1] - walk[0]
    walk = _rotate(walk - walk[0], -math.degrees(math.atan2(chord[1], chord[0])))
    walk *= span / max(float(np.hypot(*chord)), 1e-6)
    walk -= walk.mean(axis=0)
    base_w = _uniform(rng, DEFECTS.crack_width_px) * scale
    contrast = -_uniform(rng, DEFECTS.crack_contrast)
    angle = float(rng.uniform(0.0, 180.0))
    points = _place(rng, _rotate(walk, angle + rotation), height, width, 0.03 * width)
    taper = np.sin(np.pi * (np.arange(n_seg) + 0.5) / n_seg)
    widths = base_w * (0.6 + 0.4 * taper) * rng.uniform(0.8, 1.2, n_seg)
    coverage, mask = _polyline(points, widths, height, width)
    branched = rng.random() < 0.3
    if branched:
        start = points[int(rng.integers(1, n_seg))]
        direction = math.radians(angle + rotation) + rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.0)
        n_b = 4
        b_turns = direction + np.clip(rng.normal(0.0, jag, n_b), -1.3, 1.3)
        b_len = rng.uniform(0.2, 0.4) * span / n_b
        b_steps = np.stack([np.cos(b_turns), np.sin(b_turns)], 1) * b_len
        branch = np.concatenate([[start], start + np.cumsum(b_steps, 0)])
        branch[:, 0] = np.clip(branch[:, 0], 1, width - 2)
        branch[:, 1] = np.clip(branch[:, 1], 1, height - 2)
        b_cov, b_mask = _polyline(branch, np.linspace(0.8, 0.5, n_b) * base_w, height, width)
        coverage, mask = np.maximum(coverage, b_cov), mask | b_mask
    p.update(span_px=span, width_px=base_w, contrast=contrast, angle_deg=angle, segments=float(n_seg))
    p["branched"] = "yes" if branched else "no"
    return contrast * coverage, mask


def _blob_rho(
    rng: np.random.Generator, radius: float, aspect: float, wobble: float, height: int, width: int, extent: float
) -> tuple[slice, slice, np.ndarray] | None:
    """Normalised radius field rho of an irregular ellipse (rho=1 on its contour) in a window."""
    orient = float(rng.uniform(0.0, math.pi))
    harmonics = [(k, float(rng.uniform(0, wobble)), float(rng.uniform(0, 2 * math.pi))) for k in (2, 3, 4, 5)]
    a, b = radius / math.sqrt(aspect), radius * math.sqrt(aspect)
    reach = a * (1 + 4 * wobble) * extent
    centre = _place(rng, np.zeros((1, 2)), height, width, min(a * (1 + wobble), 0.45 * min(height, width)))[0]
    window = _bbox(centre[None, :], reach, height, width)
    if window is None:
        return None
    rows, cols, xs, ys = window
    dx, dy = xs[:, :, 0] - centre[0], ys[:, :, 0] - centre[1]
    c, s = math.cos(orient), math.sin(orient)
    u, v = (dx * c + dy * s) / a, (-dx * s + dy * c) / b
    theta = np.arctan2(v, u)
    contour = np.ones_like(theta)
    for k, amp, phase in harmonics:
        contour += amp * np.cos(k * theta + phase)
    return rows, cols, np.hypot(u, v) / contour


def _pit(
    rng: np.random.Generator, height: int, width: int, rotation: float, p: dict[str, float | str]
) -> tuple[np.ndarray, np.ndarray]:
    """Dark roughly round blob with a soft rim: a half-depth contour of the drawn diameter, bright lip."""
    diameter = _uniform(rng, DEFECTS.pit_diameter) * width
    depth = _uniform(rng, DEFECTS.pit_contrast)
    rim = float(rng.uniform(0.1, 0.3)) * depth
    delta = np.zeros((height, width), np.float32)
    mask = np.zeros((height, width), bool)
    window = _blob_rho(rng, diameter / 2, float(rng.uniform(0.75, 1.0)), 0.06, height, width, 2.0)
    if window is not None:
        rows, cols, rho = window
        t = np.clip((rho - 0.6) / 0.8, 0.0, 1.0)
        core = 1.0 - t * t * (3 - 2 * t)  # smoothstep: 1 inside, 0.5 on the contour, 0 at rho 1.4
        lip = np.exp(-(((rho - 1.45) / 0.25) ** 2))
        delta[rows, cols] = -depth * core + rim * lip
        mask[rows, cols] = rho <= 1.0
    p.update(diameter_px=diameter, contrast=-depth, rim=rim)
    return delta, mask


def _stain(
    rng: np.random.Generator, height: int, width: int, rotation: float, p: dict[str, float | str]
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth low-contrast irregular blotch (generalised Gaussian profile, half contrast on the contour)."""
    diameter = _uniform(rng, DEFECTS.stain_diameter) * width
    contrast = _uniform(rng, DEFECTS.stain_contrast)
    if rng.random() < DEFECTS.stain_dark_probability:
        contrast = -contrast
    power = float(rng.uniform(2.0, 4.0))
    delta = np.zeros((height, width), np.float32)
    mask = np.zeros((height, width), bool)
    window = _blob_rho(rng, diameter / 2, float(rng.uniform(0.6, 1.0)), 0.08, height, width, 2.2)
    if window is not None:
        rows, cols, rho = window
        delta[rows, cols] = contrast * np.exp2(-(rho**power))
        mask[rows, cols] = rho <= 1.0
    p.update(diameter_px=diameter, contrast=contrast, profile_power=power)
    return delta, mask


_RENDERERS = {"scratch": _scratch, "pit": _pit, "crack": _crack, "stain": _stain}


def generate_surface(
    rng: np.random.Generator, label: str, size: int | tuple[int, int] = 256, domain: SurfaceDomain | None = None
) -> SurfaceSample:
    """Render one surface of class ``label``; ``size`` is an int (square) or (height, width), >= 128 px."""
    if label not in CLASSES:
        raise ValueError(f"unknown label {label!r}; expected one of {CLASSES}")
    height, width = _check_size(size)
    dom = domain or SurfaceDomain()
    scale = width / _REF_WIDTH
    # benign draws first, in a fixed order, so every label shares the background of one rng state
    p: dict[str, float] = {
        "mean_grey": _uniform(rng, dom.mean_grey),
        "gradient": _uniform(rng, dom.gradient),
        "gradient_angle_deg": float(rng.uniform(0.0, 360.0)),
        "noise_sigma": _uniform(rng, dom.noise_sigma),
        "blur_sigma_px": _uniform(rng, dom.blur_sigma) * scale,
        "jpeg_quality": float(int(rng.integers(dom.jpeg_quality[0], dom.jpeg_quality[1] + 1))),
        "shift_x_px": float(rng.uniform(-1, 1)) * dom.max_shift_px * scale,
        "shift_y_px": float(rng.uniform(-1, 1)) * dom.max_shift_px * scale,
        "rotation_deg": float(rng.uniform(-1, 1)) * dom.max_rotation_deg,
        "brush_angle_deg": float(rng.uniform(0.0, 180.0)),
        "texture_sigma": _uniform(rng, dom.texture_sigma),
        "streak_length": _uniform(rng, dom.streak_length),
        "streak_width": _uniform(rng, dom.streak_width),
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
        delta, mask = _RENDERERS[label](np.random.default_rng(defect_seed), height, width, p["rotation_deg"], params)
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
