"""Fault and untrained-pattern signal generators for the third (independent) vibration evaluation world."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

G = 9.80665
Series = dict[float, complex]  # shaft order -> velocity phasor (mm/s peak)


@dataclass(frozen=True)
class Ctx:
    """One window's time base, shaft phase and the machine quantities a fault generator scales from."""

    fs: float
    t: np.ndarray
    theta: np.ndarray  # shaft angle in revolutions (includes speed ripple)
    fr: float  # true mean shaft frequency, Hz
    bearing: dict[str, float]
    res_hz: float
    res_zeta: float
    band_rms: float  # background rms (g) in the bearing-resonance band
    resid_1x: float  # the machine's healthy residual 1x, mm/s peak
    line_hz: float


def vel_to_g(v_mm_s: float, f_hz: float) -> float:
    """Convert a velocity amplitude (mm/s) at f_hz to an acceleration amplitude in g."""
    return float(v_mm_s) * 1e-3 * 2.0 * np.pi * f_hz / G


def bearing_orders(b: dict[str, float]) -> dict[str, float]:
    """Bearing defect frequencies as multiples of shaft speed (FTF, BSF, BPFO, BPFI)."""
    r = b["ball_diameter_mm"] / b["pitch_diameter_mm"] * np.cos(np.radians(b["contact_angle_deg"]))
    n = b["balls"]
    return {
        "ftf": float(0.5 * (1 - r)),
        "bsf": float(b["pitch_diameter_mm"] / (2 * b["ball_diameter_mm"]) * (1 - r * r)),
        "bpfo": float(n / 2 * (1 - r)),
        "bpfi": float(n / 2 * (1 + r)),
    }


def tone(ctx: Ctx, order: float, amp_g: float, phase: float) -> np.ndarray:
    """A shaft-synchronous sinusoid of amp_g at `order`, silent when it would alias."""
    if order * ctx.fr >= 0.45 * ctx.fs:
        return np.zeros_like(ctx.t)
    return amp_g * np.sin(2 * np.pi * order * ctx.theta + phase)


def render_series(ctx: Ctx, series: Series) -> np.ndarray:
    """Render a velocity phasor series (shaft orders) to acceleration in g."""
    out = np.zeros_like(ctx.t)
    for order, ph in series.items():
        out += tone(ctx, order, vel_to_g(abs(ph), order * ctx.fr), float(np.angle(ph)))
    return out


def _ringing(ctx: Ctx, n: int) -> np.ndarray:
    """Peak-normalised impulse response of the bearing/housing resonance."""
    fn, z = ctx.res_hz, ctx.res_zeta
    m = min(n, int(np.ceil(8.0 / (2 * np.pi * z * fn) * ctx.fs)) + 1)
    tt = np.arange(m) / ctx.fs
    h = np.exp(-2 * np.pi * z * fn * tt) * np.sin(2 * np.pi * fn * np.sqrt(1 - z * z) * tt)
    return h / np.max(np.abs(h))


def impact_train(
    ctx: Ctx, order: float, weight: Callable[[np.ndarray], np.ndarray], jitter: float, rng: np.random.Generator
) -> np.ndarray:
    """Impacts each time the shaft advances 1/order rev (with slip jitter), ringing the resonance (circularly)."""
    n = ctx.t.size
    k = np.floor(ctx.theta * order + rng.uniform())
    idx = np.nonzero(np.diff(k))[0] + 1
    if idx.size == 0:
        return np.zeros(n)
    period = ctx.fs / (order * ctx.fr)
    pos = np.round(idx + rng.normal(0.0, jitter * period, idx.size)).astype(int) % n
    train = np.zeros(n)
    np.add.at(train, pos, weight(ctx.theta[idx]))
    h = _ringing(ctx, n)
    return np.fft.irfft(np.fft.rfft(train) * np.fft.rfft(h, n), n)


def _impact_peak(ctx: Ctx, sev: float) -> float:
    """Impact peak in g: from ~1x (early, severity 0) to ~10x (clear, severity 1) the resonance-band background rms."""
    return ctx.band_rms * 10 ** (0.05 + 0.95 * sev)


