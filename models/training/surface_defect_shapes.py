"""Widened defect shapes for training: curved/tapered/broken scratches, elliptical rimmed pits, lobed stains.

Ranges reach a margin past DESIGN §10 on every side (faint, small and large ones included), and the
contrast is drawn with extra weight at the faint end, where the misses are. Same renderer signature as
``surface_defects.RENDERERS``.
"""

from __future__ import annotations

import math

import numpy as np

from models.training.surface_defects import (
    REF_WIDTH,
    RENDERERS,
    DefectSpec,
    Renderer,
    _blob_rho,
    _place,
    _polyline,
    _rotate,
    uniform,
)

WIDE_DEFECTS = DefectSpec(
    scratch_width_px=(0.7, 3.5),
    scratch_length=(0.12, 0.70),
    scratch_contrast=(20.0, 80.0),
    pit_diameter=(0.018, 0.07),
    pit_contrast=(30.0, 110.0),
    crack_length=(0.08, 0.45),
    crack_width_px=(0.6, 2.3),
    crack_contrast=(24.0, 90.0),
    stain_diameter=(0.07, 0.28),
    stain_contrast=(12.0, 45.0),
    stain_dark_probability=0.5,
)


def faint_weighted(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """Draw in [low, high] with a little extra weight at the faint end (more would teach invisible defects)."""
    return float(bounds[0] + (bounds[1] - bounds[0]) * rng.random() ** 1.2)


def _scratch(
    rng: np.random.Generator, height: int, width: int, rotation: float, p: dict[str, float | str], spec: DefectSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Curved, tapered and sometimes interrupted thin line, brighter or darker."""
    scale = width / REF_WIDTH
    length = uniform(rng, spec.scratch_length) * width
    line_w = uniform(rng, spec.scratch_width_px) * scale
    contrast = faint_weighted(rng, spec.scratch_contrast) * (1 if rng.random() < 0.5 else -1)
    angle = float(rng.uniform(0.0, 180.0))
    n = 24
    u = np.linspace(-0.5, 0.5, n + 1)
    bend = float(rng.uniform(-0.08, 0.08)) * length
    wiggle = (
        float(rng.uniform(0, 0.008)) * length * np.sin(2 * np.pi * float(rng.uniform(0.5, 2.5)) * u + rng.uniform(0, 6))
    )
    local = np.stack([u * length, bend * (1 - 4 * u**2) + wiggle], axis=1)
    points = _place(rng, _rotate(local, angle), height, width, 0.01 * width)
    mid = (u[:-1] + u[1:]) / 2
    taper = 1.0 - float(rng.uniform(0.0, 0.7)) * (2 * np.abs(mid)) ** 2 if rng.random() < 0.6 else np.ones(n)
    coverage, mask = _polyline(points, np.maximum(line_w * taper, 0.5), height, width)
    if rng.random() < 0.15:
        # interrupted: the stylus skipped; a few gaps, the scratch still covers >= 60% of its length
        keep = np.ones(n, bool)
        for _ in range(int(rng.integers(1, 4))):
            start = int(rng.integers(2, n - 4))
            keep[start : start + int(rng.integers(1, 3))] = False
        cov_parts = np.zeros_like(coverage)
        mask = np.zeros_like(mask)
        for i in np.flatnonzero(keep):
            c, m = _polyline(points[i : i + 2], np.full(1, max(line_w * taper[i], 0.5)), height, width)
            cov_parts, mask = np.maximum(cov_parts, c), mask | m
        coverage = cov_parts
    p.update(length_px=length, width_px=line_w, contrast=contrast, angle_deg=angle)
    return contrast * coverage, mask


def _pit(
    rng: np.random.Generator, height: int, width: int, rotation: float, p: dict[str, float | str], spec: DefectSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Dark round-to-elliptical cavity with a soft edge and a bright rim highlight, often one-sided."""
    diameter = uniform(rng, spec.pit_diameter) * width
    depth = faint_weighted(rng, spec.pit_contrast)
    aspect = float(rng.uniform(0.5, 1.0))
    a, b = diameter / 2 / math.sqrt(aspect), diameter / 2 * math.sqrt(aspect)
    centre = _place(rng, np.zeros((1, 2)), height, width, a + 1)[0]
    reach = math.ceil(2.2 * a) + 2
    x0, x1 = max(0, int(centre[0]) - reach), min(width, int(centre[0]) + reach + 1)
    y0, y1 = max(0, int(centre[1]) - reach), min(height, int(centre[1]) + reach + 1)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    orient = float(rng.uniform(0, math.pi))
    dx, dy = xs - centre[0], ys - centre[1]
    uu = (dx * math.cos(orient) + dy * math.sin(orient)) / a
    vv = (-dx * math.sin(orient) + dy * math.cos(orient)) / b
    rho = np.hypot(uu, vv)
    soft = float(rng.uniform(0.2, 0.7))
    t = np.clip((rho - (1 - soft / 2)) / soft, 0.0, 1.0)
    core = 1.0 - t * t * (3 - 2 * t)
    rim_strength = float(rng.uniform(0.05, 0.7)) * depth
    light_dir = float(rng.uniform(0, 2 * math.pi))
    sided = float(rng.uniform(0.0, 1.0))
    theta = np.arctan2(dy, dx)
    lip = np.exp(-(((rho - 1.2) / 0.22) ** 2)) * (1 - sided + sided * np.clip(np.cos(theta - light_dir), 0, 1))
    delta = np.zeros((height, width), np.float32)
    mask = np.zeros((height, width), bool)
    delta[y0:y1, x0:x1] = -depth * core + rim_strength * lip
    mask[y0:y1, x0:x1] = rho <= 1.0
    p.update(diameter_px=diameter, contrast=-depth, rim=rim_strength, aspect=aspect)
    return delta, mask


def _stain(
    rng: np.random.Generator, height: int, width: int, rotation: float, p: dict[str, float | str], spec: DefectSpec
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth irregular blotch (sometimes a smaller second one), brighter or darker, flat to soft profile."""
    diameter = uniform(rng, spec.stain_diameter) * width
    contrast = faint_weighted(rng, spec.stain_contrast)
    if rng.random() < spec.stain_dark_probability:
        contrast = -contrast
    power = float(rng.uniform(1.5, 5.0))
    delta = np.zeros((height, width), np.float32)
    mask = np.zeros((height, width), bool)
    for lobe in range(2 if rng.random() < 0.3 else 1):
        radius = diameter / 2 * (1.0 if lobe == 0 else float(rng.uniform(0.4, 0.8)))
        window = _blob_rho(
            rng, radius, float(rng.uniform(0.45, 1.0)), float(rng.uniform(0.03, 0.16)), height, width, 2.2
        )
        if window is None:
            continue
        rows, cols, rho = window
        part = contrast * np.exp2(-(rho**power))
        # lobes merge as one blotch: take the stronger contribution, not the sum
        delta[rows, cols] = np.where(np.abs(part) > np.abs(delta[rows, cols]), part, delta[rows, cols])
        mask[rows, cols] |= rho <= 1.0
    p.update(diameter_px=diameter, contrast=contrast, profile_power=power)
    return delta, mask


WIDE_RENDERERS: dict[str, Renderer] = {
    "scratch": _scratch,
    "pit": _pit,
    "crack": RENDERERS["crack"],
    "stain": _stain,
}
