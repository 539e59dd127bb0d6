"""Tests of the independent third vibration evaluation generator."""

from __future__ import annotations

import base64
import dataclasses

import numpy as np
import pytest

from models.evaluation.third_vibration import (
    TRAINED_STATES,
    UNTRAINED_STATES,
    Window,
    fleet,
    machine_windows,
    windows,
)
from models.evaluation.third_vibration_faults import vel_to_g


def _amp_at(w: Window, freq: float) -> float:
    """Amplitude (g) of the component at exactly freq: a Hann-weighted single-frequency DFT."""
    x = w.samples.astype(float)
    win = np.hanning(x.size)
    t = np.arange(x.size) / w.fs_hz
    return float(2 * np.abs(np.sum((x - x.mean()) * win * np.exp(-2j * np.pi * freq * t))) / win.sum())


def _envelope_peak_hz(w: Window, fmax: float) -> float:
    """Frequency of the largest squared-envelope line below fmax, after an FFT bandpass round the resonance."""
    x = w.samples.astype(float)
    f = np.fft.rfftfreq(x.size, 1 / w.fs_hz)
    fc = w.params["resonance_hz"]
    spec = np.fft.rfft(x)
    spec[(f < 0.7 * fc) | (f > 1.3 * fc)] = 0
    env = np.fft.irfft(spec, x.size) ** 2
    e = np.abs(np.fft.rfft(env - env.mean()))
    sel = (f > 2.0) & (f < fmax)
    return float(f[sel][np.argmax(e[sel])])


def test_given_a_seed_when_generating_twice_then_windows_are_identical():
    a = windows(7, 2, (*TRAINED_STATES, *UNTRAINED_STATES))
    b = windows(7, 2, (*TRAINED_STATES, *UNTRAINED_STATES))
    assert [w.state for w in a] == [w.state for w in b]
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa.samples, wb.samples)
        assert wa.params == wb.params
    assert not np.array_equal(a[0].samples, windows(8, 1)[0].samples)


def test_given_all_states_when_generated_then_shapes_dtypes_and_ranges_hold():
    ws = windows(3, 3, (*TRAINED_STATES, *UNTRAINED_STATES))
    assert not set(UNTRAINED_STATES) & set(TRAINED_STATES) and len(UNTRAINED_STATES) >= 4
    for w in ws:
        assert w.samples.dtype == np.float32 and w.samples.ndim == 1 and w.samples.size >= 1024
        assert np.all(np.isfinite(w.samples))
        assert 10_000 <= w.fs_hz <= 26_000
        assert 0.25 - 1e-9 <= w.samples.size / w.fs_hz <= 1.0 + 1e-9
        assert w.samples.size / w.fs_hz * w.params["rpm"] / 60 >= 2
        assert 600 <= w.params["rpm"] <= 3600 * 1.01
        assert abs(w.rpm / w.params["rpm"] - 1) < 0.01
        assert 0.0 <= w.params["severity"] <= 1.0 and isinstance(w.params["ts_ms"], int)
        assert set(w.bearing) == {"balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg"}
        assert isinstance(w.bearing["balls"], int)
    assert all(w.params["severity"] == 0.0 for w in ws if w.state == "healthy")


def test_given_a_window_when_messaged_then_payload_round_trips():
    w = windows(1, 1, ("inner_race",))[0]
    msg = w.message()
    decoded = np.frombuffer(base64.b64decode(msg["samples_b64"]), dtype="<f4")
    np.testing.assert_array_equal(decoded, w.samples)
    assert msg["unit"] == "g" and msg["fs_hz"] == w.fs_hz and msg["rpm"] == w.rpm and msg["bearing"] == w.bearing
    plain = w.message(binary=False)
    np.testing.assert_array_equal(np.asarray(plain["samples"], dtype=np.float32), w.samples)
    assert "samples_b64" not in plain


def test_given_a_clear_outer_race_fault_when_envelope_analysed_then_it_peaks_at_bpfo():
    for m in fleet(11, 3):
        w = machine_windows(m, "outer_race", 1, 5, severity=1.0)[0]
        bpfo = w.params["orders"]["bpfo"] * w.params["rpm"] / 60
        peak = _envelope_peak_hz(w, 1.5 * bpfo)
        assert abs(peak - bpfo) <= 2.5 * w.fs_hz / w.samples.size


def test_given_imbalance_when_analysed_then_1x_dominates_2x_and_3x():
    for m in fleet(2, 3):
        w = machine_windows(m, "imbalance", 1, 1, imbalance_factor=4.0)[0]
        fr = w.params["rpm"] / 60
        v = [_amp_at(w, k * fr) / k for k in (1, 2, 3)]  # divide by k: compare as velocity
        assert v[0] > 3 * v[1] and v[0] > 3 * v[2]


def test_given_misalignment_when_analysed_then_2x_is_strong():
    for m in fleet(4, 3):
        healthy = machine_windows(m, "healthy", 1, 1)[0]
        w = machine_windows(m, "misalignment", 1, 1, severity=0.8)[0]
        fr = w.params["rpm"] / 60
        assert _amp_at(w, 2 * fr) / 2 > 0.9 * _amp_at(w, fr)
        assert _amp_at(w, 2 * fr) > 3 * _amp_at(healthy, 2 * fr)


def test_given_one_machine_when_healthy_for_many_minutes_then_residual_1x_is_stable():
    m = fleet(5, 1)[0]
    ws = machine_windows(m, "healthy", 8, 9)
    fr = m.rpm_nominal / 60
    a1 = np.array([_amp_at(w, fr) for w in ws])
    assert 20 * np.log10(a1.max() / a1.min()) < 3.0
    assert [w.params["ts_ms"] - ws[0].params["ts_ms"] for w in ws] == [60_000 * i for i in range(8)]
    assert np.isclose(a1.mean(), vel_to_g(m.residual_mm_s[0], fr), rtol=0.3)


def test_given_an_unknown_state_when_requested_then_value_error():
    m = fleet(1, 1)[0]
    with pytest.raises(ValueError):
        machine_windows(m, "spalled_unicorn", 1, 0)
    with pytest.raises(ValueError):
        windows(0, 1, ("spalled_unicorn",))


def test_given_a_faster_machine_when_replaced_then_line_frequencies_move():
    m = fleet(6, 1)[0]
    fast = dataclasses.replace(m, rpm_nominal=m.rpm_nominal * 1.5)
    w0 = machine_windows(m, "imbalance", 1, 3, imbalance_factor=8.0)[0]
    w1 = machine_windows(fast, "imbalance", 1, 3, imbalance_factor=8.0)[0]
    assert np.isclose(w1.params["rpm"], 1.5 * w0.params["rpm"], rtol=0.01)

    def peak_hz(w: Window) -> float:
        x = w.samples.astype(float)
        f = np.fft.rfftfreq(x.size, 1 / w.fs_hz)
        v = np.abs(np.fft.rfft(x * np.hanning(x.size))) / np.maximum(f, 1.0)  # velocity-like weighting
        sel = (f > 5) & (f < 100)
        return float(f[sel][np.argmax(v[sel])])

    res = w0.fs_hz / w0.samples.size * 2
    assert abs(peak_hz(w0) - w0.params["rpm"] / 60) <= res
    assert abs(peak_hz(w1) - w1.params["rpm"] / 60) <= w1.fs_hz / w1.samples.size * 2