def _outer(ctx: Ctx, sev: float, p: dict[str, Any], rng: np.random.Generator, s: Series) -> np.ndarray:
    a = _impact_peak(ctx, sev)
    o = bearing_orders(ctx.bearing)["bpfo"]
    return impact_train(ctx, o, lambda th: a * (1 + rng.normal(0, 0.1, th.size)), 0.006, rng)


def _inner(ctx: Ctx, sev: float, p: dict[str, Any], rng: np.random.Generator, s: Series) -> np.ndarray:
    a, m, ph = 1.2 * _impact_peak(ctx, sev), p["mod_depth"], p["mod_phase"]
    o = bearing_orders(ctx.bearing)["bpfi"]

    def w(th: np.ndarray) -> np.ndarray:
        return a * (1 - m + m * 0.5 * (1 + np.cos(2 * np.pi * th + ph))) * (1 + rng.normal(0, 0.1, th.size))

    return impact_train(ctx, o, w, 0.01, rng)


def _ball(ctx: Ctx, sev: float, p: dict[str, Any], rng: np.random.Generator, s: Series) -> np.ndarray:
    a, m, ph = 1.1 * _impact_peak(ctx, sev), p["mod_depth"], p["mod_phase"]
    bo = bearing_orders(ctx.bearing)

    def w(th: np.ndarray) -> np.ndarray:
        cage = 0.5 * (1 + np.cos(2 * np.pi * th * bo["ftf"] + ph))
        return a * (1 - m + m * cage) * np.abs(1 + rng.normal(0, 0.25, th.size))

    return impact_train(ctx, 2 * bo["bsf"], w, 0.015, rng)


def _imbalance(ctx: Ctx, sev: float, p: dict[str, Any], rng: np.random.Generator, s: Series) -> np.ndarray:
    s[1.0] = s[1.0] / max(abs(s[1.0]), 1e-12) * ctx.resid_1x * p["imbalance_factor"]
    return np.zeros_like(ctx.t)


def _misalignment(ctx: Ctx, sev: float, p: dict[str, Any], rng: np.random.Generator, s: Series) -> np.ndarray:
    r1, k2 = ctx.resid_1x, 1.0 + 3.0 * sev
    s[1.0] = s[1.0] + r1 * (0.3 + 0.9 * sev) * np.exp(1j * p["ph1"])  # axial 1x leaking into the radial sensor
    s[2.0] = r1 * k2 * np.exp(1j * p["ph2"])
    s[3.0] = r1 * k2 * p["r3"] * np.exp(1j * p["ph3"])
    s[4.0] = r1 * k2 * 0.1 * np.exp(1j * p["ph3"] * 2)
    return np.zeros_like(ctx.t)


def _looseness(ctx: Ctx, sev: float, p: dict[str, Any], rng: np.random.Generator, s: Series) -> np.ndarray:
    base = ctx.resid_1x * (0.6 + 2.4 * sev)
    for k in range(1, 11):
        s[float(k)] = s.get(float(k), 0j) + base * k**-0.7 * np.exp(2j * np.pi * rng.uniform())
        s[k - 0.5] = base * 0.4 * k**-0.7 * np.exp(2j * np.pi * rng.uniform())
    return np.zeros_like(ctx.t)


def _gear(ctx: Ctx, sev: float, p: dict[str, Any], rng: np.random.Generator, s: Series) -> np.ndarray:
    z, a = float(p["teeth"]), 10 ** (-1.7 + 1.2 * sev) * (ctx.fr / 30.0)
    out = np.zeros_like(ctx.t)
    for h, ah in ((1, 1.0), (2, 0.5)):
        for sb, rel in ((0, 1.0), (-1, 0.3), (1, 0.3), (-2, 0.12), (2, 0.12)):
            out += tone(ctx, h * z + sb, a * ah * rel, 2 * np.pi * rng.uniform())
    return out


