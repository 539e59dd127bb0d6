"""Widened benign variation for training: texture kinds, lighting fields and ok-surface hard negatives.

Everything here is nuisance the DESIGN §10 spec calls benign (or a margin past it): the classifier must
learn that none of it is a defect. Lengths are given at 256 px width and scale with the frame width.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from models.training.surface_defects import REF_WIDTH, _polyline
from models.training.surfaces import _texture

TEXTURE_KINDS: dict[str, float] = {
    "brushed": 0.34,
    "cross_brushed": 0.08,
    "turned": 0.14,
    "milled": 0.12,
    "ground": 0.16,
    "blasted": 0.16,
}


def _unit(values: np.ndarray) -> np.ndarray:
    """Zero mean, unit std (float32)."""
    values = values.astype(np.float32)
    values -= values.mean()
    return values / (float(values[::3, ::3].std()) + 1e-6)


def smooth_noise(rng: np.random.Generator, height: int, width: int, sigma: float) -> np.ndarray:
    """Isotropic Gaussian-smoothed noise of correlation length ``sigma`` px, unit std."""
    # coarse fields are drawn on a small grid and interpolated up: the same look for a fraction of the cost
    step = max(1, int(sigma // 3))
    small: np.ndarray = rng.standard_normal((height // step + 2, width // step + 2)).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=max(sigma / step, 0.3))
    field = cv2.resize(small, (width + 2 * step, height + 2 * step), interpolation=cv2.INTER_CUBIC)
    return _unit(field[step : step + height, step : step + width])


def _brushed(rng: np.random.Generator, height: int, width: int, length: tuple[float, float]) -> np.ndarray:
    """Streaks in any direction, from the training generator's brush model."""
    params = {
        "streak_length": float(rng.uniform(*length)),
        "streak_width": float(rng.uniform(0.3, 2.0)),
        "shift_x_px": 0.0,
        "shift_y_px": 0.0,
    }
    return _texture(rng, height, width, float(rng.uniform(0.0, 180.0)), params, 0)


