"""Fault and novel-pattern renderers for the clean-room vibration world, sized against each machine's own signature."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.evaluation import vibration_signals as vs


@dataclass(frozen=True, eq=False)
class FaultContext:
    """What a fault renderer may read about the window; impacts is an rfft spectrum the renderer may add to."""

    rng: np.random.Generator
    n: int
    fs: float
    fr: float  # true mean shaft speed, Hz
    revs: np.ndarray
    amps: np.ndarray  # this window's residual 1x/2x/3x peak g
    nominal: np.ndarray  # the machine's nominal residual 1x/2x/3x peak g
    phases: np.ndarray
    shaft: np.ndarray  # the residual shaft series in time
    noise_g: float
    noise_spec: np.ndarray  # rfft of this window's broadband noise, to size impacts against the floor they must beat
    bearing: dict[str, float]
    machine: dict[str, Any]
    impacts: np.ndarray


def _set_orders(ctx: FaultContext, targets: dict[int, float]) -> np.ndarray:
    """Signal that lifts orders 1-3 to target peak g in phase with the residual (so the total is the target)."""
    orders = np.array(list(targets), dtype=float)
    add = np.array([t - (ctx.amps[o - 1] if o <= 3 else 0.0) for o, t in targets.items()])
    ph = np.array([ctx.phases[o - 1] if o <= 3 else ctx.rng.uniform(0, 2 * np.pi) for o in targets])
    return vs.tones(ctx.revs, orders, add, ph)


def _bearing(ctx: FaultContext, kind: str, s: float) -> dict[str, Any]:
    """Impacts at the defect frequency (with slip and jitter) ringing the housing mode, load-zone modulated."""
    orders = vs.bearing_orders(ctx.bearing)
    rate = {"outer_race": orders["bpfo"], "inner_race": orders["bpfi"], "ball": 2 * orders["bsf"]}[kind]
    rate *= 1.0 - ctx.machine["slip"]
    idx = vs.impact_times(ctx.rng, ctx.revs * rate, jitter=ctx.rng.uniform(0.005, 0.02))
    fn = ctx.machine["bearing_mode_hz"] * ctx.rng.uniform(0.98, 1.02)
    freqs = np.fft.rfftfreq(ctx.n, 1 / ctx.fs)
    in_band = np.abs(freqs - fn) < 0.25 * fn
    floor = vs.rfft_rms(np.where(in_band, ctx.noise_spec, 0), ctx.n)
    # Sized against the noise in the ringing band (what an analyst's envelope sees): incipient rings a few times
    # above that floor, clear ones tower over it.
    peak = floor * (6.0 + 14.0 * s)
    peaks = peak * ctx.rng.lognormal(0.0, 0.25, size=idx.size)
    m = ctx.rng.uniform(0.5, 1.0)
    if kind == "inner_race":
        peaks *= 1 - m / 2 + m / 2 * np.cos(2 * np.pi * ctx.revs[idx] + ctx.rng.uniform(0, 2 * np.pi))
    elif kind == "ball":
        cage = ctx.revs[idx] * orders["ftf"] * (1.0 - ctx.machine["slip"])
        peaks *= 1 - m / 2 + m / 2 * np.cos(2 * np.pi * cage + ctx.rng.uniform(0, 2 * np.pi))
    vs.ringing_impacts(ctx.n, ctx.fs, idx, peaks, fn, ctx.machine["bearing_mode_zeta"], ctx.impacts)
    return {"fault_hz": rate * ctx.fr, "impact_peak_g": peak, "modulation": m, "resonance_hz": fn}


def render_fault(ctx: FaultContext, state: str, s: float, k_imb: float | None) -> tuple[np.ndarray, dict[str, Any]]:
    """(time-domain fault signal, extra params); bearing impacts go into ctx.impacts instead."""
    rng, a1 = ctx.rng, float(ctx.nominal[0])
    zero = np.zeros(ctx.n)
    if state == "healthy":
        return zero, {}
    if state in ("outer_race", "inner_race", "ball"):
        return zero, _bearing(ctx, state, s)
    if state == "imbalance":
        # 3x the machine's own 1x (~10 dB) is the mildest an analyst would call; 12x is a clear case.
        k = float(k_imb) if k_imb is not None else 3.0 * 4.0**s
        return _set_orders(ctx, {1: k * a1}), {"imbalance_factor": k, "fault_hz": ctx.fr}
    if state == "misalignment":
        one = a1 * (1.4 + 1.2 * s)
        two = one * (1.0 + 1.0 * s) * rng.uniform(1.0, 1.2)
        targets = {1: one, 2: two, 3: two * rng.uniform(0.25, 0.5), 4: two * rng.uniform(0.05, 0.2)}
        return _set_orders(ctx, targets), {"fault_hz": 2 * ctx.fr, "ratio_2x_1x": two / one}
    if state == "looseness":
        h = np.arange(1, 11, dtype=float)
        half = np.arange(0.5, 6.0, 1.0)
        amp = a1 * (2.0 + 4.0 * s)
        orders = np.concatenate([h, half])
        amps = np.concatenate([amp * h**-0.7, amp * rng.uniform(0.25, 0.6) * half**-0.7]) * rng.lognormal(0, 0.2, 16)
        raw = ctx.shaft + vs.tones(ctx.revs, orders, amps, rng.uniform(0, 2 * np.pi, 16))
        # A rocking foot or loose cap stops the motion on one side: a one-sided truncated waveform.
        level = raw.max() * rng.uniform(0.45, 0.75)
        return np.minimum(raw, level) - ctx.shaft, {"fault_hz": ctx.fr, "clip_level_g": float(level)}
    if state == "gear_mesh":
        z = int(ctx.machine["gear_teeth"])
        gm = a1 * (2.0 + 6.0 * s)
        orders = np.array([z, z - 1, z + 1, z - 2, z + 2, 2 * z, 2 * z - 1, 2 * z + 1], dtype=float)
        rel = np.array(
            [
                1.0,
                *rng.uniform(0.2, 0.6, 2),
                *rng.uniform(0.05, 0.25, 2),
                rng.uniform(0.3, 0.6),
                *rng.uniform(0.1, 0.3, 2),
            ]
        )
        return vs.tones(ctx.revs, orders, gm * rel, rng.uniform(0, 2 * np.pi, 8)), {"fault_hz": z * ctx.fr, "teeth": z}
    if state == "electrical":
        # Stator eccentricity / soft-foot: strong 2x line frequency beating at the pole-pass frequency.
        line = ctx.machine["line_hz"]
        amp = max(a1, ctx.machine["hum_g"][1]) * (3.0 + 6.0 * s)
        t = np.arange(ctx.n) / ctx.fs
        fp = rng.uniform(0.5, 4.0)
        env = 1.0 + rng.uniform(0.2, 0.5) * np.cos(2 * np.pi * fp * t)
        sig = (
            env
            * amp
            * (np.cos(2 * np.pi * 2 * line * t + rng.uniform(0, 6.3)) + 0.2 * np.cos(4 * np.pi * 2 * line * t))
        )
        return sig, {"fault_hz": 2 * line, "pole_pass_hz": fp}
    if state == "cavitation":
        # Collapsing bubbles: random bursts of impacts ringing a high mode, in slow irregular clouds.
        dur = ctx.n / ctx.fs
        count = rng.poisson(rng.uniform(300.0, 3000.0) * dur)
        idx = np.sort(rng.integers(0, ctx.n, size=count))
        t = idx / ctx.fs
        cloud = np.abs(np.sin(2 * np.pi * rng.uniform(0.5, 6.0) * t + rng.uniform(0, 6.3))) + 0.2
        peaks = ctx.noise_g * (1.5 + 4.0 * s) * rng.lognormal(0.0, 0.6, size=count) * cloud
        fn = rng.uniform(3000.0, 0.45 * ctx.fs)
        vs.ringing_impacts(ctx.n, ctx.fs, idx, peaks, fn, rng.uniform(0.05, 0.15), ctx.impacts)
        return zero, {"fault_hz": fn}
    raise ValueError(f"unknown state {state!r}")
