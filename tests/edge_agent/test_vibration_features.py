"""Shaft-order vibration features: invariances, physics, input validation, speed, numpy-only."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest

from edge_agent.contracts import BearingGeometry
from edge_agent.errors import InputError, InputShapeError
from edge_agent.pipelines.vibration_features import (
    FEATURE_NAMES,
    FEATURE_NAMES_V1,
    FEATURE_NAMES_V1_1,
    default_step,
    extract_batch,
    extract_features,
)
from models.training.vibration import ALL_STATES, BEARINGS, generate_batch, generate_window
from tests.edge_agent.baseline.signals import BEARING as SIGNALS_BEARING
from tests.edge_agent.baseline.signals import MASKED_FS, MASKED_RPM, masked_fault_window

STEP = default_step()
IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}
BEARING = BEARINGS[0]


def feats(state: str, seed: int = 0, **overrides: Any) -> np.ndarray:
    s = generate_window(np.random.default_rng(seed), state, **overrides)
    return extract_features(s.samples, s.fs_hz, s.rpm, s.bearing, STEP)


def test_default_step_names_the_features() -> None:
    assert STEP.feature_names == list(FEATURE_NAMES)
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert STEP.envelope_band_hz[0] < STEP.envelope_band_hz[1]


def test_features_are_finite_float32_for_every_state() -> None:
    windows = generate_batch(3, 4, ALL_STATES)
    x = extract_batch([(w.samples, w.fs_hz, w.rpm, w.bearing) for w in windows], STEP)
    assert x.shape == (len(windows), len(FEATURE_NAMES)) and x.dtype == np.float32
    assert np.all(np.isfinite(x))
    single = extract_features(windows[5].samples, windows[5].fs_hz, windows[5].rpm, windows[5].bearing, STEP)
    np.testing.assert_array_equal(x[5], single)


def test_amplitude_level_leaks_only_into_the_velocity_severity() -> None:
    s = generate_window(np.random.default_rng(1), "inner_race")
    a = extract_features(s.samples, s.fs_hz, s.rpm, s.bearing, STEP)
    b = extract_features(s.samples * 37.0, s.fs_hz, s.rpm, s.bearing, STEP)
    velocity = [IDX["velocity_1x_db"], IDX["velocity_10_1000hz_db"]]
    relative = [i for i in range(len(FEATURE_NAMES)) if i not in velocity]
    np.testing.assert_allclose(a[relative], b[relative], atol=2e-3)
    np.testing.assert_allclose(b[velocity] - a[velocity], 20 * np.log10(37.0), atol=2e-3)


def test_velocity_features_read_a_known_tone_in_mm_per_s() -> None:
    # given 0.1 g peak at 1x (30 Hz) and 0.05 g at 200 Hz; then 1x and 10-1000 Hz velocity are ISO mm/s RMS
    fs, rpm = 25_600.0, 1800.0
    t = np.arange(12_800) / fs
    x = 0.1 * np.cos(2 * np.pi * 30 * t) + 0.05 * np.cos(2 * np.pi * 200 * t) + 1e-3 * np.sin(2 * np.pi * 3100 * t)
    f = extract_features(x, fs, rpm, BEARING, STEP)
    v1 = 0.1 * 9806.65 / (2 * np.pi * 30) / np.sqrt(2)
    v2 = 0.05 * 9806.65 / (2 * np.pi * 200) / np.sqrt(2)
    assert 10 ** (f[IDX["velocity_1x_db"]] / 20) == pytest.approx(v1, rel=0.01)
    assert 10 ** (f[IDX["velocity_10_1000hz_db"]] / 20) == pytest.approx(np.hypot(v1, v2), rel=0.01)


def test_a_model_trained_on_fewer_features_gets_those_in_its_own_order() -> None:
    # given the 1.0 feature list (35 names) and a reordered subset; then each gets the full vector's values
    s = generate_window(np.random.default_rng(2), "ball")
    full = extract_features(s.samples, s.fs_hz, s.rpm, s.bearing, STEP)
    v1 = STEP.model_copy(update={"feature_names": list(FEATURE_NAMES_V1)})
    np.testing.assert_array_equal(extract_features(s.samples, s.fs_hz, s.rpm, s.bearing, v1), full[:35])
    picked = ["velocity_1x_db", "kurtosis_log10", "raw_2x_over_1x_db"]
    step = STEP.model_copy(update={"feature_names": picked})
    got = extract_features(s.samples, s.fs_hz, s.rpm, s.bearing, step)
    np.testing.assert_array_equal(got, full[[IDX[n] for n in picked]])


def test_a_1_1_model_gets_the_first_40_features_unchanged() -> None:
    s = generate_window(np.random.default_rng(4), "outer_race")
    full = extract_features(s.samples, s.fs_hz, s.rpm, s.bearing, STEP)
    v11 = STEP.model_copy(update={"feature_names": list(FEATURE_NAMES_V1_1)})
    np.testing.assert_array_equal(extract_features(s.samples, s.fs_hz, s.rpm, s.bearing, v11), full[:40])


def test_given_a_faint_fault_masked_by_a_noise_mode_when_read_in_narrow_bands_then_its_lines_stand_out() -> None:
    # given outer-race impacts ringing 2.5 kHz too faintly to lift the wide 1.5-8 kHz envelope band, which a
    # noise-fed 5.5 kHz frame mode fills
    def bpfo_lines(impact_g: float) -> tuple[float, float]:
        x = np.array(
            [
                extract_features(masked_fault_window(seed, impact_g), MASKED_FS, MASKED_RPM, SIGNALS_BEARING, STEP)
                for seed in range(4)
            ]
        )
        wide = x[:, [IDX["env_bpfo_1_db"], IDX["env_bpfo_2_db"], IDX["env_bpfo_3_db"]]].mean()
        return float(x[:, IDX["nb_bpfo_db"]].mean()), float(wide)

    healthy_narrow, healthy_wide = bpfo_lines(0.0)
    fault_narrow, fault_wide = bpfo_lines(0.01)
    # then the wide-band BPFO lines barely move, and the narrow-band one rises by well over 10 dB
    assert fault_wide - healthy_wide < 2.0
    assert fault_narrow - healthy_narrow > 15.0


def test_gear_mesh_raises_the_high_shaft_order_tone_over_healthy() -> None:
    healthy = feats("healthy", 4, **{"rpm": 1500.0, "fs_hz": 20_000.0, "duration_s": 0.5})
    mesh = feats("gear_mesh", 4, snr_db=6.0, **{"rpm": 1500.0, "fs_hz": 20_000.0, "duration_s": 0.5})
    feature = IDX["raw_sync_7x_60x_over_floor_db"]
    assert mesh[feature] > healthy[feature] + 10


@pytest.mark.parametrize(
    ("state", "feature"),
    [("outer_race", "env_bpfo_1_db"), ("inner_race", "env_bpfi_1_db"), ("ball", "env_2bsf_1_db")],
)
def test_fault_line_dominates_at_every_speed_and_bearing(state: str, feature: str) -> None:
    rivals = {"env_bpfo_1_db", "env_bpfi_1_db", "env_2bsf_1_db"} - {feature}
    for i, (rpm, fs, bearing) in enumerate(
        [(650.0, 10_240.0, BEARINGS[0]), (1800.0, 25_600.0, BEARINGS[3]), (3500.0, 16_000.0, BEARINGS[5])]
    ):
        f = feats(state, 30 + i, rpm=rpm, fs_hz=fs, bearing=bearing, snr_db=6.0, duration_s=0.5)
        assert f[IDX[feature]] > 12.0, (rpm, f[IDX[feature]])
        assert all(f[IDX[feature]] > f[IDX[r]] for r in rivals), (rpm, feature)


def test_speed_normalised_features_agree_across_speeds() -> None:
    slow = feats("outer_race", 4, rpm=700.0, fs_hz=20_000.0, duration_s=1.0, snr_db=10.0, bearing=BEARING)
    fast = feats("outer_race", 4, rpm=3400.0, fs_hz=20_000.0, duration_s=1.0, snr_db=10.0, bearing=BEARING)
    for name in ("env_bpfo_1_db", "env_bpfo_2_db"):
        assert slow[IDX[name]] > 15 and fast[IDX[name]] > 15


def test_shaft_faults_show_in_raw_orders() -> None:
    # one machine (same seed, so the same residual series and noise) healthy, unbalanced and misaligned
    imb = feats("imbalance", 5, snr_db=15.0)
    healthy = feats("healthy", 5)
    assert imb[IDX["raw_1x_db"]] > healthy[IDX["raw_1x_db"]] + 10  # the 1x takes over the window
    assert imb[IDX["raw_1x_over_2x_3x_db"]] > healthy[IDX["raw_1x_over_2x_3x_db"]] + 10  # and its own harmonics
    assert imb[IDX["velocity_1x_db"]] > healthy[IDX["velocity_1x_db"]] + 10
    mis = feats("misalignment", 5, snr_db=15.0)
    assert mis[IDX["raw_2x_db"]] > mis[IDX["raw_1x_db"]] - 3.0
    assert mis[IDX["raw_2x_over_1x_db"]] > healthy[IDX["raw_2x_over_1x_db"]]
    loose = feats("looseness", 5, snr_db=10.0)
    assert loose[IDX["raw_half_orders_over_floor_db"]] > healthy[IDX["raw_half_orders_over_floor_db"]] + 10
    gear = feats("gear_mesh", 5, snr_db=10.0)
    assert gear[IDX["raw_max_tone_over_floor_db"]] > 30.0


def _window(n: int = 12_800) -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.1, n).astype(np.float32)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_rejected(bad: float) -> None:
    x = _window()
    x[100] = bad
    with pytest.raises(InputError, match="NaN/inf"):
        extract_features(x, 25_600.0, 1800.0, BEARING, STEP)


def test_length_limits() -> None:
    with pytest.raises(InputShapeError, match="samples"):
        extract_features(_window(STEP.min_samples - 1), 25_600.0, 1800.0, BEARING, STEP)
    with pytest.raises(InputShapeError, match="samples"):
        extract_features(_window(STEP.max_samples + 1), 25_600.0, 1800.0, BEARING, STEP)
    with pytest.raises(InputShapeError, match="one axis"):
        extract_features(_window().reshape(2, -1), 25_600.0, 1800.0, BEARING, STEP)


@pytest.mark.parametrize("rpm", [0.0, -100.0, None, float("nan"), float("inf")])
def test_bad_rpm_rejected(rpm: float | None) -> None:
    with pytest.raises(InputError, match="rpm"):
        extract_features(_window(), 25_600.0, rpm, BEARING, STEP)  # type: ignore[arg-type]


def test_fs_too_low_for_band_rejected() -> None:
    with pytest.raises(InputError, match="too low for the envelope band"):
        extract_features(_window(4000), 3_000.0, 1800.0, BEARING, STEP)
    with pytest.raises(InputError, match="fs_hz"):
        extract_features(_window(), 0.0, 1800.0, BEARING, STEP)


def test_too_few_revolutions_rejected() -> None:
    # 0.5 s at 180 rpm is 1.5 revolutions: no 1x line can be resolved.
    with pytest.raises(InputShapeError, match="revolutions"):
        extract_features(_window(), 25_600.0, 180.0, BEARING, STEP)


def test_missing_bearing_constant_window_and_foreign_step_rejected() -> None:
    with pytest.raises(InputError, match="bearing"):
        extract_features(_window(), 25_600.0, 1800.0, None, STEP)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="constant"):
        extract_features(np.ones(12_800, dtype=np.float32), 25_600.0, 1800.0, BEARING, STEP)
    other = STEP.model_copy(update={"feature_names": ["rms"]})
    with pytest.raises(InputError, match="does not compute"):
        extract_features(_window(), 25_600.0, 1800.0, BEARING, other)


def test_high_contact_angle_bearing_works() -> None:
    bearing = BearingGeometry(balls=13, ball_diameter_mm=9.0, pitch_diameter_mm=45.0, contact_angle_deg=40)
    f = feats("outer_race", 6, bearing=bearing, snr_db=8.0)
    assert f[IDX["env_bpfo_1_db"]] > 12.0


def test_fast_enough_for_a_gateway() -> None:
    s = generate_window(np.random.default_rng(7), "ball", fs_hz=25_600.0, duration_s=0.5)
    extract_features(s.samples, s.fs_hz, s.rpm, s.bearing, STEP)
    best = min(_timed(lambda: extract_features(s.samples, s.fs_hz, s.rpm, s.bearing, STEP)) for _ in range(30))
    # The target is 2 ms on one gateway core; the bound is loose because CI machines are shared.
    assert best < 0.010, best


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def test_module_is_numpy_only() -> None:
    code = (
        "import sys, edge_agent.pipelines.vibration_features\n"
        "bad = [m for m in ('scipy', 'sklearn', 'onnx', 'cv2') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
