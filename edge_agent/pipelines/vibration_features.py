"""Shaft-speed-normalised bearing and machine features from one accelerometer window (numpy only)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from edge_agent.contracts import BearingFeaturesStep, BearingGeometry
from edge_agent.errors import InputError, InputShapeError
from edge_agent.fft_sizes import smooth_floor
from edge_agent.pipelines.envelope_bands import (
    NARROW_BAND_FEATURES,
    narrow_band_lines,
    narrow_bands,
    peaks_within,
    squared_envelope_spectrum,
)

# Every level is a log ratio (dB of a power fraction, or dB over the envelope spectrum's noise floor) and
# every frequency is an order of shaft speed, so neither the absolute vibration level nor the speed, the
# sample rate or the bearing size leaks into the model input.
FEATURE_NAMES: tuple[str, ...] = (
    # time-domain shape of the whole window
    "kurtosis_log10",
    "crest_factor_db",
    "skewness",
    # resonance band (the band demodulated for the envelope)
    "band_power_db",
    "envelope_kurtosis_log10",
    "spectral_flatness_log10",
    # raw spectrum: tone power at shaft orders, dB of the window's total power
    "raw_0p5x_db",
    "raw_1x_db",
    "raw_2x_db",
    "raw_3x_db",
    "raw_4x_db",
    "raw_half_orders_db",
    "raw_5x_10x_db",
    "raw_max_tone_above_4x_db",
    # raw spectrum: tone over the local noise floor, dB (detectability, independent of window length)
    "raw_1x_over_floor_db",
    "raw_half_orders_over_floor_db",
    "raw_5x_10x_over_floor_db",
    "raw_max_tone_over_floor_db",
    # squared-envelope order spectrum: peak over the spectrum's median floor, dB
    "env_0p5x_db",
    "env_1x_db",
    "env_2x_db",
    "env_ftf_db",
    "env_bsf_db",
    "env_bpfo_1_db",
    "env_bpfo_2_db",
    "env_bpfo_3_db",
    "env_bpfi_1_db",
    "env_bpfi_2_db",
    "env_bpfi_3_db",
    "env_bpfi_sidebands_1x_db",
    "env_2bsf_1_db",
    "env_2bsf_2_db",
    "env_2bsf_3_db",
    "env_2bsf_sidebands_ftf_db",
    "env_max_unexplained_db",
    # shape of the machine's own shaft-order series (bearing-health 1.1+): imbalance is a 1x that dominates
    # its harmonics, misalignment a 2x that rivals the 1x, meshing or rattling parts add high shaft orders
    "raw_1x_over_2x_3x_db",
    "raw_2x_over_1x_db",
    "raw_sync_7x_60x_over_floor_db",
    # absolute severity, the one level every analyst reads (ISO 20816): velocity in dB re 1 mm/s RMS
    "velocity_1x_db",
    "velocity_10_1000hz_db",
    # each bearing fault's envelope lines in its best narrow band (bearing-health 1.3+)
    *NARROW_BAND_FEATURES,
)
# The 35 features of bearing-health 1.0.x and the 40 of 1.1-1.2: a manifest names the features it was trained
# on, in its order.
FEATURE_NAMES_V1: tuple[str, ...] = FEATURE_NAMES[:35]
FEATURE_NAMES_V1_1: tuple[str, ...] = FEATURE_NAMES[:40]
_NARROW_FROM = FEATURE_NAMES.index(NARROW_BAND_FEATURES[0])
_FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}

DEFAULT_ENVELOPE_BAND_HZ = (1500.0, 8000.0)
# The raw-spectrum 1x needs a couple of revolutions to be a line at all; below that it is leakage from DC.
MIN_REVOLUTIONS = 2.0
# Top of the band actually used: keep clear of the DAQ's anti-alias filter roll-off.
_NYQUIST_USABLE = 0.45
_MIN_BANDWIDTH_HZ = 1000.0
_POWER_FLOOR = 1e-8  # -80 dB: a missing tone is "very small", never -inf
_G_MM_S2 = 9806.65  # one g in mm/s^2


def default_step() -> BearingFeaturesStep:
    """The feature step the shipped bearing-health model was trained with."""
    return BearingFeaturesStep(
        feature_names=list(FEATURE_NAMES),
        envelope_band_hz=DEFAULT_ENVELOPE_BAND_HZ,
        order_tolerance=0.03,
        min_samples=1024,
        max_samples=65536,
    )


def _min_envelope_band_hz(orders: dict[str, float], fr: float) -> float:
    """Narrowest envelope band that holds the third harmonic of every bearing fault line with its 1x sidebands."""
    highest = (3 * max(orders["bpfi"], orders["bpfo"], 2 * orders["bsf"]) + 1.5) * fr
    return max(_MIN_BANDWIDTH_HZ, 1.1 * highest)


def _validate(
    samples: np.ndarray, fs_hz: float, rpm: float | None, bearing: BearingGeometry | None, step: BearingFeaturesStep
) -> np.ndarray:
    """Reject windows the features would be meaningless for, with a message a plant engineer can act on."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise InputShapeError(f"vibration window has shape {x.shape}; expected one axis of samples")
    if not np.issubdtype(x.dtype, np.number):
        raise InputError(f"vibration samples have dtype {x.dtype}; expected numbers")
    if x.size < step.min_samples or x.size > step.max_samples:
        raise InputShapeError(
            f"vibration window has {x.size} samples; the model accepts {step.min_samples}..{step.max_samples}"
        )
    if not np.all(np.isfinite(x)):
        raise InputError(f"vibration window contains {int(np.sum(~np.isfinite(x)))} NaN/inf samples")
    if rpm is None or not math.isfinite(rpm) or rpm <= 0:
        raise InputError(f"shaft speed rpm={rpm!r} is missing or not positive; set it in the message or asset")
    if bearing is None:
        raise InputError("bearing geometry is missing; set it in the asset config or the message")
    if not math.isfinite(fs_hz) or fs_hz <= 0:
        raise InputError(f"sample rate fs_hz={fs_hz!r} is not positive")
    revolutions = x.size / fs_hz * rpm / 60.0
    if revolutions < MIN_REVOLUTIONS:
        raise InputShapeError(
            f"window holds {revolutions:.2f} shaft revolutions ({x.size} samples at {fs_hz:g} Hz, {rpm:g} rpm); "
            f"need at least {MIN_REVOLUTIONS:g}"
        )
    lo, hi = step.envelope_band_hz
    top = min(hi, _NYQUIST_USABLE * fs_hz)
    orders = bearing.fault_orders()
    need = _min_envelope_band_hz(orders, rpm / 60.0)
    if top - lo < need:
        raise InputError(
            f"fs_hz={fs_hz:g} is too low for the envelope band {lo:g}-{hi:g} Hz at {rpm:g} rpm: usable band "
            f"{lo:g}-{top:g} Hz must be wider than {need:.0f} Hz"
        )
    return x


