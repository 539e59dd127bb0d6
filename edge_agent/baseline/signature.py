"""Physical levels of one vibration window (shaft-order lines, ISO velocity, bearing band): numpy only, pure."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from edge_agent.errors import InputError
from edge_agent.fft_sizes import smooth_ceil

G_MM_S2 = 9806.65  # 1 g in mm/s^2
ORDER_TOLERANCE = 0.03  # speed ripple and slip move a shaft-order line by a few percent
VELOCITY_BAND_HZ = (10.0, 1000.0)  # ISO 20816 broadband velocity severity
BEARING_BAND_HZ = (1500.0, 8000.0)  # same resonance band the model's envelope features demodulate
_NYQUIST_USABLE = 0.45  # keep clear of the DAQ's anti-alias roll-off
# half-bin sampling + the log-parabola fit read a Hann peak within 0.2% (4x padding: 0.02%, at 4.7x the FFT cost)
_ZERO_PAD = 2
_TINY = 1e-12


@dataclass(frozen=True)
class MachineSignature:
    """Physical levels of one window: what a vibration analyst reads off the spectrum."""

    rpm: float
    order_1x_g: float
    order_2x_g: float
    order_3x_g: float
    order_1x_mm_s: float
    velocity_rms_mm_s: float
    band_rms_g: float
    envelope_floor_g2: float
    rms_g: float
    # Added for the judge (defaults keep older constructors working): where the 1x and 2x lines actually are,
    # and the two series an analyst checks for looseness.
    order_1x_hz: float = 0.0  # measured frequency of the 1x peak (the true shaft speed, not the reported one)
    order_2x_hz: float = 0.0  # measured frequency of the 2x peak (tells 2x shaft from 2x line frequency)
    half_orders_g: float = 0.0  # power sum of the 0.5x, 1.5x, 2.5x, 3.5x peaks
    harmonics_5x_10x_g: float = 0.0  # power sum of the 5x..10x peaks

    def as_dict(self) -> dict[str, float]:
        """Every field by name (JSON-able, for telemetry and the status page)."""
        return {k: float(v) for k, v in asdict(self).items()}


@lru_cache(maxsize=16)
def _hann(n: int) -> np.ndarray:
    """Hann window of length n (cached, read-only: a gateway sees the same window lengths all day)."""
    w = np.hanning(n)
    w.flags.writeable = False
    return w


@lru_cache(maxsize=16)
def _bins(nfft: int, fs_hz: float, lo: float, hi: float, velocity: bool) -> tuple[slice, np.ndarray | None]:
    """The bins between lo and hi Hz of an nfft-point rfft (a slice: the frequencies ascend), and for a velocity
    band the g -> mm/s power weight of each; cached per window length and sample rate."""
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs_hz)
    mask = (freqs >= lo) & (freqs <= hi)
    picked = np.flatnonzero(mask)
    band = slice(int(picked[0]), int(picked[-1]) + 1) if picked.size else slice(0, 0)
    if not velocity:
        return band, None
    weight = ((G_MM_S2 / (2.0 * np.pi * np.maximum(freqs, _TINY))) ** 2)[band]
    weight.flags.writeable = False
    return band, weight


def _band_rms(power: np.ndarray, nfft: int, fs_hz: float, lo: float, hi: float, velocity: bool = False) -> float:
    """RMS of the part of the signal between lo and hi Hz from a one-sided power spectrum (Parseval); in mm/s
    when `velocity` (acceleration in g divided by 2 pi f)."""
    band, weight = _bins(nfft, float(fs_hz), lo, hi, velocity)
    selected = power[band] if weight is None else power[band] * weight
    return math.sqrt(float(selected.sum()))


def _log3(amplitude: np.ndarray, k: int) -> tuple[float, float, float]:
    """Natural logs of bins k-1, k, k+1 (scalar math: numpy's per-call cost is most of a 3-element log)."""
    a, b, c = amplitude[k - 1 : k + 2].tolist()
    return math.log(max(a, _TINY)), math.log(max(b, _TINY)), math.log(max(c, _TINY))


def _peak(amplitude: np.ndarray, df: float, centre: float, half: float) -> tuple[float, float]:
    """(amplitude, frequency) of the highest line within centre +- half Hz, refined by a log-parabola fit."""
    lo = max(math.floor((centre - half) / df), 1)
    hi = min(math.ceil((centre + half) / df), amplitude.size - 2)
    if lo > hi:
        return 0.0, centre
    k = lo + int(np.argmax(amplitude[lo : hi + 1]))
    a, b, c = _log3(amplitude, k)
    curvature = a - 2.0 * b + c
    delta = max(-0.5, min(0.5, 0.5 * (a - c) / curvature)) if curvature < 0 else 0.0
    if lo < k < hi:
        return float(math.exp(b - 0.25 * (a - c) * delta)), float((k + delta) * df)
    # A maximum on the window's edge is the skirt of a line outside it: report that line's frequency, so the
    # judge can tell a neighbour (such as twice line frequency) from the order itself.
    step = -1 if k == lo else 1
    j, last = k, min(max(k + step * 4 * (hi - lo + 1), 1), amplitude.size - 2)
    while j != last and amplitude[j + step] > amplitude[j]:
        j += step
    a, b, c = _log3(amplitude, j)
    curvature = a - 2.0 * b + c
    outer = max(-0.5, min(0.5, 0.5 * (a - c) / curvature)) if curvature < 0 else 0.0
    return float(amplitude[k]), float((j + outer) * df)


def _envelope_floor(spec: np.ndarray, n: int, k1: int, k2: int) -> float:
    """Median of the squared-envelope amplitude spectrum of bins k1..k2 (g^2): the bearing noise floor."""
    width = k2 - k1 + 1
    # The squared envelope spans twice the band: 2L baseband samples hold it unaliased. The length is rounded up
    # to a fast FFT size (2L is often twice a prime: 4x slower than the rest of the signature together); the
    # envelope is then sampled a little finer over the same duration, so its bins keep their frequencies.
    m = smooth_ceil(2 * width)
    base = np.zeros(m, dtype=np.complex128)
    base[:width] = spec[k1 : k2 + 1]
    # ifft divides by m; the analytic band signal is (2/n) sum X_k e^(i w t), so rescale by 2m/n.
    z = np.fft.ifft(base) * (2.0 * m / n)
    env = z.real**2 + z.imag**2
    env -= env.mean()
    w = _hann(m)
    amplitude = np.abs(np.fft.rfft(env * w)) * (2.0 / w.sum())
    # the bins up to twice the band, where the envelope has content (past it, padding would pull the median down)
    return float(np.median(amplitude[1 : width + 1])) if amplitude.size > 1 else 0.0


def machine_signature(samples: np.ndarray, fs_hz: float, rpm: float) -> MachineSignature:
    """Shaft-order lines, ISO velocity severity and bearing-band levels of one accelerometer window (g)."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size < 16 or not np.all(np.isfinite(x)):
        raise InputError(f"vibration window of {x.size} samples is too short or holds NaN/inf")
    if not (math.isfinite(fs_hz) and fs_hz > 0 and math.isfinite(rpm) and rpm > 0):
        raise InputError(f"fs_hz={fs_hz!r} and rpm={rpm!r} must be positive")
    x = x - x.mean()
    n = x.size
    rms = math.sqrt(float(np.mean(x * x)))

    w = _hann(n)
    nfft = smooth_ceil(_ZERO_PAD * n)
    spec_w = np.fft.rfft(x * w, nfft)
    df = fs_hz / nfft
    magnitude = np.abs(spec_w)
    amplitude = magnitude * (2.0 / w.sum())  # a tone of amplitude A reads A at its peak
    # Parseval on the windowed, padded spectrum: one-sided power per bin, corrected for the window's energy.
    power = magnitude**2 * (2.0 / (nfft * float(np.sum(w * w))))

    fr = rpm / 60.0
    # At least half a bin either side on short windows, where 3% of a low order is less than a bin.
    lines = [
        _peak(amplitude, df, order * fr, max(ORDER_TOLERANCE * order * fr, 0.5 * fs_hz / n))
        for order in (1.0, 2.0, 3.0, 0.5, 1.5, 2.5, 3.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
    ]
    orders = [a for a, _ in lines]

    velocity = _band_rms(power, nfft, fs_hz, *VELOCITY_BAND_HZ, velocity=True)

    band_lo, band_hi = BEARING_BAND_HZ[0], min(BEARING_BAND_HZ[1], _NYQUIST_USABLE * fs_hz)
    band = _band_rms(power, nfft, fs_hz, band_lo, band_hi) if band_hi > band_lo else 0.0
    spec = np.fft.rfft(x)
    k1, k2 = math.ceil(band_lo * n / fs_hz), math.floor(band_hi * n / fs_hz)
    floor = _envelope_floor(spec, n, k1, k2) if k2 - k1 >= 8 else 0.0

    return MachineSignature(
        rpm=float(rpm),
        order_1x_g=orders[0],
        order_2x_g=orders[1],
        order_3x_g=orders[2],
        order_1x_mm_s=orders[0] * G_MM_S2 / (2.0 * math.pi * fr) / math.sqrt(2.0),
        velocity_rms_mm_s=velocity,
        band_rms_g=band,
        envelope_floor_g2=floor,
        rms_g=rms,
        order_1x_hz=lines[0][1],
        order_2x_hz=lines[1][1],
        half_orders_g=math.sqrt(sum(a * a for a in orders[3:7])),
        harmonics_5x_10x_g=math.sqrt(sum(a * a for a in orders[7:13])),
    )


def iso_zone(velocity_rms_mm_s: float, limits: tuple[float, float, float] = (2.3, 4.5, 7.1)) -> str:
    """ISO 20816-3 zone A..D of a velocity (defaults: group 2, flexible mounting); a limit is in the lower zone."""
    a_b, b_c, c_d = limits
    if velocity_rms_mm_s <= a_b:
        return "A"
    if velocity_rms_mm_s <= b_c:
        return "B"
    if velocity_rms_mm_s <= c_d:
        return "C"
    return "D"
