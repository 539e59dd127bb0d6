"""Clean-room surface defects (scratch, pit, crack, stain) drawn as grey-level deltas, sized per DESIGN.md §10."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

# The spec measures defects on a 256 px wide frame and scales them with the frame width.
REFERENCE_WIDTH = 256
SCRATCH_LENGTH = (0.15, 0.60)
SCRATCH_WIDTH_AT_256 = (1.0, 3.0)
SCRATCH_CONTRAST = (25.0, 70.0)
PIT_DIAMETER = (0.02, 0.06)
PIT_DEPTH = (45.0, 100.0)  # the spec says "dark"; this is well beyond any benign texture (soft-limited to 16)
CRACK_LENGTH = (0.10, 0.40)
CRACK_WIDTH_AT_256 = (0.9, 2.2)
CRACK_DEPTH = (35.0, 90.0)
STAIN_DIAMETER = (0.08, 0.25)
STAIN_CONTRAST = (12.0, 40.0)
SUPERSAMPLE = 4  # thin lines are drawn 4x finer and area-averaged, so a 1.3 px scratch really is 1.3 px wide

Patch = tuple[np.ndarray, int, int, dict[str, Any]]


def _u(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def _place(rng: np.random.Generator, pts: np.ndarray, w: int, h: int, pad: float) -> np.ndarray | None:
    """Shift a centred shape to a random spot where it fits in the frame, or None if it cannot fit."""
    lo, hi = pts.min(axis=0) - pad, pts.max(axis=0) + pad
    span = hi - lo
    if span[0] >= w - 1 or span[1] >= h - 1:
        return None
    off = np.array([rng.uniform(-lo[0], w - 1 - hi[0]), rng.uniform(-lo[1], h - 1 - hi[1])])
    return pts + off


def _draw_strokes(
    strokes: list[tuple[np.ndarray, np.ndarray, np.ndarray]], w: int, h: int, pad: int
) -> tuple[np.ndarray, int, int]:
    """Rasterise polylines (points, per-segment width px, per-segment strength 0..1) into an anti-aliased patch."""
    allp = np.concatenate([s[0] for s in strokes])
    x0, y0 = max(0, int(allp[:, 0].min()) - pad), max(0, int(allp[:, 1].min()) - pad)
    x1, y1 = min(w, int(allp[:, 0].max()) + pad + 1), min(h, int(allp[:, 1].max()) + pad + 1)
    ss = SUPERSAMPLE
    canvas = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), np.uint8)
    for pts, widths, strength in strokes:
        # 2 fractional bits on top of the supersampling keep the line position sub-pixel exact
        fp = np.rint((pts - [x0, y0] + 0.5) * ss * 4 - 0.5 * 4).astype(np.int32)
        for i in range(len(fp) - 1):
            thick = max(1, round(float(widths[i]) * ss))
            val = round(255 * float(strength[i]))
            cv2.line(canvas, tuple(fp[i]), tuple(fp[i + 1]), val, thick, cv2.LINE_AA, 2)
    mask = cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return mask, x0, y0


def scratch(rng: np.random.Generator, w: int, h: int) -> Patch:
    """A tool or handling scratch: a thin, slightly bowed line, brighter or darker than the surface."""
    s = w / REFERENCE_WIDTH
    length = _u(rng, SCRATCH_LENGTH) * w
    width = _u(rng, SCRATCH_WIDTH_AT_256) * s
    contrast = _u(rng, SCRATCH_CONTRAST) * (1.0 if rng.random() < 0.5 else -1.0)
    bow = float(rng.uniform(-0.05, 0.05)) * length
    t = np.linspace(0.0, 1.0, 25)
    placed = None
    for _ in range(40):
        angle = float(rng.uniform(0.0, math.pi))
        d, n = np.array([math.cos(angle), math.sin(angle)]), np.array([-math.sin(angle), math.cos(angle)])
        pts = np.outer(t - 0.5, d) * length + np.outer(4 * t * (1 - t) - 0.5, n) * bow
        placed = _place(rng, pts, w, h, width + 2)
        if placed is not None:
            break
    if placed is None:  # only very wide-and-short frames get here; a horizontal line always fits
        angle, pts = 0.0, np.stack([(t - 0.5) * length, np.zeros_like(t)], axis=1)
        placed = _place(rng, pts, w, h, width + 2)
        assert placed is not None
    mid = 0.5 * (t[:-1] + t[1:])
    # scratches fade in and out where the tool touched down and lifted off; in between they hold the full contrast
    strength = np.clip(np.minimum(mid, 1 - mid) / 0.06, 0.35, 1.0)
    mask, x0, y0 = _draw_strokes([(placed, np.full(len(mid), width), strength)], w, h, int(width) + 3)
    params = {
        "length_px": length,
        "length_frac": length / w,
        "width_px": width,
        "width_at_256": width / s,
        "contrast": contrast,
        "polarity": "bright" if contrast > 0 else "dark",
        "angle_deg": math.degrees(angle),
        "bow_px": bow,
    }
    return mask * contrast, x0, y0, params


def _jagged(rng: np.random.Generator, length: float, n_seg: int, jag: float) -> np.ndarray:
    """A polyline whose ends are `length` apart along x, wandering sideways in sharp random steps."""
    xs = np.sort(rng.uniform(0.0, 1.0, n_seg - 1))
    xs = np.concatenate([[0.0], xs, [1.0]]) * length
    lat = np.cumsum(rng.normal(0.0, jag, n_seg + 1))
    lat -= lat[0] + (lat[-1] - lat[0]) * xs / length  # pin both ends to the axis: end-to-end is exactly `length`
    return np.stack([xs - length / 2, lat], axis=1)


def crack(rng: np.random.Generator, w: int, h: int) -> Patch:
    """A fatigue or quench crack: a thin dark jagged polyline tapering to its tips, sometimes with a branch."""
    s = w / REFERENCE_WIDTH
    length = _u(rng, CRACK_LENGTH) * w
    width = _u(rng, CRACK_WIDTH_AT_256) * s
    depth = _u(rng, CRACK_DEPTH)
    n_seg = int(rng.integers(7, 19))
    jag = float(rng.uniform(0.03, 0.07)) * length
    base = _jagged(rng, length, n_seg, jag)
    has_branch = bool(rng.random() < 0.35)
    b_len = float(rng.uniform(0.15, 0.35)) * length
    b_at = int(rng.integers(2, n_seg - 1))
    b_ang = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.1))
    branch = _jagged(rng, b_len, 5, jag * 0.6) + np.array([b_len / 2, 0.0])
    branch = branch @ np.array([[math.cos(b_ang), math.sin(b_ang)], [-math.sin(b_ang), math.cos(b_ang)]]) + base[b_at]
    placed = None
    for _ in range(60):
        angle = float(rng.uniform(0.0, math.pi))
        rot = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
        shape = np.concatenate([base, branch]) if has_branch else base
        placed = _place(rng, shape @ rot, w, h, width + 2)
        if placed is not None:
            break
    if placed is None:
        raise RuntimeError(f"crack of {length:.0f} px does not fit a {w}x{h} frame")
    main, br = placed[: len(base)], placed[len(base) :]
    mid = np.linspace(0.0, 1.0, n_seg)
    taper = np.clip(np.minimum(mid, 1 - mid) / 0.2, 0.4, 1.0)  # cracks close up towards their tips
    strokes = [(main, width * taper, rng.uniform(0.75, 1.0, n_seg))]
    if has_branch:
        strokes.append((br, np.full(5, 0.7 * width), np.full(5, 0.8)))
    mask, x0, y0 = _draw_strokes(strokes, w, h, int(width) + 3)
    path = float(np.linalg.norm(np.diff(base, axis=0), axis=1).sum())
    params = {
        "length_px": length,
        "length_frac": length / w,
        "path_length_px": path,
        "width_px": width,
        "width_at_256": width / s,
        "contrast": -depth,
        "segments": n_seg,
        "angle_deg": math.degrees(angle),
        "branch": has_branch,
    }
    return -depth * np.minimum(mask, 1.0), x0, y0, params


def _blob(rng: np.random.Generator, n: int, radius: float, harmonics: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised radius ρ (1 on a wobbly outline) over an n x n grid centred on the shape, and the grid radius."""
    c = (n - 1) / 2
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) - np.float32(c)
    phi = np.arctan2(yy, xx)
    wobble = np.ones_like(phi)
    for k in (2, 3, 4, 5):
        wobble += float(rng.uniform(0, harmonics)) / k * np.cos(k * phi + float(rng.uniform(0, 2 * math.pi)))
    r = np.hypot(xx, yy)
    return r / (radius * wobble), r


