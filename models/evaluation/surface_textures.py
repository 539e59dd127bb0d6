"""Clean-room metal surface backgrounds for the quality-inspection evaluation set: textures, lighting, exposure."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

TEXTURES: tuple[str, ...] = ("brushed", "lathe", "cross_hatch", "bead_blast", "milling")
# Directional textures: a scratch is sometimes laid along their grain, where it is hardest to see.
DIRECTIONAL: frozenset[str] = frozenset({"brushed", "cross_hatch", "milling"})
MAX_LIGHT_DEVIATION = 0.25


def _r(x: float) -> float:
    return round(float(x), 4)


def _normalise(a: np.ndarray) -> np.ndarray:
    mean, std = cv2.meanStdDev(a)
    return (a - float(mean[0, 0])) * (1.0 / max(float(std[0, 0]), 1e-6))


def _noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Unit-variance uniform noise: every use below is blurred, which makes it Gaussian enough and is 3x cheaper."""
    return (rng.random(shape, dtype=np.float32) - 0.5) * math.sqrt(12.0)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def _streaks(rng: np.random.Generator, h: int, w: int, angle_deg: float) -> np.ndarray:
    """Unit-variance streaks along angle_deg: box-blurred noise on an oversized canvas, rotated into the frame."""
    side = math.ceil(math.hypot(h, w)) + 4
    k = 4  # streaks are long, so the canvas is sampled 4x coarser along them and stretched by the warp
    cols = side // k + 2
    noise = _noise(rng, (side, cols))
    # A few deep strokes per hundred rows, as an abrasive belt leaves, on top of the fine grain.
    noise += rng.standard_normal((side, 1), dtype=np.float32) * float(rng.uniform(0.3, 1.2))
    length = max(2, int(cols * rng.uniform(0.04, 0.25)))
    streak = cv2.blur(noise, (length, 1), borderType=cv2.BORDER_REFLECT)
    a = math.radians(angle_deg)
    # Output pixel (x, y) -> canvas: rotate about the frame centre, then squeeze by k along the streaks.
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * np.array([[1 / k], [1.0]])
    centre_in = np.array([cols / 2.0, side / 2.0])
    m = np.hstack([rot, (centre_in - rot @ np.array([w / 2.0, h / 2.0]))[:, None]])
    out = cv2.warpAffine(
        streak, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
    )
    return _normalise(out)


def _coarse(field: Callable[[np.ndarray, np.ndarray], np.ndarray], h: int, w: int) -> np.ndarray:
    """A smooth scalar field evaluated on a 4x coarser grid and interpolated, to save transcendental maths."""
    gh, gw = h // 4 + 2, w // 4 + 2
    xs, ys = _grid(gh, gw)
    return cv2.resize(field(xs * 4.0, ys * 4.0), (gw * 4, gh * 4), interpolation=cv2.INTER_LINEAR)[:h, :w]