def _turned(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Concentric turning grooves around a centre inside or far outside the frame."""
    scale = width / REF_WIDTH
    dist = float(rng.uniform(0.0, 3.0)) * max(height, width)
    phi = float(rng.uniform(0.0, 2 * math.pi))
    cx, cy = width / 2 + dist * math.cos(phi), height / 2 + dist * math.sin(phi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    r = np.hypot(xs - np.float32(cx), ys - np.float32(cy))
    r0, r1 = float(r.min()), float(r.max())
    if rng.random() < 0.5:
        # a constant feed per revolution cuts periodic grooves: a tool profile repeated every feed
        feed = float(rng.uniform(1.5, 8.0)) * scale
        phase = 2 * np.pi * np.arange(int(r1 - r0) + 8, dtype=np.float32) / np.float32(feed)
        profile = np.sin(phase) + np.float32(rng.uniform(0.0, 0.6)) * np.sin(2 * phase + np.float32(rng.uniform(0, 6)))
        profile = profile.astype(np.float32)
    else:
        profile = rng.standard_normal(int(r1 - r0) + 8).astype(np.float32)
        groove = float(rng.uniform(0.3, 1.5)) * scale
        profile = cv2.GaussianBlur(profile[None, :], (0, 0), sigmaX=groove)[0]
    bands = cv2.GaussianBlur(rng.standard_normal(profile.size).astype(np.float32)[None, :], (0, 0), 8 * scale)[0]
    profile = profile / (profile.std() + 1e-6) + 0.5 * bands / (bands.std() + 1e-6)
    out = np.interp(r - r0, np.arange(profile.size, dtype=np.float32), profile).astype(np.float32)
    # the tool chatters: the groove depth drifts around the circumference
    return _unit(out * (1.0 + 0.3 * smooth_noise(rng, height, width, 20 * scale)))


def _milled(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Face-milling arcs: one arc per cutter pass, passes spaced by the feed."""
    scale = width / REF_WIDTH
    radius = float(rng.uniform(0.6, 3.0)) * width
    feed = float(rng.uniform(2.0, 30.0)) * scale
    phi = float(rng.uniform(0.0, 2 * math.pi))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (xs - width / 2) * math.cos(phi) + (ys - height / 2) * math.sin(phi)
    v = -(xs - width / 2) * math.sin(phi) + (ys - height / 2) * math.cos(phi) + float(rng.uniform(-0.5, 0.5)) * width
    phase = (u - np.sqrt(np.maximum(radius**2 - v**2, 0.0))) / feed
    sharp = float(rng.uniform(1.0, 4.0))
    marks = np.cos(2 * np.pi * phase) + 0.4 * np.cos(4 * np.pi * phase + sharp)
    return _unit(marks + 0.7 * smooth_noise(rng, height, width, float(rng.uniform(0.5, 1.5)) * scale))


def _blasted(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Bead-blasted / matte: fine isotropic grain over a coarse mottle."""
    scale = width / REF_WIDTH
    fine = smooth_noise(rng, height, width, float(rng.uniform(0.4, 1.5)) * scale)
    coarse = smooth_noise(rng, height, width, float(rng.uniform(4.0, 30.0)) * scale)
    return _unit(fine + float(rng.uniform(0.2, 0.7)) * coarse)


def texture(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, str]:
    """A unit-std texture of a random kind (sometimes a mix of two) and its name."""
    names, weights = list(TEXTURE_KINDS), np.array(list(TEXTURE_KINDS.values()))
    picks = rng.choice(len(names), size=2 if rng.random() < 0.25 else 1, replace=False, p=weights / weights.sum())
    out = np.zeros((height, width), np.float32)
    for rank, idx in enumerate(picks):
        kind = names[idx]
        if kind == "brushed":
            layer = _brushed(rng, height, width, (0.04, 0.6))
        elif kind == "cross_brushed":
            layer = _brushed(rng, height, width, (0.05, 0.4)) + _brushed(rng, height, width, (0.05, 0.4))
        elif kind == "ground":
            layer = _brushed(rng, height, width, (0.015, 0.06))
        elif kind == "turned":
            layer = _turned(rng, height, width)
        elif kind == "milled":
            layer = _milled(rng, height, width)
        else:
            layer = _blasted(rng, height, width)
        out += _unit(layer) * np.float32(1.0 if rank == 0 else rng.uniform(0.3, 0.8))
    return _unit(out), "+".join(names[i] for i in picks)


def waviness(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Unit-std surface waviness: the long-wavelength undulation (ISO 4287) every machined part carries.

    Its wavelengths (10-50% of the width) overlap a stain's size, so the model must learn that an
    undulation spread over the whole part is benign and a single compact blotch is not.
    """
    return smooth_noise(rng, height, width, float(rng.uniform(0.05, 0.25)) * width)


def illumination(rng: np.random.Generator, height: int, width: int, peak: float) -> np.ndarray:
    """Multiplicative light field (linear ramp, radial spot, vignetting, specular band) with peak deviation."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xn, yn = (xs - width / 2) / (width / 2), (ys - height / 2) / (height / 2)
    light = np.ones((height, width), np.float32)
    phi = float(rng.uniform(0, 2 * math.pi))
    if rng.random() < 0.7:
        light += np.float32(rng.uniform(0.2, 1.0)) * (xn * math.cos(phi) + yn * math.sin(phi))
    if rng.random() < 0.4:
        cx, cy = rng.uniform(-1.5, 1.5, 2)
        # a light spot stays wider than the largest stain (25% of the width at half contrast)
        spot = np.exp(-((xn - cx) ** 2 + (yn - cy) ** 2) / np.float32(rng.uniform(0.15, 3.0)))
        light += np.float32(rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.0)) * spot
    if rng.random() < 0.35:
        light -= np.float32(rng.uniform(0.2, 1.0)) * ((xn**2 + yn**2) / 2) ** np.float32(rng.uniform(1.0, 2.0))
    if rng.random() < 0.3:
        psi = float(rng.uniform(0, math.pi))
        d = xn * math.cos(psi) + yn * math.sin(psi) - np.float32(rng.uniform(-1, 1))
        light += np.float32(rng.uniform(0.3, 1.0)) * np.exp(-((d / np.float32(rng.uniform(0.1, 0.6))) ** 2))
    dev = light / light.mean() - 1.0
    span = float(np.abs(dev).max())
    return (1.0 + dev * np.float32(peak / span)) if span > 1e-6 else np.ones_like(light)


def hard_negatives(rng: np.random.Generator, height: int, width: int, brush_like: bool) -> tuple[np.ndarray, list[str]]:
    """Grey-level additions that look a little like defects but are not: streaks, specks, grains, blotches."""
    scale = width / REF_WIDTH
    out = np.zeros((height, width), np.float32)
    kinds: list[str] = []
    if rng.random() < (0.35 if brush_like else 0.15):
        # single strong brush streak / tool mark: wide, soft, faint, usually crossing the frame
        for _ in range(int(rng.integers(1, 4))):
            length = float(rng.uniform(0.4, 1.5)) * width
            ang = math.radians(float(rng.uniform(0, 180)))
            c = rng.uniform([0, 0], [width, height])
            ends = np.array([c - 0.5 * length * np.array([math.cos(ang), math.sin(ang)]), c])
            ends = np.vstack([ends, c + 0.5 * length * np.array([math.cos(ang), math.sin(ang)])])
            cov, _ = _polyline(ends, np.full(2, float(rng.uniform(2.0, 6.0)) * scale), height, width)
            cov = cv2.GaussianBlur(cov, (0, 0), sigmaX=float(rng.uniform(0.7, 2.0)) * scale)
            out += np.float32(rng.choice([-1.0, 1.0]) * rng.uniform(3.0, 9.0)) * cov
        kinds.append("streak")
    if rng.random() < 0.3:
        # dust and texture specks, well below the smallest pit (2% of the width)
        n = int(rng.integers(1, 25))
        for _ in range(n):
            d = max(1.0, float(rng.uniform(0.003, 0.011)) * width)
            x, y = rng.uniform([0, 0], [width, height])
            r = math.ceil(2 * d) + 1
            x0, x1, y0, y1 = (
                max(0, int(x) - r),
                min(width, int(x) + r + 1),
                max(0, int(y) - r),
                min(height, int(y) + r + 1),
            )
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            blob = np.exp(-(((xx - x) ** 2 + (yy - y) ** 2) / np.float32((d / 2) ** 2)))
            out[y0:y1, x0:x1] += np.float32(rng.choice([-1.0, 1.0]) * rng.uniform(8.0, 40.0)) * blob
        kinds.append("specks")
    if rng.random() < 0.1:
        # grain boundaries: a faint cell network (drawn at 128 px and interpolated: soft 2 px lines at 256)
        gh, gw = max(32, round(128 * height / width)), 128
        seeds = rng.uniform([0, 0], [gw, gh], (int(rng.integers(6, 30)), 2)).astype(np.float32)
        yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
        dist = np.partition(np.hypot(xx[..., None] - seeds[:, 0], yy[..., None] - seeds[:, 1]), 1, axis=2)
        edge = np.exp(-(((dist[..., 1] - dist[..., 0]) / 0.8) ** 2)).astype(np.float32)
        out += np.float32(rng.choice([-1.0, 1.0]) * rng.uniform(2.0, 7.0)) * cv2.resize(edge, (width, height))
        kinds.append("grains")
    if rng.random() < 0.5:
        # lighting / residue blotches of every stain size, fainter than the faintest stain (12 grey levels)
        blob = smooth_noise(rng, height, width, float(rng.uniform(0.02, 0.2)) * width)
        out += np.float32(rng.uniform(2.0, 9.0)) * blob / np.float32(np.abs(blob).max() + 1e-6)
        kinds.append("blotches")
    return out, kinds
