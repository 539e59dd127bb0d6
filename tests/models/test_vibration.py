"""Physics, determinism and wire format of the synthetic vibration generator (and the model export)."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from edge_agent.contracts import BearingGeometry
from models.training.vibration import (
    ALL_STATES,
    BEARINGS,
    STATES,
    UNTRAINED_STATES,
    VibrationDomain,
    VibrationSample,
    generate_batch,
    generate_window,
    to_message,
)

# Corners of the domain: slow/fast shaft, low/high sample rate, short/long window, every bearing.
CORNERS: list[dict[str, Any]] = [
    {"rpm": 600.0, "fs_hz": 10_000.0, "duration_s": 1.0, "bearing": BEARINGS[0]},
    {"rpm": 3600.0, "fs_hz": 26_000.0, "duration_s": 0.25, "bearing": BEARINGS[1]},
    {"rpm": 1500.0, "fs_hz": 12_800.0, "duration_s": 0.5, "bearing": BEARINGS[2]},
    {"rpm": 2400.0, "fs_hz": 25_600.0, "duration_s": 0.5, "bearing": BEARINGS[3]},
    {"rpm": 900.0, "fs_hz": 20_000.0, "duration_s": 0.8, "bearing": BEARINGS[4]},
    {"rpm": 3000.0, "fs_hz": 16_384.0, "duration_s": 0.4, "bearing": BEARINGS[5]},
    {"rpm": 1200.0, "fs_hz": 10_240.0, "duration_s": 0.6, "bearing": BEARINGS[6]},
]


def envelope_spectrum(sample: VibrationSample, half_band_hz: float = 1000.0) -> tuple[np.ndarray, np.ndarray]:
    """Classic envelope analysis: band-pass around the resonance, |Hilbert|, FFT (frequencies, amplitudes)."""
    x = sample.samples.astype(np.float64)
    n = x.size
    res = float(sample.params["resonance_hz"])
    freqs = np.fft.fftfreq(n, 1.0 / sample.fs_hz)
    spec = np.fft.fft(x)
    analytic = np.where((freqs > res - half_band_hz) & (freqs < res + half_band_hz), 2 * spec, 0)
    env = np.abs(np.fft.ifft(analytic))
    env -= env.mean()
    pad = 8 * n
    amp = np.abs(np.fft.rfft(env * np.hanning(n), pad))
    return np.fft.rfftfreq(pad, 1.0 / sample.fs_hz), amp


def raw_spectrum(sample: VibrationSample) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed amplitude spectrum, zero-padded for accurate peak positions."""
    x = sample.samples.astype(np.float64)
    pad = 8 * x.size
    amp = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(x.size), pad)) * 4 / x.size
    return np.fft.rfftfreq(pad, 1.0 / sample.fs_hz), amp


