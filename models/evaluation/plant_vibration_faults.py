"""Catalogue and signal parts of the plant vibration evaluator: shaft lines, bearing impacts, untrained faults."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

G0 = 9.80665
RING_TAUS = 7.0  # ringing is cut after 7 decay constants, where it has fallen below 0.1 % of its peak
BEARING_STATES = ("outer_race", "inner_race", "ball")
# Published geometries (dataset papers, catalogue drawings): balls, ball and pitch diameter mm, contact angle deg.
BEARINGS: tuple[tuple[str, int, float, float, float], ...] = (
    ("SKF 6205-2RS JEM (CWRU drive end)", 9, 7.94, 39.04, 0.0),
    ("SKF 6203-2RS JEM (CWRU fan end)", 8, 6.75, 28.50, 0.0),
    ("Rexnord ZA-2115 (IMS)", 16, 8.41, 71.50, 15.17),
    ("NICE (MFPT)", 8, 5.97, 31.62, 0.0),
    ("LDK UER204 (XJTU-SY)", 8, 7.92, 34.55, 0.0),
    ("NSK 6804 (PRONOSTIA)", 13, 3.50, 25.60, 0.0),
    ("6206 deep groove", 9, 9.53, 46.40, 0.0),
    ("6308 deep groove", 8, 15.08, 65.00, 0.0),
    ("6310 deep groove", 8, 19.05, 80.00, 0.0),
    ("6316 deep groove", 8, 28.58, 125.00, 0.0),
    ("7206 BEP angular contact", 13, 9.53, 46.50, 40.0),
    ("NU 208 cylindrical roller", 14, 11.00, 60.00, 0.0),
)
DAQ_RATES = (10240.0, 12000.0, 12800.0, 16384.0, 20000.0, 20480.0, 25000.0, 25600.0)
# Mounted resonance (Hz) and its Q: a stud rings above every band here, a two-rail magnet low in the band.
MOUNTS = {"stud": (22e3, 32e3, 15.0, 30.0), "adhesive": (10e3, 16e3, 5.0, 12.0), "magnet": (5.5e3, 9e3, 3.0, 6.0)}
UNTRAINED: tuple[str, ...] = (
    "mechanical_looseness",  # loose foot or bearing fit: many whole and half shaft harmonics
    "gear_mesh_wear",  # worn or eccentric pinion: mesh frequency with 1x sidebands
    "electrical_twice_line",  # stator eccentricity or soft iron: 2x line frequency with pole-pass beating
    "pump_cavitation",  # collapsing vapour bubbles: bursty broadband hiss above 1.5 kHz, nothing shaft-locked
    "belt_wear",  # worn or cracked drive belt: sub-synchronous belt-pass frequency and harmonics
)


@dataclass(frozen=True)
class Scene:
    """What every component needs about one window: time, shaft revolutions and the machine's own scale."""

    t: np.ndarray  # seconds, including the pre-roll before the window
    rev: np.ndarray  # cumulative shaft revolutions at each sample (speed ripple included)
    fs: float
    f0: float  # true mean shaft frequency, Hz
    v1: float  # the machine's residual 1x, mm/s rms
    sigma: float  # broadband noise rms in g
    line_hz: float
    poles: int


def lerp(a: float, b: float, s: float) -> float:
    return a + (b - a) * s


def logu(rng: np.random.Generator, a: float, b: float) -> float:
    return float(math.exp(rng.uniform(math.log(a), math.log(b))))


def accel_g(v_mm_s: float, f_hz: float) -> float:
    """Peak acceleration (g) of a sinusoid with rms velocity v_mm_s; ISO 20816 zones are stated in mm/s rms."""
    return math.sqrt(2.0) * v_mm_s * 1e-3 * 2.0 * math.pi * f_hz / G0


def fault_orders(bearing: dict[str, float]) -> dict[str, float]:
    """Kinematic (no-slip) fault frequencies over shaft frequency, from the textbook formulas."""
    d, pitch = bearing["ball_diameter_mm"], bearing["pitch_diameter_mm"]
    ratio = d / pitch * math.cos(math.radians(bearing["contact_angle_deg"]))
    n = bearing["balls"]
    bsf = pitch / (2 * d) * (1 - ratio * ratio)
    return {"ftf": 0.5 * (1 - ratio), "bsf": bsf, "bpfo": n / 2 * (1 - ratio), "bpfi": n / 2 * (1 + ratio)}


def tones(sc: Scene, lines: dict[float, tuple[float, float]]) -> np.ndarray:
    """Shaft-locked lines {order: (mm/s rms, phase)} in g; they follow the real, rippling shaft angle."""
    out = np.zeros_like(sc.t)
    for order, (v, phase) in lines.items():
        out += accel_g(v, order * sc.f0) * np.sin(2 * np.pi * order * sc.rev + phase)
    return out


