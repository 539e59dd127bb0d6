"""Tests of the fourth clean-room vibration evaluation generator (shapes, determinism, physics it promises)."""

from __future__ import annotations

import base64
import dataclasses
import json

import numpy as np
import pytest

from models.evaluation.fourth_vibration import (
    SEVERITY_SCALE,
    TRAINED_STATES,
    UNTRAINED_STATES,
    Machine,
    Window,
    fleet,
    machine_windows,
    windows,
)
from models.evaluation.fourth_vibration_faults import kinematic_orders


def _line(w: Window, order: float) -> float:
    """Peak amplitude (g) of the shaft-order line, from a zero-padded Hann spectrum (no scalloping loss)."""
    x = w.samples.astype(np.float64)
    win = np.hanning(x.size)
    spec = np.abs(np.fft.rfft((x - x.mean()) * win, 16 * x.size)) * 2 / win.sum()
    f = np.fft.rfftfreq(16 * x.size, 1 / w.fs_hz)
    hz = order * w.params["rpm"] / 60
    near = np.abs(f - hz) <= 0.02 * hz + 0.5
    return float(spec[near].max())


def _envelope_spectrum(w: Window, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Squared-envelope spectrum of the window band-passed to [lo, hi] Hz."""
    x = w.samples.astype(np.float64)
    spec = np.fft.fft(x - x.mean())
    f = np.fft.fftfreq(x.size, 1 / w.fs_hz)
    spec[(f < lo) | (f > hi)] = 0.0  # one-sided band: the inverse is the analytic band signal
    env = np.abs(np.fft.ifft(2 * spec)) ** 2
    out = np.abs(np.fft.rfft((env - env.mean()) * np.hanning(x.size)))
    return np.fft.rfftfreq(x.size, 1 / w.fs_hz), out


def _defect_hz(w: Window, key: str) -> float:
    """Kinematic defect frequency computed, as a model would, from the message's rpm and bearing."""
    b = w.message()["bearing"]
    orders = kinematic_orders(b["balls"], b["ball_diameter_mm"], b["pitch_diameter_mm"], b["contact_angle_deg"])
    return orders[key] * w.rpm / 60


def test_given_same_seed_when_windows_generated_then_identical_and_another_seed_differs() -> None:
    a, b, c = windows(5, 2), windows(5, 2), windows(6, 2)
    assert [w.state for w in a] == [w.state for w in b]
    assert all(np.array_equal(x.samples, y.samples) and x.params == y.params for x, y in zip(a, b))
    assert not all(x.samples.size == y.samples.size and np.array_equal(x.samples, y.samples) for x, y in zip(a, c))
    assert fleet(3, 4) == fleet(3, 4)
    assert fleet(3, 4) != fleet(4, 4)


def test_given_every_state_when_windows_generated_then_shapes_dtypes_and_ranges_hold() -> None:
    states = TRAINED_STATES + UNTRAINED_STATES
    assert len(UNTRAINED_STATES) >= 4 and not set(UNTRAINED_STATES) & set(TRAINED_STATES)
    assert set(SEVERITY_SCALE) == set(states)
    ws = windows(11, 3, states)
    assert [w.state for w in ws] == [s for s in states for _ in range(3)]
    for w in ws:
        assert w.samples.dtype == np.float32 and w.samples.ndim == 1 and w.samples.size >= 1024
        assert np.all(np.isfinite(w.samples)) and float(np.std(w.samples)) > 0
        assert 10_000 <= w.fs_hz <= 26_000 and 0.25 <= w.samples.size / w.fs_hz <= 1.0
        assert 600 <= w.params["rpm"] <= 3600 and abs(w.rpm / w.params["rpm"] - 1) < 0.03
        assert 0.0 <= w.params["severity"] <= 1.0 and (w.state != "healthy" or w.params["severity"] == 0.0)
        assert isinstance(w.params["ts_ms"], int)
        assert set(w.bearing) == {"balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg"}
    thirds = [int((w.params["rpm"] - 600) // 1000) for w in ws if w.state == "healthy"]
    assert sorted(thirds) == [0, 1, 2]


def test_given_a_fleet_when_drawn_then_speeds_cover_the_thirds_and_replace_works() -> None:
    machines = fleet(2, 9)
    assert all(isinstance(m, Machine) and m.asset_id for m in machines)
    assert sorted(int((m.rpm_nominal - 600) // 1000) for m in machines) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    slow = dataclasses.replace(machines[2], rpm_nominal=900.0)
    w = machine_windows(slow, "healthy", 1, seed=1)[0]
    assert 880 <= w.params["rpm"] <= 920


@pytest.mark.parametrize("binary", [True, False])
def test_given_a_window_when_messaged_then_samples_round_trip(binary: bool) -> None:
    w = windows(3, 1, ("outer_race",))[0]
    msg = json.loads(json.dumps(w.message(binary=binary)))
    assert msg["unit"] == "g" and msg["fs_hz"] == w.fs_hz and msg["rpm"] == w.rpm and msg["ts_ms"] == w.params["ts_ms"]
    assert set(msg["bearing"]) == {"balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg"}
    if binary:
        assert "samples" not in msg
        decoded = np.frombuffer(base64.b64decode(msg["samples_b64"]), dtype="<f4")
    else:
        assert "samples_b64" not in msg
        decoded = np.asarray(msg["samples"], dtype=np.float32)
    assert np.array_equal(decoded, w.samples)


def test_given_one_machine_when_healthy_windows_taken_then_its_residual_1x_repeats_and_machines_differ() -> None:
    per_machine = []
    for m in fleet(21, 8):
        ws = machine_windows(m, "healthy", 5, seed=4)
        resolution = m.fs_hz / m.n_samples
        if any(abs(ws[0].params["rpm"] / 60 - k * m.line_hz) < 3 * resolution for k in (1, 3)):
            continue  # a 2-pole motor's 1x beats with mains pickup that no window this short can separate
        ones = np.array([_line(w, 1.0) for w in ws])
        assert np.all(np.abs(ones / np.median(ones) - 1) < 0.1), (m.asset_id, ones)
        per_machine.append(ones.mean())
    assert len(per_machine) >= 5 and max(per_machine) / min(per_machine) > 2.0


def test_given_outer_race_fault_when_envelope_analysed_then_it_peaks_at_bpfo() -> None:
    for m in fleet(31, 6):
        w = machine_windows(m, "outer_race", 1, seed=2, severity=0.6)[0]
        res = w.params["resonance_hz"]
        f, env = _envelope_spectrum(w, 0.8 * res, 1.2 * res)
        bpfo = _defect_hz(w, "bpfo")
        look = (f > 0.3 * bpfo) & (f < 1.5 * bpfo)
        assert abs(f[look][np.argmax(env[look])] / bpfo - 1) < 0.04, m.asset_id


def test_given_an_early_outer_race_fault_when_envelope_analysed_then_most_machines_show_bpfo() -> None:
    shown = 0
    machines = fleet(33, 10)
    for m in machines:
        w = machine_windows(m, "outer_race", 1, seed=5, severity=0.0)[0]
        res = w.params["resonance_hz"]
        f, env = _envelope_spectrum(w, 0.8 * res, 1.2 * res)
        bpfo = _defect_hz(w, "bpfo")
        near = np.abs(f - bpfo) <= max(0.04 * bpfo, 1.5 * f[1])
        shown += bool(env[near].max() > 3 * np.median(env[(f > 5) & (f < min(0.2 * res, 10 * bpfo))]))
    assert shown >= 0.6 * len(machines)  # early means faint but real, not invisible by construction


def test_given_inner_race_fault_when_envelope_analysed_then_bpfi_stands_out() -> None:
    for m in fleet(41, 6):
        w = machine_windows(m, "inner_race", 1, seed=2, severity=0.6)[0]
        res = w.params["resonance_hz"]
        f, env = _envelope_spectrum(w, 0.8 * res, 1.2 * res)
        bpfi = _defect_hz(w, "bpfi")
        near = np.abs(f - bpfi) <= max(0.04 * bpfi, 1.5 * f[1])
        floor = np.median(env[(f > 5) & (f < min(0.2 * res, 10 * bpfi))])
        assert env[near].max() > 3 * floor, m.asset_id


def test_given_imbalance_factor_3_when_generated_then_1x_is_three_times_the_machines_own() -> None:
    for m in fleet(51, 4):
        own = np.mean([_line(w, 1.0) for w in machine_windows(m, "healthy", 3, seed=1)])
        ws = machine_windows(m, "imbalance", 3, seed=1, imbalance_factor=3.0)
        ratio = np.mean([_line(w, 1.0) for w in ws]) / own
        assert 2.6 < ratio < 3.4, (m.asset_id, ratio)
        assert all(w.params["imbalance_factor"] == 3.0 and 0 < w.params["severity"] < 1 for w in ws)


def test_given_misalignment_when_generated_then_2x_is_strong() -> None:
    for m in fleet(61, 8):
        healthy = machine_windows(m, "healthy", 1, seed=1)[0]
        w = machine_windows(m, "misalignment", 1, seed=1, severity=0.2)[0]
        assert _line(w, 2.0) > 1.5 * _line(healthy, 2.0), m.asset_id
        if m.axial:  # angular misalignment bends the shaft: a strong axial 1x
            assert _line(w, 1.0) > 1.5 * _line(healthy, 1.0), m.asset_id
        else:  # 2x velocity (acceleration / 2) at least about the 1x velocity
            assert _line(w, 2.0) / 2 > 0.8 * _line(w, 1.0), m.asset_id


def test_given_unknown_state_when_requested_then_value_error() -> None:
    with pytest.raises(ValueError):
        windows(1, 1, ("healthy", "rotor_on_fire"))
    with pytest.raises(ValueError):
        machine_windows(fleet(1, 1)[0], "rotor_on_fire", 1, seed=1)