def _lookup(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Linear interpolation of a 1-D table at fractional indices (cv2.remap does it in one C pass)."""
    return cv2.remap(
        table[None, :].astype(np.float32),
        index,
        np.zeros_like(index),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _lathe(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, dict[str, Any]]:
    # Centre often far outside the frame, so the turning marks show as gentle arcs rather than full rings.
    dist = rng.uniform(0.0, 3.0) * max(h, w)
    phi = rng.uniform(0, 2 * math.pi)
    cx, cy = w / 2 + dist * math.cos(phi), h / 2 + dist * math.sin(phi)
    r = _coarse(lambda xs, ys: np.hypot(xs - cx, ys - cy), h, w)
    n = int(r.max()) + 3
    period = rng.uniform(2.0, 6.0) * w / 256.0
    k = np.arange(n, dtype=np.float32)
    prof = np.sin(2 * np.pi * k / period).astype(np.float32) * rng.uniform(0.4, 1.0)
    rings = cv2.GaussianBlur(rng.standard_normal((1, n), dtype=np.float32), (0, 0), 1.0)[0]
    out = _lookup(prof + rings * 1.5, r)
    return _normalise(out), {"centre_px": [_r(cx), _r(cy)], "period_px": _r(period)}


def _milling(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, dict[str, Any]]:
    # Face-milling: equally spaced arcs of the cutter radius, advanced by one feed per revolution.
    alpha = rng.uniform(0, 2 * math.pi)
    radius = rng.uniform(0.6, 2.5) * max(h, w)
    feed = rng.uniform(3.0, 9.0) * w / 256.0
    v0 = float(rng.uniform(-0.5, 0.5) * max(h, w))

    def phase_of(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        u = xs * math.cos(alpha) + ys * math.sin(alpha)
        v = -xs * math.sin(alpha) + ys * math.cos(alpha) - v0
        return (u + radius - np.sqrt(np.maximum(radius * radius - v * v, 0.0))) / feed

    phase = _coarse(phase_of, h, w)
    phase -= float(phase.min())
    steps = 16  # table samples per feed period
    passes = int(phase.max()) + 2
    j = np.arange(passes * steps)
    gains = rng.uniform(0.5, 1.5, size=passes)
    table = gains[j // steps] * np.cos(2 * np.pi * (j % steps) / steps) ** 3
    out = _lookup(table, phase * steps)
    params = {"grain_angle_deg": _r(math.degrees(alpha) + 90), "feed_px": _r(feed), "radius_px": _r(radius)}
    return _normalise(out), params


def _pattern(rng: np.random.Generator, kind: str, h: int, w: int) -> tuple[np.ndarray, dict[str, Any]]:
    if kind == "brushed":
        angle = float(rng.uniform(0, 180))
        # cv2 rotates counter-clockwise on screen; in image (x right, y down) coordinates the grain runs at -angle.
        return _streaks(rng, h, w, angle), {"grain_angle_deg": _r(-angle)}
    if kind == "cross_hatch":
        a1 = float(rng.uniform(0, 180))
        a2 = a1 + float(rng.uniform(35, 90))
        hatch = _streaks(rng, h, w, a1) + float(rng.uniform(0.5, 1.0)) * _streaks(rng, h, w, a2)
        return _normalise(hatch), {"grain_angle_deg": _r(-a1), "second_grain_angle_deg": _r(-a2)}
    if kind == "bead_blast":
        sigma = float(rng.uniform(0.6, 1.5)) * max(1.0, w / 384.0)
        n = _noise(rng, (h, w))
        beads = (
            _normalise(cv2.GaussianBlur(n, (0, 0), sigma)) + (n > 1.731).astype(np.float32) * 2.5
        )  # sparse glints (0.05%) from single beads
        return _normalise(beads), {"grain_sigma_px": _r(sigma)}
    if kind == "lathe":
        return _lathe(rng, h, w)
    return _milling(rng, h, w)


def _lighting(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Smooth multiplicative light field within +-25%, built on a coarse grid because light has no fine detail."""
    gh, gw = max(8, round(64 * h / max(h, w))), max(8, round(64 * w / max(h, w)))
    xs, ys = _grid(gh, gw)
    xs, ys = xs / (gw - 1) * 2 - 1, ys / (gh - 1) * 2 - 1
    dev = np.zeros((gh, gw), np.float32)
    used: dict[str, Any] = {}
    if rng.random() < 0.8:
        phi, amp = rng.uniform(0, 2 * math.pi), rng.uniform(0.02, 0.2)
        dev += amp * (xs * math.cos(phi) + ys * math.sin(phi)) / math.sqrt(2)
        used["linear"] = {"angle_deg": _r(math.degrees(phi)), "amplitude": _r(amp)}
    if rng.random() < 0.4:
        cx, cy, amp = rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-0.15, 0.15)
        spread = rng.uniform(0.5, 1.5)
        dev += amp * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * spread**2))
        used["radial"] = {"centre": [_r(cx), _r(cy)], "amplitude": _r(amp)}
    if rng.random() < 0.4:
        amp = rng.uniform(0.03, 0.15)
        dev -= amp * (xs**2 + ys**2) / 2
        used["vignetting"] = _r(amp)
    if rng.random() < 0.35:
        # Soft specular band: a strip lamp reflected in the metal.
        phi, off, width, amp = (
            rng.uniform(0, math.pi),
            rng.uniform(-0.8, 0.8),
            rng.uniform(0.1, 0.4),
            rng.uniform(0.05, 0.18),
        )
        d = xs * math.cos(phi) + ys * math.sin(phi) - off
        dev += amp * np.exp(-0.5 * (d / width) ** 2)
        used["specular_band"] = {"angle_deg": _r(math.degrees(phi)), "amplitude": _r(amp), "width": _r(width)}
    dev -= float(dev.mean())
    peak = float(np.abs(dev).max())
    if peak > MAX_LIGHT_DEVIATION:
        dev *= MAX_LIGHT_DEVIATION / peak
    light = cv2.resize(1.0 + dev, (w, h), interpolation=cv2.INTER_LINEAR)
    used["min"], used["max"] = _r(light.min()), _r(light.max())
    return light, used


def background(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Float32 grey surface (texture x lighting, camera response and optics blur), mean in 85-175."""
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    pattern, tex_params = _pattern(rng, kind, h, w)
    amp = float(rng.uniform(2.5, 8.0))
    grain = cv2.GaussianBlur(_noise(rng, (h, w)), (0, 0), 0.7)
    grain_amp = float(rng.uniform(1.0, 3.5))
    mottle = cv2.resize(rng.standard_normal((6, 6)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    mottle_amp = float(rng.uniform(0.0, 5.0))
    base = float(rng.uniform(95, 165))
    light, light_params = _lighting(rng, h, w)
    surf = (base + amp * pattern + grain_amp * _normalise(grain) + mottle_amp * mottle) * light
    gamma = float(rng.uniform(0.85, 1.2))
    surf = 255.0 * np.power(np.clip(surf, 0.0, 255.0) / 255.0, 1.0 / gamma)
    mean = float(surf.mean())
    surf += float(np.clip(mean, 85.0, 175.0)) - mean  # exposure control keeps the part inside the spec's grey range
    blur = float(rng.uniform(0.0, 1.0)) if rng.random() < 0.7 else 0.0
    if blur > 0.3:
        surf = cv2.GaussianBlur(surf, (0, 0), blur)
    params = {
        "texture": kind,
        "texture_params": tex_params,
        "texture_amplitude": _r(amp),
        "grain_amplitude": _r(grain_amp),
        "mottle_amplitude": _r(mottle_amp),
        "base_grey": _r(base),
        "lighting": light_params,
        "gamma": _r(gamma),
        "blur_sigma_px": _r(blur if blur > 0.3 else 0.0),
    }
    return surf.astype(np.float32), params
