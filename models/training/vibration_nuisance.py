"""What every real machine adds to a window whatever its state: its own residual 1x/2x/3x series, line hum,
structural modes, and the sensor mounting's frequency response (domain randomisation for the training set)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.training.vibration_signals import log_uniform, phasor, uniform


@dataclass(frozen=True)
class ResidualSeries:
    """A machine's healthy shaft-order series as complex amplitudes (g) per order."""

    tones: dict[float, complex]
    amp_1x: float


def residual_series(
    rng: np.random.Generator,
    p_noise: float,
    amp_1x: float,
    gap_2x_db: tuple[float, float],
    gap_3x_db: tuple[float, float],
    background_db: float,
) -> ResidualSeries:
    """The residual 1x (peak `amp_1x` g) and a 2x, 3x behind it, as on a healthy machine; 4x..6x at the
    background level (dB re the noise power `p_noise`). Imbalance and misalignment reshape this."""
    tones = {
        1.0: phasor(rng, amp_1x),
        2.0: phasor(rng, amp_1x * 10 ** (-uniform(rng, gap_2x_db) / 20)),
        3.0: phasor(rng, amp_1x * 10 ** (-uniform(rng, gap_3x_db) / 20)),
    }
    for k in range(4, 7):
        tones[float(k)] = phasor(rng, math.sqrt(2 * p_noise * 10 ** ((background_db - rng.uniform(0, 10)) / 10)))
    return ResidualSeries(tones=tones, amp_1x=amp_1x)


def line_hum(rng: np.random.Generator, t: np.ndarray, amp_g: float, fs: float) -> np.ndarray:
    """Mains hum of a 50 or 60 Hz plant: the line frequency, the 2x line of every induction motor, a few more
    harmonics, each with its own size (electrical and magnetic forces, ground loops in the cabling)."""
    line = 50.0 if rng.random() < 0.5 else 60.0
    x = np.zeros(t.size)
    for k, rel in ((1, uniform(rng, (0.1, 1.0))), (2, 1.0), (3, uniform(rng, (0.0, 0.4))), (4, uniform(rng, (0, 0.3)))):
        if k * line < 0.45 * fs:
            x += amp_g * rel * np.cos(2 * np.pi * k * line * t + rng.uniform(0, 2 * np.pi))
    return x


@dataclass(frozen=True)
class Mounting:
    """Sensor mounting and structure response: a low-pass corner with its mounted resonance, and extra
    structural modes that colour the whole spectrum (magnet vs stud vs adhesive; frame, housing, base)."""

    corner_hz: float
    mount_q: float
    modes: tuple[tuple[float, float, float], ...]  # (frequency Hz, half-power width Hz, linear gain)

    def response(self, n: int, fs: float) -> np.ndarray:
        """Real gain per rfft bin of an n-sample window."""
        f = np.fft.rfftfreq(n, 1.0 / fs)
        r = f / self.corner_hz
        # Second-order resonant low-pass: flat below the corner, a peak of about Q at it, -40 dB/decade above.
        gain = 1.0 / np.sqrt((1 - r * r) ** 2 + (r / self.mount_q) ** 2)
        for centre, width, g in self.modes:
            gain *= 1.0 + g / (1.0 + ((f - centre) / (0.5 * width)) ** 2)
        return gain

    def apply(self, x: np.ndarray, fs: float) -> np.ndarray:
        """x as this mounting records it, rescaled so a 1x-range tone keeps its size (response at DC is 1)."""
        return np.fft.irfft(np.fft.rfft(x) * self.response(x.size, fs), x.size)


def random_mounting(
    rng: np.random.Generator,
    fs: float,
    corner_hz: tuple[float, float],
    modes: tuple[int, int],
    q: tuple[float, float] = (1.5, 12.0),
) -> Mounting:
    """Mounted resonance drawn log-uniformly from `corner_hz` (a curved magnet sits low, a stud high) and a
    few structural modes from 60 Hz (frame, base) to 0.4 fs (housing), some sharp, some broad."""
    corner = log_uniform(rng, corner_hz)
    mount_q = log_uniform(rng, q)
    out = []
    for _ in range(int(rng.integers(modes[0], modes[1] + 1))):
        centre = log_uniform(rng, (60.0, 0.4 * fs))
        out.append((centre, centre * uniform(rng, (0.02, 0.15)), log_uniform(rng, (0.5, 8.0))))
    return Mounting(corner_hz=corner, mount_q=mount_q, modes=tuple(out))