def peak_in(freqs: np.ndarray, amp: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Frequency and amplitude of the highest point in [lo, hi]."""
    sel = (freqs >= lo) & (freqs <= hi)
    i = int(np.argmax(amp[sel]))
    return float(freqs[sel][i]), float(amp[sel][i])


def level_at(freqs: np.ndarray, amp: np.ndarray, f: float, tol: float) -> float:
    """Highest amplitude within f +- tol."""
    return peak_in(freqs, amp, f - tol, f + tol)[1]


def tolerance(sample: VibrationSample, f: float) -> float:
    """Slip (<= 2%) plus tachometer error, or the spectral resolution of a short window."""
    return max(0.03 * f, 1.0 / (len(sample.samples) / sample.fs_hz))


@pytest.mark.parametrize("corner", CORNERS)
def test_outer_race_envelope_peaks_at_bpfo(corner: dict[str, Any]) -> None:
    s = generate_window(np.random.default_rng(1), "outer_race", snr_db=6.0, **corner)
    bpfo = s.bearing.fault_orders()["bpfo"] * s.rpm / 60
    freqs, amp = envelope_spectrum(s)
    f_peak, _ = peak_in(freqs, amp, 0.3 * bpfo, 1.5 * bpfo)
    assert abs(f_peak - bpfo) <= tolerance(s, bpfo), (f_peak, bpfo)


@pytest.mark.parametrize("corner", CORNERS)
def test_inner_race_envelope_peaks_at_bpfi_with_shaft_sidebands(corner: dict[str, Any]) -> None:
    s = generate_window(np.random.default_rng(2), "inner_race", snr_db=10.0, modulation_depth=0.8, **corner)
    fr = s.rpm / 60
    bpfi = s.bearing.fault_orders()["bpfi"] * fr
    freqs, amp = envelope_spectrum(s)
    f_peak, _a_peak = peak_in(freqs, amp, bpfi - 0.5 * fr, bpfi + 0.5 * fr)
    assert abs(f_peak - bpfi) <= tolerance(s, bpfi), (f_peak, bpfi)
    floor = float(np.median(amp[(freqs > 0.5 * fr) & (freqs < 4 * bpfi)]))
    for side in (bpfi - fr, bpfi + fr):
        assert level_at(freqs, amp, side, tolerance(s, bpfi)) > 4 * floor  # > 12 dB over the floor
    assert level_at(freqs, amp, fr, tolerance(s, fr)) > 4 * floor  # load-zone modulation: a 1x line


@pytest.mark.parametrize("corner", CORNERS[::2])
def test_ball_envelope_peaks_at_twice_bsf(corner: dict[str, Any]) -> None:
    s = generate_window(np.random.default_rng(3), "ball", snr_db=10.0, **corner)
    two_bsf = 2 * s.bearing.fault_orders()["bsf"] * s.rpm / 60
    freqs, amp = envelope_spectrum(s)
    f_peak, _ = peak_in(freqs, amp, 0.75 * two_bsf, 1.25 * two_bsf)
    assert abs(f_peak - two_bsf) <= tolerance(s, two_bsf), (f_peak, two_bsf)


@pytest.mark.parametrize("corner", CORNERS)
def test_imbalance_spectrum_peaks_at_1x(corner: dict[str, Any]) -> None:
    s = generate_window(np.random.default_rng(4), "imbalance", snr_db=0.0, **corner)
    fr = s.rpm / 60
    freqs, amp = raw_spectrum(s)
    f_peak, _ = peak_in(freqs, amp, 0.3 * fr, s.fs_hz / 2)
    assert abs(f_peak - fr) <= tolerance(s, fr)


@pytest.mark.parametrize("corner", CORNERS)
def test_misalignment_has_strong_2x(corner: dict[str, Any]) -> None:
    s = generate_window(np.random.default_rng(5), "misalignment", snr_db=6.0, **corner)
    fr = s.rpm / 60
    freqs, amp = raw_spectrum(s)
    a1, a2, a3 = (level_at(freqs, amp, k * fr, 0.02 * k * fr) for k in (1, 2, 3))
    assert a2 >= 0.7 * a1
    assert a2 > a3
    f_peak, _ = peak_in(freqs, amp, 0.3 * fr, s.fs_hz / 2)
    assert min(abs(f_peak - fr), abs(f_peak - 2 * fr)) <= tolerance(s, 2 * fr)


def test_healthy_has_only_low_running_speed_components() -> None:
    for i, corner in enumerate(CORNERS):
        s = generate_window(np.random.default_rng(10 + i), "healthy", **corner)
        fr = s.rpm / 60
        freqs, amp = raw_spectrum(s)
        a1 = level_at(freqs, amp, fr, tolerance(s, fr))
        total_power = float(np.mean(s.samples.astype(np.float64) ** 2))
        assert a1**2 / 2 < 0.12 * total_power  # 1x holds well under an eighth of the power
        assert np.isnan(s.params["snr_db"])


def test_looseness_has_half_orders_and_truncation() -> None:
    s = generate_window(np.random.default_rng(6), "looseness", snr_db=15.0, **CORNERS[2])
    fr = s.rpm / 60
    freqs, amp = raw_spectrum(s)
    floor = float(np.median(amp[(freqs > 12 * fr) & (freqs < 30 * fr)]))
    for order in (0.5, 1.5, 2.5, 5, 7, 9):
        assert level_at(freqs, amp, order * fr, 0.02 * order * fr) > 10 * floor, order
    assert float(s.params["clip_fraction"]) > 0.0


def test_gear_mesh_tone_at_teeth_times_1x_with_sidebands() -> None:
    s = generate_window(np.random.default_rng(7), "gear_mesh", snr_db=10.0, gear_teeth=23, **CORNERS[3])
    fr = s.rpm / 60
    freqs, amp = raw_spectrum(s)
    f_peak, _a_peak = peak_in(freqs, amp, 4 * fr, s.fs_hz / 2)
    assert abs(f_peak - 23 * fr) <= 0.01 * 23 * fr
    floor = float(np.median(amp[(freqs > 0.5 * s.fs_hz / 4) & (freqs < 0.4 * s.fs_hz)]))
    for side in (22 * fr, 24 * fr):
        assert level_at(freqs, amp, side, 0.01 * side) > 10 * floor


def test_snr_sets_the_bearing_signature_power() -> None:
    # given outer-race windows of one machine at two SNRs; then the ringing band's power follows the SNR
    def band_power(snr: float) -> float:
        s = generate_window(np.random.default_rng(8), "outer_race", snr_db=snr, **CORNERS[3])
        spec = np.abs(np.fft.rfft(s.samples.astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(s.samples.size, 1 / s.fs_hz)
        return float(spec[(freqs > 1500) & (freqs < 0.45 * s.fs_hz)].sum())

    assert band_power(20.0) > 10 * band_power(0.0)


def test_imbalance_is_a_1x_of_at_least_3_5_times_the_machines_own_residual() -> None:
    # given imbalance windows at every corner; then the 1x is 3.5x-30x the residual 1x of that machine
    for i, corner in enumerate(CORNERS):
        s = generate_window(np.random.default_rng(30 + i), "imbalance", **corner)
        fr = float(s.params["rpm_true"]) / 60
        residual_g = float(s.params["residual_1x_mm_s"]) * np.sqrt(2) * 2 * np.pi * fr / 9806.65
        freqs, amp = raw_spectrum(s)
        a1 = level_at(freqs, amp, s.rpm / 60, tolerance(s, s.rpm / 60))
        assert float(s.params["imbalance_over_residual_db"]) >= 11.0 - 1e-9
        assert a1 >= 3.0 * residual_g, (i, a1, residual_g)


@pytest.mark.parametrize("state", ALL_STATES)
def test_windows_cover_the_domain_and_are_valid(state: str) -> None:
    domain = VibrationDomain()
    for s in generate_batch(21, 8, (state,)):
        assert s.samples.dtype == np.float32 and s.samples.ndim == 1
        assert np.all(np.isfinite(s.samples))
        assert domain.fs_hz[0] <= s.fs_hz <= domain.fs_hz[1]
        assert len(s.samples) == round(s.fs_hz * float(s.params["duration_s"]))
        assert domain.rpm[0] * 0.99 <= s.rpm <= domain.rpm[1] * 1.01
        assert abs(s.rpm / float(s.params["rpm_true"]) - 1) <= domain.rpm_error + 1e-12
        if s.bearing not in BEARINGS:  # a drawn geometry: plausible, and its fault lines fit the band
            ratio = s.bearing.ball_diameter_mm / s.bearing.pitch_diameter_mm
            assert domain.random_balls[0] <= s.bearing.balls <= domain.random_balls[1]
            assert domain.random_diameter_ratio[0] - 0.01 <= ratio <= domain.random_diameter_ratio[1] + 0.01
        assert float(s.params["resonance_hz"]) < 0.45 * s.fs_hz
        assert s.state == state


def test_deterministic_per_seed_and_per_state_stream() -> None:
    a = generate_batch(5, 2)
    b = generate_batch(5, 2)
    assert [s.state for s in a] == [s for s in STATES for _ in range(2)]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.samples, y.samples)
        assert json.dumps(x.params, sort_keys=True) == json.dumps(y.params, sort_keys=True)  # NaN-safe
    only_ball = generate_batch(5, 2, ("ball",))
    np.testing.assert_array_equal(only_ball[1].samples, a[STATES.index("ball") * 2 + 1].samples)
    c = generate_batch(6, 2)
    assert not np.array_equal(a[0].samples, c[0].samples)


def test_half_the_windows_sit_on_drawn_bearing_geometries() -> None:
    drawn = [s.bearing not in BEARINGS for s in generate_batch(22, 40, ("outer_race",))]
    assert 0.25 < sum(drawn) / len(drawn) < 0.75


def test_untrained_states_are_distinct_from_trained() -> None:
    assert set(UNTRAINED_STATES).isdisjoint(STATES)
    assert len(generate_batch(1, 1, UNTRAINED_STATES)) == 2


def test_invalid_state_and_override_raise() -> None:
    with pytest.raises(ValueError, match="unknown vibration state"):
        generate_window(np.random.default_rng(0), "cavitation")
    with pytest.raises(ValueError, match="unknown vibration state"):
        generate_batch(0, 1, ("healthy", "nope"))
    with pytest.raises(ValueError, match="override"):
        generate_window(np.random.default_rng(0), "healthy", temperature=3.0)


def test_custom_bearing_and_domain_shift() -> None:
    bearing = BearingGeometry(balls=11, ball_diameter_mm=12.0, pitch_diameter_mm=60.0, contact_angle_deg=15)
    domain = VibrationDomain(rpm=(4000.0, 6000.0), bearings=(bearing,), random_bearing_share=0.0)
    s = generate_window(np.random.default_rng(3), "outer_race", domain, snr_db=10.0)
    assert s.bearing == bearing and s.rpm > 3900
    assert s.params["bearing"] == "11x12/60@15"
    bpfo = bearing.fault_orders()["bpfo"] * s.rpm / 60
    freqs, amp = envelope_spectrum(s)
    f_peak, _ = peak_in(freqs, amp, 0.3 * bpfo, 1.5 * bpfo)
    assert abs(f_peak - bpfo) <= tolerance(s, bpfo)
    json.dumps(domain.recipe())  # the recipe is JSON for the manifest


@pytest.mark.parametrize("binary", [False, True])
def test_to_message_round_trips(binary: bool) -> None:
    s = generate_window(np.random.default_rng(9), "inner_race", **CORNERS[1])
    msg = json.loads(json.dumps(to_message(s, binary=binary, ts_ms=1234)))
    assert msg["ts_ms"] == 1234 and msg["unit"] == "g"
    assert msg["fs_hz"] == s.fs_hz and msg["rpm"] == s.rpm
    if binary:
        assert "samples" not in msg
        decoded = np.frombuffer(base64.b64decode(msg["samples_b64"]), dtype="<f4")
    else:
        assert "samples_b64" not in msg
        decoded = np.asarray(msg["samples"], dtype=np.float32)
    np.testing.assert_array_equal(decoded, s.samples)
    assert BearingGeometry(**msg["bearing"]) == s.bearing
    assert set(msg["bearing"]) == {"balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg"}
    assert "bearing" not in to_message(s, include_bearing=False)
    assert isinstance(to_message(s)["ts_ms"], int)


def test_onnx_export_matches_sklearn_and_numpy_anomaly() -> None:
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from edge_agent.pipelines.vibration_features import FEATURE_NAMES
    from models.training.maintenance_export import anomaly_scores_numpy, build_onnx, fit_anomaly, run_onnx

    rng = np.random.default_rng(0)
    f = len(FEATURE_NAMES)
    y = np.repeat(np.arange(len(STATES)), 80)
    x = (rng.normal(size=(y.size, f)) + y[:, None] * 0.5).astype(np.float32)
    clf = Pipeline([("scale", StandardScaler()), ("mlp", MLPClassifier((16,), max_iter=50, random_state=0))])
    with pytest.warns(Warning):  # 50 iterations do not converge; irrelevant for the export check
        clf.fit(x, y)
    mu, sd = clf.named_steps["scale"].mean_, clf.named_steps["scale"].scale_
    a, b = fit_anomaly((x - mu) / sd, y, len(STATES), 0.02, 2, 0)
    model = build_onnx(clf, mu, sd, a, b)
    probs, scores = run_onnx(model, x[:7])
    assert probs.shape == (7, len(STATES)) and scores.shape == (7, 1)
    np.testing.assert_allclose(probs, clf.predict_proba(x[:7]), atol=1e-4)
    np.testing.assert_allclose(scores[:, 0], anomaly_scores_numpy(x[:7], mu, sd, a, b), rtol=1e-3, atol=1e-3)
    far = x[:1] + 50.0
    assert run_onnx(model, far)[1][0, 0] > scores.max()


def test_given_anomaly_components_over_the_first_features_when_exported_then_the_rest_do_not_move_the_score() -> None:
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from edge_agent.pipelines.vibration_features import FEATURE_NAMES
    from models.training.maintenance_export import anomaly_scores_numpy, build_onnx, fit_anomaly, run_onnx

    # given a model whose anomaly components cover the first 40 features only (bearing-health 1.3)
    rng = np.random.default_rng(1)
    f, k = len(FEATURE_NAMES), 40
    y = np.repeat(np.arange(len(STATES)), 80)
    x = (rng.normal(size=(y.size, f)) + y[:, None] * 0.5).astype(np.float32)
    clf = Pipeline([("scale", StandardScaler()), ("mlp", MLPClassifier((16,), max_iter=50, random_state=0))])
    with pytest.warns(Warning):
        clf.fit(x, y)
    mu, sd = clf.named_steps["scale"].mean_, clf.named_steps["scale"].scale_
    a, b = fit_anomaly(((x - mu) / sd)[:, :k], y, len(STATES), 0.02, 2, 0)
    model = build_onnx(clf, mu, sd, a, b)
    # when the ONNX graph scores windows, and the same windows with the later features moved far away
    scores = run_onnx(model, x[:7])[1]
    moved = x[:7].copy()
    moved[:, k:] += 50.0
    # then it equals the numpy reference, and features past the first 40 leave the score alone
    np.testing.assert_allclose(scores[:, 0], anomaly_scores_numpy(x[:7], mu, sd, a, b), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(run_onnx(model, moved)[1], scores, rtol=1e-5, atol=1e-5)
    assert run_onnx(model, x[:1] + 50.0)[1][0, 0] > scores.max()