def resonance(freqs: np.ndarray, f_n: float, q: float) -> np.ndarray:
    """Complex response of a single mode normalised to 1 at its peak (band-pass shape)."""
    x = np.maximum(freqs, 1e-3) / f_n
    return 1.0 / (1.0 + 1j * q * (x - 1.0 / x))


def draw(state: str, rng: np.random.Generator, s: float) -> dict[str, float]:
    """Per-episode fault constants; severity s in [0, 1] goes from barely visible to clear."""
    if state in BEARING_STATES:
        return {
            "slip": rng.uniform(0.0, 0.015),  # the cage lags its rolling-without-slip speed under light load
            "jitter": rng.uniform(0.01, 0.02),  # random slip: each impact interval varies by 1-2 % (std)
            "peak_snr": 10.0**s,  # impact peak 1-10x the broadband rms: barely visible to clear
            "spread": rng.uniform(0.1, 0.25),  # impact-to-impact amplitude scatter (log std)
            "zone_floor": rng.uniform(0.05, 0.35),  # impacts outside the load zone are weaker, not absent
            "zone_power": rng.uniform(1.0, 3.0),
            "zone_phase": rng.uniform(0, 2 * np.pi),
            "alternate": rng.uniform(0.7, 1.0),  # a ball defect strikes inner then outer race, near equally
        }
    if state == "imbalance":
        return {"phase": rng.uniform(-0.6, 0.6)}  # the added mass moves the 1x phase a little
    if state == "misalignment":
        return {
            "gain_1x": lerp(1.15, 1.8, s),  # axial 1x from the coupling's angular offset leaks into the sensor axis
            "ratio_2x": lerp(0.9, 3.0, s),  # 2x over the residual 1x: textbook misalignment is 2x >= 50-150 % of 1x
            "ratio_3x": rng.uniform(0.2, 0.5),
            "ratio_4x": rng.uniform(0.05, 0.2),
            "phase_1x": rng.uniform(-0.5, 0.5),
        }
    if state == "mechanical_looseness":
        return {"level": lerp(0.5, 1.3, s), "decay": rng.uniform(0.6, 1.0), "half": rng.uniform(0.4, 0.8)}
    if state == "gear_mesh_wear":
        return {"teeth": float(rng.integers(17, 54)), "snr": lerp(2.0, 7.0, s), "depth": rng.uniform(0.3, 0.7)}
    if state == "electrical_twice_line":
        return {"v_mm_s": lerp(0.7, 3.0, s), "slip": rng.uniform(0.01, 0.03), "beat": rng.uniform(0.2, 0.5)}
    if state == "pump_cavitation":
        return {"snr": lerp(1.5, 5.0, s), "burst_ms": rng.uniform(3.0, 30.0)}
    if state == "belt_wear":
        return {"ratio": rng.uniform(0.2, 0.45), "level": lerp(0.8, 2.5, s), "belt_slip": rng.uniform(0.0, 0.02)}
    return {}