def pit(rng: np.random.Generator, w: int, h: int) -> Patch:
    """A corrosion or porosity pit: a dark, roughly round blob with a soft edge and a faint raised rim."""
    diameter = _u(rng, PIT_DIAMETER) * w
    depth = _u(rng, PIT_DEPTH)
    aspect = float(rng.uniform(0.75, 1.0))
    soft = float(rng.uniform(0.08, 0.2))
    rim = float(rng.uniform(0.0, 0.3))
    n = math.ceil(diameter * 2.4) + 6  # wide enough that the soft edge has died out at the patch border
    rho, _ = _blob(rng, n, diameter / 2, 0.15)
    ang = float(rng.uniform(0, 180))
    # squash to an ellipse; recentring the affine keeps the blob centred in the patch
    # squash one axis to `aspect` (inverse map: the major axis keeps the drawn diameter), centre fixed
    m = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), ang, 1.0)
    m[:, :2] = m[:, :2] @ np.diag([1.0, 1.0 / aspect])
    m[:, 2] = (n - 1) / 2 - m[:, :2] @ [(n - 1) / 2, (n - 1) / 2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    rho = cv2.warpAffine(rho, m, (n, n), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    core = 1.0 / (1.0 + np.exp((rho - 1.0) / soft))
    ring = np.exp(-(((rho - 1.3) / 0.2) ** 2))
    delta = (-depth * core + rim * depth * ring).astype(np.float32)
    x0 = int(rng.integers(1, w - n - 1))
    y0 = int(rng.integers(1, h - n - 1))
    params = {
        "diameter_px": diameter,
        "diameter_frac": diameter / w,
        "aspect": aspect,
        "contrast": -depth,
        "edge_softness": soft,
        "rim_frac": rim,
    }
    return delta, x0, y0, params


def stain(rng: np.random.Generator, w: int, h: int) -> Patch:
    """A coolant, oil or fingerprint residue: a smooth low-contrast blotch, usually darker, sometimes a tide mark."""
    diameter = _u(rng, STAIN_DIAMETER) * w
    contrast = _u(rng, STAIN_CONTRAST) * (-1.0 if rng.random() < 0.75 else 1.0)
    tide = float(rng.uniform(0.0, 0.5)) if rng.random() < 0.4 else 0.0
    g = 25  # shape on a coarse grid, upsampled: a stain has no sharp detail by definition
    rho, _ = _blob(rng, g, g / 3.2, 0.35)
    inside = 1.0 / (1.0 + np.exp((rho - 1.0) / 0.15))
    field: np.ndarray = inside * (1.0 + 0.25 * rng.normal(0, 1, (g, g))) + tide * np.exp(-(((rho - 0.95) / 0.1) ** 2))
    field = cv2.GaussianBlur(field.astype(np.float32), (0, 0), 1.0)
    n = math.ceil(diameter * g / (2 * g / 3.2))
    field = cv2.resize(field, (n, n), interpolation=cv2.INTER_CUBIC)
    field = np.clip(field - 0.03, 0.0, None)  # the logistic tail would otherwise leave a step at the patch border
    field /= float(field.max())
    x0 = int(rng.integers(0, max(1, w - n)))
    y0 = int(rng.integers(0, max(1, h - n)))
    params = {
        "diameter_px": diameter,
        "diameter_frac": diameter / w,
        "contrast": contrast,
        "polarity": "bright" if contrast > 0 else "dark",
        "tide_mark": tide,
    }
    return (contrast * field).astype(np.float32), x0, y0, params


DRAW = {"scratch": scratch, "pit": pit, "crack": crack, "stain": stain}
