"""Signal pieces of the vibration generator: shaft angle, synchronous tones, impact trains ringing
structural modes, broadband noise, and the random draws they use."""

from __future__ import annotations

import math

import numpy as np


def uniform(rng: np.random.Generator, span: tuple[float, float]) -> float:
    """Uniform draw from a (low, high) range."""
    return float(rng.uniform(span[0], span[1]))


def log_uniform(rng: np.random.Generator, span: tuple[float, float]) -> float:
    """Log-uniform draw from a (low, high) range of positive values."""
    return float(math.exp(rng.uniform(math.log(span[0]), math.log(span[1]))))


def shaft_angle(t: np.ndarray, fr: float, wobble: float, wobble_hz: float, phase: float) -> np.ndarray:
    """Shaft angle in radians over time, with a slow speed wobble so high harmonics smear as in reality."""
    angle = 2 * np.pi * fr * t
    if wobble > 0:
        angle += fr * wobble / wobble_hz * (np.cos(phase) - np.cos(2 * np.pi * wobble_hz * t + phase))
    return angle


def sync_tones(half_turn: np.ndarray, coeffs: dict[float, complex]) -> np.ndarray:
    """Sum of Re(c e^{i k angle}) over shaft orders k (multiples of 0.5); powers of e^{i angle/2} beat cos."""
    steps = {round(2 * k): c for k, c in coeffs.items()}
    acc = np.zeros(half_turn.size, dtype=np.complex128)
    power = np.ones(half_turn.size, dtype=np.complex128)
    for j in range(1, max(steps) + 1):
        power *= half_turn
        if j in steps:
            acc += steps[j] * power
    return acc.real


def phasor(rng: np.random.Generator, amplitude: float) -> complex:
    """amplitude * e^{i phase} with a random phase."""
    return complex(amplitude * np.exp(1j * rng.uniform(0, 2 * np.pi)))


def impact_times(
    angle: np.ndarray, t: np.ndarray, order: float, jitter: float, lead_s: float, rng: np.random.Generator
) -> np.ndarray:
    """Times at which a defect passes the load: each time the shaft has turned 1/order revolution."""
    cycles = angle * order / (2 * np.pi)
    period = (t[-1] - t[0]) / max(cycles[-1] - cycles[0], 1e-9)
    # Start before the window so the ringing of earlier impacts is already present at t=0.
    lead = math.ceil(lead_s / period) + 1
    ks = np.arange(math.floor(cycles[0]) - lead, math.floor(cycles[-1]) + 1, dtype=np.float64)
    times = np.interp(ks, cycles, t)
    before = ks < cycles[0]
    times[before] = t[0] - (cycles[0] - ks[before]) * period
    return times + rng.normal(0.0, jitter * period, times.size)


def ring(times: np.ndarray, amps: np.ndarray, n: int, fs: float, modes: list[tuple[float, float, float]]) -> np.ndarray:
    """Sum of decaying resonance responses to impacts at exact (sub-sample) times."""
    out = np.zeros(n, dtype=np.float64)
    slowest = min(2 * np.pi * zeta * fn for fn, zeta, _ in modes)
    length = int(min(n, math.ceil(6.0 / slowest * fs)))  # six time constants: below 0.3% left
    j = np.arange(length, dtype=np.float64)
    starts = np.ceil(times * fs).astype(np.int64)
    keep = (starts < n) & (starts + length > 0)
    times, amps, starts = times[keep], amps[keep], starts[keep]
    if times.size == 0:
        return out
    tau = (starts[:, None] + j[None, :]) / fs - times[:, None]  # time since impact, >= 0
    resp = np.zeros_like(tau)
    for fn, zeta, gain in modes:
        wd = 2 * np.pi * fn * math.sqrt(1 - zeta * zeta)
        resp += gain * np.exp(-2 * np.pi * fn * zeta * tau) * np.sin(wd * tau)
    resp *= amps[:, None]
    idx = starts[:, None] + j[None, :].astype(np.int64)
    valid = (idx >= 0) & (idx < n)
    out += np.bincount(idx[valid], weights=resp[valid], minlength=n)[:n]
    return out


def broadband_noise(
    rng: np.random.Generator,
    n: int,
    fs: float,
    rms: float,
    tilt: float,
    res_hz: float,
    res_zeta: float,
    res_gain: float,
) -> np.ndarray:
    """Gaussian noise with a tilted PSD plus a resonance hump (rolling and flow noise ringing the structure)."""
    spec = rng.normal(size=n // 2 + 1) + 1j * rng.normal(size=n // 2 + 1)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    fc = np.maximum(f, 100.0) / 1000.0
    psd = fc**tilt
    # Lorentzian-like hump: half-power width 2*zeta*fn around the resonance.
    psd = psd * (1.0 + res_gain / (1.0 + ((f - res_hz) / (2 * res_zeta * res_hz + 1e-9)) ** 2))
    spec *= np.sqrt(psd)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x * (rms / (np.sqrt(np.mean(x * x)) + 1e-30))


def scale_to_power(x: np.ndarray, power: float) -> np.ndarray:
    """x rescaled so its mean power is `power`."""
    return x * math.sqrt(power / (float(np.mean(x * x)) + 1e-30))


def band_power(x: np.ndarray, fs: float, lo_hz: float, hi_hz: float) -> float:
    """Mean power of x between lo_hz and hi_hz (Parseval over the rfft bins in the band)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1.0 / fs)
    band = (f >= lo_hz) & (f <= hi_hz)
    return 2.0 * float(np.sum(np.abs(spec[band]) ** 2)) / (x.size * x.size)
