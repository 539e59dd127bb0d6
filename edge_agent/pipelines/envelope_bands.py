"""Narrow-band envelope lines: each bearing fault read in the resonance band where its lines stand out most."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from edge_agent.fft_sizes import smooth_ceil

# bearing-health 1.3+: the wide 1.5-8 kHz envelope band holds several kHz of broadband noise around a
# resonance a few hundred Hz wide, so a faint fault's impacts drown in it. Demodulating narrower bands across
# the range and reading each fault family in its best band is the analyst's kurtogram step, without the search.
NARROW_BAND_FEATURES: tuple[str, ...] = (
    "nb_bpfo_db",
    "nb_bpfi_db",
    "nb_bpfi_sidebands_1x_db",
    "nb_2bsf_db",
    "nb_2bsf_sidebands_ftf_db",
    "nb_envelope_kurtosis_max_log10",
    "nb_best_over_mean_db",
)
LOWEST_HZ = 1000.0  # below this the shaft's own harmonics and structure modes dominate any band
BAND_STEP = 1.5  # centre-to-centre ratio: each band still overlaps the next, so no resonance falls between two
RELATIVE_WIDTH = 0.5  # band width as a share of its centre, before the fault lines' own minimum


def narrow_bands(top_hz: float, first_centre_hz: float, min_width_hz: float) -> list[tuple[float, float]]:
    """Half-overlapping bands from `first_centre_hz` up to `top_hz`, each at least `min_width_hz` wide."""
    out: list[tuple[float, float]] = []
    centre = first_centre_hz
    while True:
        width = max(RELATIVE_WIDTH * centre, min_width_hz)
        lo, hi = max(centre - width / 2, LOWEST_HZ), centre + width / 2
        if hi >= top_hz:
            hi = top_hz
            lo = min(lo, hi - min_width_hz)
            out.append((lo, hi))
            return out
        out.append((lo, hi))
        centre *= BAND_STEP


@lru_cache(maxsize=64)
def hann_window(n: int) -> np.ndarray:
    """Hann window of length n (cached: gateways see the same window length every time)."""
    return np.hanning(n)


def peaks_within(spec: np.ndarray, df: float, centres: np.ndarray, halfwidths: np.ndarray) -> np.ndarray:
    """Maximum of `spec` within centre +- halfwidth (Hz) for each centre, in one vectorised pass."""
    last = spec.size - 1
    lo = np.clip(np.floor((centres - halfwidths) / df).astype(np.int64), 0, last)
    hi = np.clip(np.ceil((centres + halfwidths) / df).astype(np.int64), 0, last)
    hi = np.maximum(hi, lo)
    idx = np.empty(2 * centres.size, dtype=np.int64)
    idx[0::2] = lo
    idx[1::2] = np.minimum(hi + 1, last)
    out = np.maximum.reduceat(spec, idx)[0::2]
    # reduceat stops one bin short when hi is the last bin; include it explicitly.
    return np.where(hi == last, np.maximum(out, spec[last]), out)


def squared_envelope_spectrum(spec: np.ndarray, k1: int, k2: int) -> tuple[np.ndarray, float]:
    """Magnitude spectrum of the squared envelope of rfft bins k1..k2 (bin width half the window's) and the
    envelope's kurtosis. Complex demodulation: the squared (Hilbert) envelope's bandwidth is at most twice the
    band, so 2L baseband samples hold it without aliasing; zero-padding twice samples order peaks every half bin
    (less scalloping at short windows)."""
    width = k2 - k1 + 1
    m = smooth_ceil(2 * width)
    base = np.zeros(m, dtype=np.complex128)
    base[:width] = spec[k1 : k2 + 1]
    z = np.fft.ifft(base)
    env = z.real**2 + z.imag**2
    mean = float(env.mean())
    kurtosis = float((env * env).sum()) / m / (mean * mean + 1e-300)
    env -= mean
    return np.abs(np.fft.rfft(env * hann_window(m), 2 * m)), kurtosis


def narrow_band_lines(
    spec: np.ndarray,
    df: float,
    fr: float,
    orders: dict[str, float],
    bands: list[tuple[float, float]],
    tolerance: float,
) -> np.ndarray:
    """The NARROW_BAND_FEATURES of one window from its rfft `spec` (bin width `df`) at shaft frequency `fr`."""
    ftf, bpfo, bpfi, b2 = orders["ftf"], orders["bpfo"], orders["bpfi"], 2.0 * orders["bsf"]
    lines = np.array([bpfo, 2 * bpfo, 3 * bpfo, bpfi, 2 * bpfi, 3 * bpfi, bpfi - 1, bpfi + 1, b2, 2 * b2, 3 * b2])
    lines = np.concatenate([lines, [b2 - ftf, b2 + ftf]])
    # Slip moves a line by a share of its own fault frequency; sidebands move with their carrier.
    slip_ref = np.concatenate([lines[:6], [bpfi, bpfi], lines[8:11], [b2, b2]])
    highest = 3.3 * max(bpfi, bpfo, b2) + 1.5
    families = np.empty((len(bands), 5))
    kurtosis_max = 0.0
    for i, (lo, hi) in enumerate(bands):
        env_spec, kurtosis = squared_envelope_spectrum(spec, math.ceil(lo / df), math.floor(hi / df))
        kurtosis_max = max(kurtosis_max, kurtosis)
        edf = df / 2.0
        top_bin = min(math.ceil(highest * fr / edf), env_spec.size - 1)
        first_bin = max(int(0.25 * fr / edf), 1)
        floor = float(np.median(env_spec[first_bin : top_bin + 1])) + 1e-300
        halfwidths = np.maximum(tolerance * slip_ref * fr, 0.5 * df)
        pk = 20.0 * np.log10(np.maximum(peaks_within(env_spec, edf, lines * fr, halfwidths), 1e-300) / floor)
        families[i] = (pk[0:3].mean(), pk[3:6].mean(), 0.5 * (pk[6] + pk[7]), pk[8:11].mean(), 0.5 * (pk[11] + pk[12]))
    # Each family is read in its own best band; its sidebands in that same band.
    i_o, i_i, i_b = (int(families[:, c].argmax()) for c in (0, 1, 3))
    carriers = families[:, [0, 1, 3]]
    return np.array(
        [
            families[i_o, 0],
            families[i_i, 1],
            families[i_i, 2],
            families[i_b, 3],
            families[i_b, 4],
            math.log10(max(kurtosis_max, 1e-12)),
            float(carriers.max() - carriers.mean()),
        ],
        dtype=np.float64,
    )
