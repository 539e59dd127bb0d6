"""Clean-room surface defects (scratch, pit, crack, stain) as additive grey-level stamps, sized by image width."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

SHIFT = 4  # cv2 fixed-point bits, so polylines keep sub-pixel vertex positions


@dataclass(frozen=True)
class Stamp:
    """An additive grey-level patch and where its top-left corner goes in the image."""

    delta: np.ndarray
    x0: int
    y0: int
    params: dict[str, Any]


def _r(x: float) -> float:
    return round(float(x), 4)


def _smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _fit(rng: np.random.Generator, pts: np.ndarray, h: int, w: int, pad: int) -> np.ndarray:
    """Translate points to a random spot where they (plus pad) lie inside the frame."""
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    x = rng.uniform(pad - lo[0], max(pad - lo[0], w - 1 - pad - hi[0]))
    y = rng.uniform(pad - lo[1], max(pad - lo[1], h - 1 - pad - hi[1]))
    return pts + np.array([x, y])


def _lines(paths: list[tuple[np.ndarray, float]], h: int, w: int, pad: int) -> tuple[np.ndarray, int, int]:
    """Polylines of given widths (px, may be fractional) as a local soft-edged mask whose core is 1."""
    allp = np.concatenate([p for p, _ in paths])
    x0, y0 = max(0, int(allp[:, 0].min()) - pad), max(0, int(allp[:, 1].min()) - pad)
    x1, y1 = min(w, int(allp[:, 0].max()) + pad + 2), min(h, int(allp[:, 1].max()) + pad + 2)
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    # cv2's own thick anti-aliased lines come out about twice as wide as asked; a distance field keeps widths exact.
    for width in sorted({wd for _, wd in paths}):
        centre = np.full(out.shape, 255, np.uint8)
        for p, wd in paths:
            if wd == width:
                fixed = np.round((p - [x0, y0]) * (1 << SHIFT)).astype(np.int32)
                cv2.polylines(centre, [fixed], False, 0, 1, cv2.LINE_8, SHIFT)
        dist = cv2.distanceTransform(centre, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        out = np.maximum(out, 1.0 - _smoothstep(width / 2 - 0.5, width / 2 + 0.5, dist))
    return out, x0, y0


def scratch(rng: np.random.Generator, h: int, w: int, grain_deg: float | None) -> Stamp:
    """Thin bright or dark line, 15-60% of the width long, 1-3 px thick at 256 px; may curve, taper or break."""
    length = rng.uniform(0.15, 0.60) * w
    nominal = rng.uniform(1.0, 3.0) * w / 256.0
    thick = max(1.0, nominal)
    contrast = rng.uniform(25, 70) * (1 if rng.random() < 0.55 else -1)
    along_grain = grain_deg is not None and rng.random() < 0.35
    angle = (
        math.radians(grain_deg + rng.uniform(-3, 3))
        if along_grain and grain_deg is not None
        else rng.uniform(0, math.pi)
    )
    if length > 0.95 * h:  # a long scratch on a short frame must lie near horizontal to fit
        angle = rng.uniform(-0.3, 0.3)
    bend = rng.uniform(-0.1, 0.1) * length if rng.random() < 0.5 else 0.0
    t = np.linspace(0, 1, max(16, int(length / 3)))[:, None]
    d, nrm = np.array([math.cos(angle), math.sin(angle)]), np.array([-math.sin(angle), math.cos(angle)])
    pts = (t - 0.5) * length * d + 4 * t * (1 - t) * bend * nrm  # quadratic bow, chord stays `length`
    pts = _fit(rng, pts, h, w, int(thick) + 2)
    n = len(pts)
    keep = np.ones(n, bool)
    gaps = int(rng.integers(1, 4)) if rng.random() < 0.25 else 0
    for _ in range(gaps):  # the stylus skipped: short interruptions, never at the ends
        g = max(1, int(n * rng.uniform(0.03, 0.08)))
        s = int(rng.integers(n // 6, max(n // 6 + 1, 5 * n // 6 - g)))
        keep[s : s + g] = False
    tip = max(2, int(n * rng.uniform(0.05, 0.15))) if thick >= 1.5 else 0
    paths: list[tuple[np.ndarray, float]] = []
    idx = np.flatnonzero(keep)
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    for run in runs:
        core = run[(run >= tip) & (run < n - tip)]
        if len(core) > 1:
            paths.append((pts[core], thick))
        for end in (run[run < tip + 1], run[run >= n - tip - 1]):
            if len(end) > 1:  # tapered ends: the tool leaves the surface
                paths.append((pts[end], max(1.0, thick / 2)))
    mask, x0, y0 = _lines(paths, h, w, int(thick) + 3)
    delta = contrast * mask
    groove = rng.random() < 0.3
    if groove:  # lit from one side, the groove casts a faint opposite-signed shadow beside its bright/dark core
        shadow = np.clip(np.roll(mask, (1, 1), axis=(0, 1)) - mask, 0, 1)
        delta -= 0.35 * contrast * shadow
    params = {
        "length_px": _r(length),
        "length_frac": _r(length / w),
        "thickness_px": _r(thick),
        "contrast": _r(contrast),
        "angle_deg": _r(math.degrees(angle)),
        "along_grain": along_grain,
        "bend_px": _r(bend),
        "gaps": gaps,
        "groove_shadow": groove,
        "path": [[_r(x), _r(y)] for x, y in pts[:: max(1, n // 32)]],
    }
    return Stamp(delta.astype(np.float32), x0, y0, params)


def _walk(rng: np.random.Generator, heading: float, steps: int) -> np.ndarray:
    """Jagged path: heading jitters around its start, step lengths vary."""
    turns = rng.normal(0, 0.55, steps)
    head = heading + np.cumsum(turns) * 0.35 + turns
    lengths = rng.uniform(0.4, 1.6, steps)
    xy = np.stack([np.cos(head), np.sin(head)], 1) * lengths[:, None]
    return np.vstack([[0.0, 0.0], np.cumsum(xy, 0)])


def crack(rng: np.random.Generator, h: int, w: int) -> Stamp:
    """Thin dark jagged polyline spanning 10-40% of the width, sometimes with one or two branches."""
    span = rng.uniform(0.10, 0.40) * w
    heading = rng.uniform(0, 2 * math.pi)
    main = _walk(rng, heading, int(rng.integers(10, 28)))
    chord = float(np.linalg.norm(main[-1] - main[0])) or 1.0
    branches = []
    for _ in range(int(rng.integers(1, 3)) if rng.random() < 0.4 else 0):
        at = main[int(rng.integers(len(main) // 4, 3 * len(main) // 4 + 1))]
        side = heading + rng.choice([-1, 1]) * math.radians(rng.uniform(25, 60))
        branches.append(at + _walk(rng, side, int(rng.integers(3, 8))) * rng.uniform(0.5, 1.0))
    scale = span / chord
    thick = max(1.0, rng.uniform(0.8, 2.0) * w / 256.0)
    allp = _fit(rng, np.vstack([main, *branches]) * scale, h, w, int(thick) + 3)
    main_s, rest = allp[: len(main)], allp[len(main) :]
    paths: list[tuple[np.ndarray, float]] = [(main_s, thick)]
    offset = 0
    for b in branches:
        paths.append((rest[offset : offset + len(b)], max(1.0, thick * 0.7)))
        offset += len(b)
    mask, x0, y0 = _lines(paths, h, w, int(thick) + 4)
    depth = rng.uniform(30, 80)
    halo = cv2.GaussianBlur(mask, (0, 0), max(0.8, w / 256.0))  # crumbled edges shade the surface beside the crack
    delta = -depth * np.maximum(mask, 0.25 * halo)
    params = {
        "span_px": _r(span),
        "span_frac": _r(span / w),
        "thickness_px": _r(thick),
        "contrast": _r(-depth),
        "segments": len(main) - 1,
        "branches": len(branches),
        "heading_deg": _r(math.degrees(heading)),
    }
    return Stamp(delta.astype(np.float32), x0, y0, params)


def _stamp_to_size(canvas: np.ndarray, core: np.ndarray, target: float) -> tuple[np.ndarray, float]:
    """Resize a canvas so the bounding box of its core region has `target` px on its longer side."""
    ys, xs = np.nonzero(core)
    extent = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    f = target / float(extent)
    size = (max(3, round(canvas.shape[1] * f)), max(3, round(canvas.shape[0] * f)))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    return cv2.resize(canvas, size, interpolation=interp), f


def _polar(rng: np.random.Generator, n: int, unit: float, aspect: float) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = (np.mgrid[0:n, 0:n].astype(np.float32) - (n - 1) / 2) / unit
    rot = rng.uniform(0, math.pi)
    u = xs * math.cos(rot) + ys * math.sin(rot)
    v = (-xs * math.sin(rot) + ys * math.cos(rot)) * aspect
    return np.hypot(u, v), np.arctan2(ys, xs)


def pit(rng: np.random.Generator, h: int, w: int) -> Stamp:
    """Dark, roughly round blob 2-6% of the width with a soft rim, sometimes a bright rim highlight."""
    diameter = rng.uniform(0.02, 0.06) * w
    aspect = rng.uniform(1.0, 1.35)
    rho, theta = _polar(rng, 96, 24.0, aspect)
    wobble = 1 + sum(rng.uniform(0, 0.06) * np.cos(k * theta + rng.uniform(0, 6.3)) for k in (2, 3))
    rho = rho / wobble
    dark = 1.0 - _smoothstep(0.7, 1.3, rho)
    depth = rng.uniform(35, 90)
    lit = rng.random() < 0.5
    highlight = rng.uniform(0.15, 0.45) * depth if lit else 0.0
    light_dir = rng.uniform(0, 2 * math.pi)
    ring = np.exp(-(((rho - 1.35) / 0.18) ** 2)) * np.maximum(np.cos(theta - light_dir), 0)
    canvas = (-depth * dark + highlight * ring).astype(np.float32)
    delta, _ = _stamp_to_size(canvas, dark >= 0.5, diameter)
    core = delta <= -depth / 2
    ys, xs = np.nonzero(core) if core.any() else (np.array([0]), np.array([0]))
    measured = int(max(xs.max() - xs.min(), ys.max() - ys.min())) + 1
    x0 = int(rng.integers(0, max(1, w - delta.shape[1] + 1)))
    y0 = int(rng.integers(0, max(1, h - delta.shape[0] + 1)))
    params = {
        "diameter_px": _r(diameter),
        "diameter_frac": _r(diameter / w),
        "measured_diameter_px": measured,
        "aspect": _r(aspect),
        "contrast": _r(-depth),
        "rim_highlight": _r(highlight),
    }
    return Stamp(delta, x0, y0, params)


def stain(rng: np.random.Generator, h: int, w: int) -> Stamp:
    """Smooth irregular blotch 8-25% of the width, 12-40 grey levels darker (oil) or brighter (residue)."""
    size = rng.uniform(0.085, 0.24) * w  # a little inside the spec: resampling moves the outline by a pixel or two
    n = 96
    ys, xs = (np.mgrid[0:n, 0:n].astype(np.float32) - (n - 1) / 2) / (n / 2)
    field = np.zeros((n, n), np.float32)
    for _ in range(int(rng.integers(2, 7))):
        cx, cy = rng.normal(0, 0.15, 2)
        sx, sy, rot = rng.uniform(0.12, 0.3), rng.uniform(0.12, 0.3), rng.uniform(0, math.pi)
        u = (xs - cx) * math.cos(rot) + (ys - cy) * math.sin(rot)
        v = -(xs - cx) * math.sin(rot) + (ys - cy) * math.cos(rot)
        field += rng.uniform(0.5, 1.0) * np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    edge = cv2.resize(rng.standard_normal((5, 5)).astype(np.float32), (n, n), interpolation=cv2.INTER_CUBIC)
    field = field / field.max() + 0.06 * edge  # ragged outline
    lo = rng.uniform(0.2, 0.35)
    prof = _smoothstep(lo, lo + rng.uniform(0.15, 0.3), field)
    ringed = rng.random() < 0.25
    if ringed:  # drying film leaves more deposit at its rim
        prof = prof + 1.2 * prof * (1 - prof)
    mott = cv2.resize(rng.standard_normal((4, 4)).astype(np.float32), (n, n), interpolation=cv2.INTER_CUBIC)
    prof = prof * (1 + 0.06 * mott)
    prof[[0, -1], :] = 0
    prof[:, [0, -1]] = 0
    prof = np.clip(prof / prof.max(), 0, 1).astype(np.float32)
    shape, _ = _stamp_to_size(prof, prof >= 0.5, size)
    shape = np.clip(shape, 0, 1)
    inside = shape >= 0.5
    mean_in = float(shape[inside].mean()) if inside.any() else 1.0
    peak = rng.uniform(14, 40)
    peak = min(40.0, max(peak, 12.5 / mean_in))  # the mean change over the blotch must stay >= 12 levels
    sign = -1.0 if rng.random() < 0.65 else 1.0
    x0 = int(rng.integers(0, max(1, w - shape.shape[1] + 1)))
    y0 = int(rng.integers(0, max(1, h - shape.shape[0] + 1)))
    params = {
        "size_px": _r(size),
        "size_frac": _r(size / w),
        "peak_contrast": _r(sign * peak),
        "mean_contrast": _r(sign * peak * mean_in),
        "ringed": ringed,
        "darker": sign < 0,
    }
    return Stamp((sign * peak * shape).astype(np.float32), x0, y0, params)
