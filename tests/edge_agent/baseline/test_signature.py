"""Given synthetic sines, when their machine signature is measured, then levels match the physics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_agent.baseline import iso_zone, machine_signature

FS = 12800.0


def _tones(seconds: float, *tones: tuple[float, float], noise_g: float = 0.0) -> np.ndarray:
    t = np.arange(int(FS * seconds)) / FS
    rng = np.random.default_rng(7)
    x = sum(a * np.sin(2 * np.pi * f * t + 0.4) for f, a in tones)
    return np.asarray(x + noise_g * rng.standard_normal(t.size), dtype=np.float64)


@pytest.mark.parametrize(("rpm", "seconds", "offset"), [(600.0, 0.5, 1.0), (1780.0, 0.25, 1.02), (3600.0, 1.0, 0.985)])
def test_given_a_1x_tone_of_known_amplitude_when_measured_then_it_reads_within_3_percent(
    rpm: float, seconds: float, offset: float
) -> None:
    fr = rpm / 60.0
    samples = _tones(seconds, (fr * offset, 0.2), (2 * fr, 0.05), noise_g=0.01)
    signature = machine_signature(samples, FS, rpm)
    assert signature.order_1x_g == pytest.approx(0.2, rel=0.03)
    assert signature.order_2x_g == pytest.approx(0.05, rel=0.03)
    assert signature.order_3x_g < 0.005
    velocity_1x = 0.2 * 9806.65 / (2 * math.pi * fr) / math.sqrt(2)
    assert signature.order_1x_mm_s == pytest.approx(velocity_1x, rel=0.03)


def test_given_a_half_g_50_hz_tone_when_measured_then_velocity_rms_is_its_integral() -> None:
    signature = machine_signature(_tones(0.5, (50.0, 0.5)), FS, 1780.0)
    assert signature.velocity_rms_mm_s == pytest.approx(0.5 * 9806.65 / (2 * math.pi * 50) / math.sqrt(2), rel=0.03)
    assert signature.rms_g == pytest.approx(0.5 / math.sqrt(2), rel=0.01)
    assert iso_zone(signature.velocity_rms_mm_s) == "D"


def test_given_content_above_1000_hz_when_measured_then_velocity_ignores_it_and_the_band_sees_it() -> None:
    low = machine_signature(_tones(0.5, (50.0, 0.5)), FS, 1780.0)
    both = machine_signature(_tones(0.5, (50.0, 0.5), (3000.0, 0.5)), FS, 1780.0)
    assert both.velocity_rms_mm_s == pytest.approx(low.velocity_rms_mm_s, rel=0.01)
    assert both.band_rms_g == pytest.approx(0.5 / math.sqrt(2), rel=0.03)
    assert low.band_rms_g < 0.01


def test_given_more_bearing_noise_when_measured_then_the_envelope_floor_rises() -> None:
    quiet = machine_signature(_tones(0.5, (29.7, 0.1), noise_g=0.02), FS, 1780.0)
    loud = machine_signature(_tones(0.5, (29.7, 0.1), noise_g=0.08), FS, 1780.0)
    assert loud.envelope_floor_g2 > 8 * quiet.envelope_floor_g2
    assert set(loud.as_dict()) >= {"rpm", "order_1x_g", "velocity_rms_mm_s", "envelope_floor_g2"}


@pytest.mark.parametrize(
    ("velocity", "zone"), [(0.0, "A"), (2.3, "A"), (2.31, "B"), (4.5, "B"), (4.6, "C"), (7.1, "C"), (7.11, "D")]
)
def test_given_a_velocity_when_zoned_then_each_limit_belongs_to_the_lower_zone(velocity: float, zone: str) -> None:
    assert iso_zone(velocity) == zone


def test_given_other_limits_when_zoned_then_they_are_used() -> None:
    assert iso_zone(3.0, limits=(1.4, 2.8, 4.5)) == "C"


def test_given_lines_off_their_nominal_order_when_measured_then_their_frequencies_are_found() -> None:
    fr = 1780.0 / 60.0 * 1.01  # the shaft runs 1% faster than the message says
    samples = _tones(0.25, (fr, 0.1), (2 * fr, 0.05), (100.0, 0.001), noise_g=0.005)
    signature = machine_signature(samples, FS, 1780.0)
    assert signature.order_1x_hz == pytest.approx(fr, abs=0.2)
    assert signature.order_2x_hz == pytest.approx(2 * fr, abs=0.3)


def test_given_half_orders_and_high_harmonics_when_measured_then_their_series_are_summed() -> None:
    fr = 1780.0 / 60.0
    plain = machine_signature(_tones(0.5, (fr, 0.1), noise_g=0.002), FS, 1780.0)
    loose = machine_signature(_tones(0.5, (fr, 0.1), (0.5 * fr, 0.03), (1.5 * fr, 0.04), (7 * fr, 0.05)), FS, 1780.0)
    assert loose.half_orders_g == pytest.approx(0.05, rel=0.05)
    assert loose.harmonics_5x_10x_g == pytest.approx(0.05, rel=0.05)
    assert plain.half_orders_g < 0.01 and plain.harmonics_5x_10x_g < 0.01


def test_given_a_strong_line_just_outside_the_2x_window_when_measured_then_its_own_frequency_is_reported() -> None:
    samples = _tones(0.32, (48.0, 0.02), (96.0, 0.002), (100.0, 0.2), noise_g=0.001)
    signature = machine_signature(samples, FS, 2880.0)
    assert signature.order_2x_hz == pytest.approx(100.0, abs=0.3)
    assert signature.order_1x_hz == pytest.approx(48.0, abs=0.3)


def _envelope_floor_unpadded(samples: np.ndarray, fs: float) -> float:
    """The envelope floor computed at exactly twice the band's bins (the definition, whatever the FFT cost)."""
    x = samples - samples.mean()
    n = x.size
    spec = np.fft.rfft(x)
    k1, k2 = math.ceil(1500.0 * n / fs), math.floor(min(8000.0, 0.45 * fs) * n / fs)
    width = k2 - k1 + 1
    base = np.zeros(2 * width, dtype=np.complex128)
    base[:width] = spec[k1 : k2 + 1]
    z = np.fft.ifft(base) * (2.0 * 2 * width / n)
    env = z.real**2 + z.imag**2
    env -= env.mean()
    w = np.hanning(2 * width)
    return float(np.median(np.abs(np.fft.rfft(env * w))[1:] * (2.0 / w.sum())))


def test_given_a_bearing_band_of_a_prime_number_of_bins_when_measured_then_the_floor_matches_its_definition() -> None:
    # 0.5 s at 25.6 kHz: the 1.5-8 kHz band spans 3,251 bins (a prime), which the signature pads to a fast length
    fs, n = 25600.0, 12800
    t = np.arange(n) / fs
    rng = np.random.default_rng(11)
    impacts = np.zeros(n)
    impacts[:: int(fs / 97.0)] = 1.0
    ring = np.exp(-np.arange(200) / 20.0) * np.sin(2 * np.pi * 3000.0 * np.arange(200) / fs)
    samples = 0.05 * np.sin(2 * np.pi * 29.6 * t) + 0.3 * np.convolve(impacts, ring)[:n] + 0.02 * rng.standard_normal(n)

    floor = machine_signature(samples, fs, 1776.0).envelope_floor_g2

    assert floor == pytest.approx(_envelope_floor_unpadded(samples, fs), rel=1e-3)
