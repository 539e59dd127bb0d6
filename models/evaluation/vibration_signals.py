"""Signal pieces for the clean-room vibration world: shaft angle with ripple, tones, impacts, resonances, noise."""

from __future__ import annotations

import numpy as np

G = 9.80665  # m/s^2 per g


def bearing_orders(bearing: dict[str, float]) -> dict[str, float]:
    """Textbook defect frequencies as orders of shaft speed (multiply by shaft Hz)."""
    n = bearing["balls"]
    ratio = (
        bearing["ball_diameter_mm"] / bearing["pitch_diameter_mm"] * np.cos(np.radians(bearing["contact_angle_deg"]))
    )
    return {
        "ftf": 0.5 * (1.0 - ratio),
        "bpfo": n / 2.0 * (1.0 - ratio),
        "bpfi": n / 2.0 * (1.0 + ratio),
        "bsf": bearing["pitch_diameter_mm"] / (2.0 * bearing["ball_diameter_mm"]) * (1.0 - ratio**2),
    }


def velocity_to_g(v_rms_mm_s: float, f_hz: float) -> float:
    """Peak acceleration (g) of a sinusoid with the given RMS velocity, so residuals follow ISO 10816-style sizes."""
    return float(v_rms_mm_s * np.sqrt(2.0) * 2.0 * np.pi * f_hz * 1e-3 / G)


def shaft_revolutions(rng: np.random.Generator, n: int, fs: float, f_mean: float, ripple: float) -> np.ndarray:
    """Cumulative shaft revolutions per sample; speed wobbles slowly (load, belt, VFD control loop) around f_mean."""
    t = np.arange(n) / fs
    # A few incommensurate slow sinusoids give a smooth, non-periodic wobble without a per-sample loop.
    freqs = rng.uniform(0.15, 3.0, size=3)
    weights = rng.dirichlet(np.ones(3))
    phases = rng.uniform(0, 2 * np.pi, size=3)
    wobble = (weights[:, None] * np.sin(2 * np.pi * freqs[:, None] * t[None, :] + phases[:, None])).sum(axis=0)
    f_inst = f_mean * (1.0 + ripple * wobble)
    return np.cumsum(f_inst) / fs + rng.uniform(0, 1)


def tones(revs: np.ndarray, orders: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Sum of shaft-locked sinusoids (orders of the instantaneous shaft angle), so they follow the speed ripple."""
    theta = 2 * np.pi * revs
    out = np.zeros(revs.size)
    for order, amp, ph in zip(orders, amps, phases):
        out += amp * np.cos(order * theta + ph)
    return out


def fixed_tones(n: int, fs: float, freqs: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Sum of sinusoids at fixed frequencies (mains-locked hum is independent of shaft speed)."""
    t = np.arange(n) / fs
    out = np.zeros(n)
    for f, amp, ph in zip(freqs, amps, phases):
        out += amp * np.cos(2 * np.pi * f * t + ph)
    return out


def resonance(freqs: np.ndarray, fn: float, zeta: float) -> np.ndarray:
    """Second-order band-pass response with unit gain at fn (a structural mode seen as acceleration)."""
    r = freqs / fn
    return (2j * zeta * r) / (1.0 - r**2 + 2j * zeta * r)


def impact_times(rng: np.random.Generator, event_phase: np.ndarray, jitter: float) -> np.ndarray:
    """Sample indices where the event phase (revs x order) crosses whole numbers, each jittered (element slip)."""
    first, last = np.ceil(event_phase[0]), np.floor(event_phase[-1])
    if last < first:
        return np.zeros(0, dtype=np.int64)
    k = np.arange(first, last + 1) + rng.normal(0, jitter, size=int(last - first + 1))
    idx = np.searchsorted(event_phase, k)
    return idx[(idx > 0) & (idx < event_phase.size)]


def ringing_impacts(
    n: int, fs: float, idx: np.ndarray, peaks: np.ndarray, fn: float, zeta: float, spectrum_out: np.ndarray
) -> None:
    """Add to an rfft spectrum the impacts at idx, each ringing the mode (fn, zeta) with the given peak g."""
    if idx.size == 0:
        return
    train = np.zeros(n)
    # Discrete delta of height a has area a/fs; the band-pass impulse response peaks at 2*zeta*wn per unit area.
    np.add.at(train, idx, peaks * fs / (2 * zeta * 2 * np.pi * fn))
    freqs = np.fft.rfftfreq(n, 1 / fs)
    spectrum_out += np.fft.rfft(train) * resonance(freqs, fn, zeta)


def coloured_noise_spectrum(
    rng: np.random.Generator, n: int, fs: float, slope: float, modes: list[tuple[float, float, float]]
) -> np.ndarray:
    """rfft of unit-RMS broadband noise with a power slope f^slope, lifted by structural modes (fn, zeta, gain)."""
    freqs = np.fft.rfftfreq(n, 1 / fs)
    spec = rng.normal(size=freqs.size) + 1j * rng.normal(size=freqs.size)
    shape = (np.maximum(freqs, 20.0) / 1000.0) ** (slope / 2.0)
    for fn, zeta, gain in modes:
        shape = shape * (1.0 + gain * np.abs(resonance(freqs, fn, zeta)))
    spec *= shape
    spec[0] = 0.0
    return spec / rfft_rms(spec, n)


def rfft_rms(spec: np.ndarray, n: int) -> float:
    """Time-domain RMS of the real signal whose rfft is spec (Parseval), to scale without an inverse transform."""
    power = np.abs(spec) ** 2
    weights = np.full(spec.size, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    return float(np.sqrt(max(float((weights * power).sum()), 1e-30)) / n)


def mounting_response(freqs: np.ndarray, corner_hz: float, q: float, hp_hz: float) -> np.ndarray:
    """Sensor plus mount: a mounted resonance at corner_hz (roll-off above) and the IEPE high-pass (0 = DC-coupled)."""
    r = freqs / corner_hz
    response: np.ndarray = 1.0 / (1.0 - r**2 + 1j * r / q)
    if hp_hz > 0:
        s = 1j * freqs / hp_hz
        response = response * s / (1.0 + s)
    return response
