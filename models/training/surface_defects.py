"""The defects of the surface generator: their size and contrast ranges, and one renderer per class.

Each renderer draws from its own ``rng`` and returns the grey-level change it adds to the surface and
the mask of the pixels it covers. Lengths are given at 256 px width and scale with the image width.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

REF_WIDTH = 256.0


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


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """One uniform draw in [low, high] (a degenerate range returns its value)."""
    low, high = float(bounds[0]), float(bounds[1])
    return low if high <= low else float(rng.uniform(low, high))


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
    rng: np.random.Generator, height: int, width: int, rotation: float, p: dict[str, float | str], spec: DefectSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Thin straight (slightly curved) line, brighter or darker than the surface."""
    scale = width / REF_WIDTH
    length = uniform(rng, spec.scratch_length) * width
    line_w = uniform(rng, spec.scratch_width_px) * scale
    contrast = uniform(rng, spec.scratch_contrast) * (1 if rng.random() < 0.5 else -1)
    angle = float(rng.uniform(0.0, 180.0))
    sagitta = float(rng.uniform(-0.03, 0.03)) * length
    u = np.linspace(-0.5, 0.5, 9)
    local = np.stack([u * length, sagitta * (1 - 4 * u**2)], axis=1)
    points = _place(rng, _rotate(local, angle + rotation), height, width, 0.03 * width)
    coverage, mask = _polyline(points, np.full(len(points) - 1, line_w), height, width)
    p.update(length_px=length, width_px=line_w, contrast=contrast, angle_deg=angle)
    return contrast * coverage, mask


def _crack(
    rng: np.random.Generator, height: int, width: int, rotation: float, p: dict[str, float | str], spec: DefectSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Thin dark jagged polyline (random walk rescaled to the drawn span), sometimes with a branch."""
    scale = width / REF_WIDTH
    span = uniform(rng, spec.crack_length) * width
    # segments of 4-9 px at 256 px width: the zig-zag stays visible on short cracks too
    n_seg = int(np.clip(round(span / (uniform(rng, (4.0, 9.0)) * scale)), 3, 16))
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
    base_w = uniform(rng, spec.crack_width_px) * scale
    contrast = -uniform(rng, spec.crack_contrast)
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
    rng: np.random.Generator, height: int, width: int, rotation: float, p: dict[str, float | str], spec: DefectSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Dark roughly round blob with a soft rim: a half-depth contour of the drawn diameter, bright lip."""
    diameter = uniform(rng, spec.pit_diameter) * width
    depth = uniform(rng, spec.pit_contrast)
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
    rng: np.random.Generator, height: int, width: int, rotation: float, p: dict[str, float | str], spec: DefectSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth low-contrast irregular blotch (generalised Gaussian profile, half contrast on the contour)."""
    diameter = uniform(rng, spec.stain_diameter) * width
    contrast = uniform(rng, spec.stain_contrast)
    if rng.random() < spec.stain_dark_probability:
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


Renderer = Callable[
    [np.random.Generator, int, int, float, dict[str, float | str], DefectSpec], tuple[np.ndarray, np.ndarray]
]
RENDERERS: dict[str, Renderer] = {"scratch": _scratch, "pit": _pit, "crack": _crack, "stain": _stain}