def _db_power(x: np.ndarray | float) -> np.ndarray:
    """Power ratio in dB, floored at -80 dB."""
    return 10.0 * np.log10(np.maximum(x, _POWER_FLOOR))


def extract_features(
    samples: np.ndarray, fs_hz: float, rpm: float, bearing: BearingGeometry, step: BearingFeaturesStep
) -> np.ndarray:
    """Feature vector (float32, len(step.feature_names)) of one window for the bearing-health model."""
    picks = _selection(tuple(step.feature_names))
    raw = _validate(samples, float(fs_hz), rpm, bearing, step)
    fs = float(fs_hz)
    fr = float(rpm) / 60.0
    tol = step.order_tolerance
    n = smooth_floor(raw.size)
    x = raw[:n].astype(np.float64)
    x -= x.mean()
    # Plain ufunc reductions, not np.dot: BLAS may wake a thread pool for a dot product of this size.
    x2 = x * x
    var = float(x2.sum()) / n
    if var <= 0.0:
        raise InputError("vibration window is constant (sensor disconnected or saturated?)")
    kurt = float((x2 * x2).sum()) / n / (var * var)
    skew = float((x2 * x).sum()) / n / var**1.5
    crest = float(np.max(np.abs(x))) / math.sqrt(var)

    spec = np.fft.rfft(x)
    df = fs / n
    power = spec.real**2 + spec.imag**2
    total = float(power[1:].sum())
    flatness = float(np.mean(np.log(power[1:] + 1e-30 * total))) - math.log(total / (power.size - 1))

    # Hann-windowed spectrum by its three-tap kernel in the frequency domain: no second FFT needed.
    hann = 0.5 * spec
    hann[1:-1] -= 0.25 * (spec[:-2] + spec[2:])
    # A tone of amplitude A gives |hann| = A n / 4; its power A^2/2 as a fraction of the window's power.
    tone = (np.abs(hann) * (4.0 / n)) ** 2 / 2.0 / var
    raw_orders = np.array([0.5, 1, 2, 3, 4, 1.5, 2.5, 3.5, 5, 6, 7, 8, 9, 10], dtype=np.float64)
    raw_hz = raw_orders * fr
    raw_pk = peaks_within(tone, df, raw_hz, np.maximum(tol * raw_hz, 0.5 * df))
    lo_tone = math.ceil(4.5 * fr / df)
    hi_tone = int(_NYQUIST_USABLE * fs / df)
    max_tone = float(tone[lo_tone:hi_tone].max()) if hi_tone > lo_tone else _POWER_FLOOR
    # Floor under the low orders: the median just above the harmonic zone, where only noise should be.
    low_floor_bins = tone[int(10.7 * fr / df) : max(int(30.5 * fr / df), int(10.7 * fr / df) + 8)]
    low_floor = float(np.median(low_floor_bins)) + 1e-30
    # Floor under high tones: block medians, so a resonance hump or a spectral tilt is not a "tone".
    block = 64
    nblk = max(tone.size // block, 1)
    medians = np.median(tone[: nblk * block].reshape(nblk, -1), axis=1) + 1e-30
    floor_at = np.repeat(medians, block)
    floor_at = np.concatenate([floor_at, np.full(tone.size - floor_at.size, medians[-1])])
    hi_tone = min(hi_tone, tone.size)
    max_tone_snr = float((tone[lo_tone:hi_tone] / floor_at[lo_tone:hi_tone]).max()) if hi_tone > lo_tone else 1.0
    over_floor = _db_power(raw_pk / low_floor)

    band_lo, band_hi = step.envelope_band_hz
    k1 = math.ceil(band_lo / df)
    k2 = math.floor(min(band_hi, _NYQUIST_USABLE * fs) / df)
    band_power = float(power[k1 : k2 + 1].sum()) / total

    env_spec, env_kurt = squared_envelope_spectrum(spec, k1, k2)
    edf = df / 2.0  # the envelope spans the same duration as the window

    orders = bearing.fault_orders()
    o_ftf, o_bsf, o_bpfo, o_bpfi = orders["ftf"], orders["bsf"], orders["bpfo"], orders["bpfi"]
    o_2bsf = 2.0 * o_bsf
    env_orders = np.array(
        [
            0.5,
            1.0,
            2.0,
            o_ftf,
            o_bsf,
            o_bpfo,
            2 * o_bpfo,
            3 * o_bpfo,
            o_bpfi,
            2 * o_bpfi,
            3 * o_bpfi,
            o_bpfi - 1.0,
            o_bpfi + 1.0,
            o_2bsf,
            2 * o_2bsf,
            3 * o_2bsf,
            o_2bsf - o_ftf,
            o_2bsf + o_ftf,
        ]
    )
    # Slip moves a fault line by a fraction of its own frequency; its 1x/FTF sidebands move with it.
    slip_ref = np.array(
        [
            *(0.5, 1.0, 2.0, o_ftf, o_bsf),
            *(o_bpfo, 2 * o_bpfo, 3 * o_bpfo, o_bpfi, 2 * o_bpfi, 3 * o_bpfi, o_bpfi, o_bpfi),
            *(o_2bsf, 2 * o_2bsf, 3 * o_2bsf, o_2bsf, o_2bsf),
        ]
    )
    env_hz = env_orders * fr
    half = np.maximum(tol * slip_ref * fr, 0.5 * df)
    top_bin = min(math.ceil((3.3 * max(o_bpfi, o_bpfo, o_2bsf) + 1.5) * fr / edf), env_spec.size - 1)
    first_bin = max(int(0.25 * fr / edf), 1)
    region = env_spec[first_bin : top_bin + 1]
    floor = float(np.median(region)) + 1e-300
    env_pk = 20.0 * np.log10(np.maximum(peaks_within(env_spec, edf, env_hz, half), 1e-300) / floor)

    # Strongest envelope line no bearing fault or shaft order explains: other periodic impacting.
    known = np.zeros(region.size, dtype=bool)
    bins = np.arange(first_bin, top_bin + 1) * edf
    for centre, hw in zip(env_hz, half, strict=True):
        known |= np.abs(bins - centre) <= hw + edf
    unexplained = float(region[~known].max()) if not known.all() else floor
    unexplained_db = 20.0 * math.log10(max(unexplained, 1e-300) / floor)

    # Integer shaft orders 7x..60x that the usable band holds: tooth mesh, blade pass, rattling harmonics.
    top_order = min(60, int(_NYQUIST_USABLE * fs / fr / (1 + tol)))
    if top_order >= 7:
        sync_hz = np.arange(7, top_order + 1, dtype=np.float64) * fr
        sync_pk = peaks_within(tone, df, sync_hz, np.maximum(tol * sync_hz, 0.5 * df))
        sync_bins = np.minimum((sync_hz / df).astype(np.int64), tone.size - 1)
        sync_snr = float((sync_pk / floor_at[sync_bins]).max())
    else:
        sync_snr = 1.0

    # Velocity (mm/s RMS) from acceleration (g): divide by 2 pi f; 1x from its tone, broadband by Parseval.
    mm_s_per_g_hz = _G_MM_S2 / (2.0 * math.pi)
    velocity_1x = math.sqrt(float(raw_pk[1]) * var) * mm_s_per_g_hz / fr
    v_lo, v_hi = math.ceil(10.0 / df), min(int(1000.0 / df), power.size - 1)
    if v_hi >= v_lo:
        f_band = np.arange(v_lo, v_hi + 1, dtype=np.float64) * df
        velocity_band = math.sqrt(2.0 * float((power[v_lo : v_hi + 1] / f_band**2).sum())) / n * mm_s_per_g_hz
    else:
        velocity_band = 0.0

    p = _db_power(raw_pk)
    e = env_pk
    feats = [
        math.log10(kurt),
        20.0 * math.log10(crest),
        skew,
        float(_db_power(band_power)),
        math.log10(max(env_kurt, 1e-12)),
        flatness / math.log(10.0),
        p[0],
        p[1],
        p[2],
        p[3],
        p[4],
        float(_db_power(raw_pk[5:8].sum())),
        float(_db_power(raw_pk[8:14].sum())),
        float(_db_power(max_tone)),
        float(over_floor[1]),
        float(over_floor[[0, 5, 6, 7]].mean()),
        float(over_floor[8:14].mean()),
        float(_db_power(max_tone_snr)),
        e[0],
        e[1],
        e[2],
        e[3],
        e[4],
        e[5],
        e[6],
        e[7],
        e[8],
        e[9],
        e[10],
        0.5 * (e[11] + e[12]),
        e[13],
        e[14],
        e[15],
        0.5 * (e[16] + e[17]),
        unexplained_db,
        float(_db_power(raw_pk[1] / (raw_pk[2] + raw_pk[3] + _POWER_FLOOR))),
        float(_db_power(raw_pk[2] / (raw_pk[1] + _POWER_FLOOR))),
        float(_db_power(sync_snr)),
        20.0 * math.log10(max(velocity_1x, 1e-4)),
        20.0 * math.log10(max(velocity_band, 1e-4)),
    ]
    if picks is None or picks.max() >= _NARROW_FROM:
        top = min(band_hi, _NYQUIST_USABLE * fs)
        bands = narrow_bands(top, band_lo, _min_envelope_band_hz(orders, fr))
        feats.extend(narrow_band_lines(spec, df, fr, orders, bands, tol).tolist())
    else:  # an older model's features: the narrow bands cost a few FFTs it would never read
        feats.extend([0.0] * len(NARROW_BAND_FEATURES))
    values = np.asarray(feats, dtype=np.float32)
    return values if picks is None else values[picks]


@lru_cache(maxsize=16)
def _selection(names: tuple[str, ...]) -> np.ndarray | None:
    """Indices of a model's features in the full vector (None: all of them, in order)."""
    if names == FEATURE_NAMES:
        return None
    unknown = [n for n in names if n not in _FEATURE_INDEX]
    if unknown:
        raise InputError("model expects features this agent does not compute: " + ", ".join(unknown))
    return np.array([_FEATURE_INDEX[n] for n in names], dtype=np.int64)


def extract_batch(
    windows: Sequence[tuple[np.ndarray, float, float, BearingGeometry]], step: BearingFeaturesStep
) -> np.ndarray:
    """Features of many windows, (N, F) float32; raises on the first invalid window."""
    out = np.empty((len(windows), len(step.feature_names)), dtype=np.float32)
    for i, (samples, fs_hz, rpm, bearing) in enumerate(windows):
        out[i] = extract_features(samples, fs_hz, rpm, bearing, step)
    return out