def _electrical(ctx: Ctx, sev: float, p: dict[str, Any], rng: np.random.Generator, s: Series) -> np.ndarray:
    f2 = 2 * ctx.line_hz
    a2 = vel_to_g(1.0 + 4.0 * sev, f2)
    out = a2 * np.sin(2 * np.pi * f2 * ctx.t + rng.uniform(0, 2 * np.pi))
    bar = tone(ctx, float(p["bars"]), 10 ** (-2.0 + 1.0 * sev), 0.0)
    out += bar * (1 + 0.6 * np.cos(2 * np.pi * f2 * ctx.t))
    pole_pass = p["pole_pass_hz"]
    a1 = vel_to_g(ctx.resid_1x * (0.5 + 1.5 * sev), ctx.fr)
    return out + a1 * np.cos(2 * np.pi * pole_pass * ctx.t) * np.sin(2 * np.pi * ctx.theta)


def _cavitation(ctx: Ctx, sev: float, p: dict[str, Any], rng: np.random.Generator, s: Series) -> np.ndarray:
    n = ctx.t.size
    f = np.fft.rfftfreq(n, 1 / ctx.fs)
    spec = (rng.normal(size=f.size) + 1j * rng.normal(size=f.size)) * ((f > 1500) & (f < min(8000, 0.45 * ctx.fs)))
    x = np.fft.irfft(spec, n)
    x /= np.std(x) + 1e-12
    smooth = np.ones(max(1, int(0.01 * ctx.fs))) / max(1, int(0.01 * ctx.fs))
    env = np.abs(np.convolve(rng.normal(size=n), smooth, mode="same"))
    env = 0.3 + env / (np.mean(env) + 1e-12)
    x = x * env * ctx.band_rms * 10 ** (0.0 + 0.7 * sev)
    s[float(p["vanes"])] = ctx.resid_1x * (0.5 + 1.5 * sev) * np.exp(2j * np.pi * rng.uniform())
    return x


def _belt(ctx: Ctx, sev: float, p: dict[str, Any], rng: np.random.Generator, s: Series) -> np.ndarray:
    b, base = p["belt_ratio"], ctx.resid_1x * (1.0 + 3.0 * sev)
    for k, rel in ((1, 0.6), (2, 1.0), (3, 0.4), (4, 0.25)):
        s[k * b] = base * rel * np.exp(2j * np.pi * rng.uniform())
    return np.zeros_like(ctx.t)


def _none(ctx: Ctx, sev: float, p: dict[str, Any], rng: np.random.Generator, s: Series) -> np.ndarray:
    return np.zeros_like(ctx.t)


GENERATORS: dict[str, Callable[[Ctx, float, dict[str, Any], np.random.Generator, Series], np.ndarray]] = {
    "healthy": _none,
    "outer_race": _outer,
    "inner_race": _inner,
    "ball": _ball,
    "imbalance": _imbalance,
    "misalignment": _misalignment,
    "looseness": _looseness,
    "gear_mesh": _gear,
    "electrical": _electrical,
    "cavitation": _cavitation,
    "belt": _belt,
}


def draw_params(state: str, rng: np.random.Generator) -> dict[str, Any]:
    """Per-episode constants of a fault (modulation depths, phases, teeth, bars, belt ratio...)."""
    return {
        "mod_depth": float(rng.uniform(0.5, 0.9)),
        "mod_phase": float(rng.uniform(0, 2 * np.pi)),
        "ph1": float(rng.uniform(0, 2 * np.pi)),
        "ph2": float(rng.uniform(0, 2 * np.pi)),
        "ph3": float(rng.uniform(0, 2 * np.pi)),
        "r3": float(rng.uniform(0.25, 0.6)),
        "teeth": int(rng.integers(17, 62)),
        "bars": int(rng.integers(28, 53)),
        "pole_pass_hz": float(rng.uniform(0.4, 3.0)),
        "vanes": int(rng.integers(5, 9)),
        "belt_ratio": float(rng.uniform(0.25, 0.45)),
    }