def _zone(angle: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Load-zone weighting of an impact by where the defect is when it strikes."""
    lobe = (0.5 * (1 + np.cos(angle + p["zone_phase"]))) ** p["zone_power"]
    return p["zone_floor"] + (1 - p["zone_floor"]) * lobe


def _ring(
    sc: Scene, at_time: np.ndarray, amps: np.ndarray, modes: tuple[tuple[float, float, float], ...]
) -> np.ndarray:
    """Each impact rings the bearing/housing modes (Hz, damping ratio, share) from its exact (sub-sample) time."""
    slowest = max(1.0 / (z * 2 * math.pi * f) for f, z, _ in modes)
    length = int(RING_TAUS * slowest * sc.fs) + 1
    first = np.ceil((at_time - sc.t[0]) * sc.fs).astype(int)
    idx = first[:, None] + np.arange(length)[None, :]
    lag = sc.t[0] + idx / sc.fs - at_time[:, None]
    resp = np.zeros(lag.shape)
    for f, z, share in modes:
        resp += share * np.exp(-z * 2 * math.pi * f * lag) * np.sin(2 * math.pi * f * math.sqrt(1 - z * z) * lag)
    keep = idx < sc.t.size
    return np.bincount(idx[keep], weights=(amps[:, None] * resp)[keep], minlength=sc.t.size)


def bearing_fault(
    state: str,
    sc: Scene,
    rng: np.random.Generator,
    bearing: dict[str, float],
    modes: tuple[tuple[float, float, float], ...],
    p: dict[str, float],
) -> np.ndarray:
    """Impacts at BPFO, BPFI (1x load-zone modulation) or 2xBSF (FTF modulation) with slip, in g."""
    o = fault_orders(bearing)
    ftf = o["ftf"] * (1 - p["slip"])
    # with the cage slipping BPFO = N*FTF drops, BPFI = N*(1 - FTF) rises, ball spin drops
    per_rev = {"outer_race": bearing["balls"] * ftf, "inner_race": bearing["balls"] * (1 - ftf)}
    step = 1.0 / per_rev.get(state, 2 * o["bsf"] * (1 - p["slip"]))
    span = sc.rev[-1] - sc.rev[0]
    steps = step * (1 + p["jitter"] * rng.standard_normal(int(span / step * 1.2) + 3))
    at = sc.rev[0] + rng.uniform(0, step) + np.concatenate(([0.0], np.cumsum(steps[:-1])))
    at = at[at < sc.rev[-1]]
    amps = np.exp(p["spread"] * rng.standard_normal(at.size))
    if state == "inner_race":  # the defect turns with the shaft through the load zone: 1x modulation
        amps *= _zone(2 * np.pi * at, p)
    elif state == "ball":  # the defective ball travels with the cage through the load zone: FTF modulation
        amps *= _zone(2 * np.pi * ftf * at, p)
        amps[::2] *= p["alternate"]
    return p["peak_snr"] * sc.sigma * _ring(sc, np.interp(at, sc.rev, sc.t), amps, modes)


def untrained(state: str, sc: Scene, rng: np.random.Generator, p: dict[str, float]) -> np.ndarray:
    """Patterns the trained model never saw, each with its textbook signature, in g."""
    if state == "mechanical_looseness":
        # truncated, rattling response: whole orders 1-10 that decay slowly plus the half orders between them
        lines = {float(k): (sc.v1 * p["level"] * k ** -p["decay"], rng.uniform(0, 2 * np.pi)) for k in range(1, 11)}
        for k in range(1, 11):
            lines[k - 0.5] = (lines[float(k)][0] * p["half"] * rng.uniform(0.6, 1.0), rng.uniform(0, 2 * np.pi))
        return tones(sc, lines)
    if state == "gear_mesh_wear":
        teeth = p["teeth"]
        while teeth * sc.f0 * 1.1 > 0.38 * sc.fs:  # a smaller pinion when the mesh would pass the DAQ band
            teeth = round(teeth * 0.7)
        mesh = 2 * np.pi * teeth * sc.rev
        shaft = 2 * np.pi * sc.rev
        am = 1 + sum(p["depth"] * 0.55**m * np.cos(m * shaft + rng.uniform(0, 6.3)) for m in range(1, 4))
        second = (
            rng.uniform(0.3, 0.6) * np.sin(2 * mesh + rng.uniform(0, 6.3)) if 2.2 * teeth * sc.f0 < 0.38 * sc.fs else 0
        )
        return p["snr"] * sc.sigma * am * (np.sin(mesh) + second)
    if state == "electrical_twice_line":
        # magnetic pull at 2x line frequency, beating at the pole-pass frequency (poles x slip frequency)
        f_pp = sc.poles * p["slip"] * sc.f0
        beat = 1 + p["beat"] * np.cos(2 * np.pi * f_pp * sc.t + rng.uniform(0, 6.3))
        two_lf = accel_g(p["v_mm_s"], 2 * sc.line_hz) * np.sin(2 * np.pi * 2 * sc.line_hz * sc.t + rng.uniform(0, 6.3))
        side = tones(sc, {1.0: (sc.v1 * p["beat"], rng.uniform(0, 6.3))}) * np.cos(2 * np.pi * f_pp * sc.t)
        return beat * two_lf + side
    if state == "pump_cavitation":
        freqs = np.fft.rfftfreq(sc.t.size, 1 / sc.fs)
        hiss = np.fft.irfft(np.fft.rfft(rng.standard_normal(sc.t.size)) * (freqs > 1500), sc.t.size)
        # random bursts: smoothed log-normal envelope with a time constant of a few to tens of ms, nothing periodic
        k = max(1, int(p["burst_ms"] * 1e-3 * sc.fs))
        env = np.exp(0.6 * np.convolve(rng.standard_normal(sc.t.size), np.ones(k) / math.sqrt(k), mode="same"))
        out = hiss * env
        return p["snr"] * sc.sigma * out / float(out.std())
    if state == "belt_wear":
        # belt pass frequency = pi * pulley diameter * shaft speed / belt length, below 1x; 2x belt dominates
        belt = p["ratio"] * (1 - p["belt_slip"])
        lines = {belt * k: (sc.v1 * p["level"] * (1.0 if k == 2 else rng.uniform(0.3, 0.7)), rng.uniform(0, 6.3))
                 for k in range(1, 5)}  # fmt: skip
        return tones(sc, lines)
    raise ValueError(f"unknown untrained state {state!r}")
