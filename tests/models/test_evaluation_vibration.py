"""Tests for the clean-room vibration evaluation world (models/evaluation/vibration_*.py)."""

from __future__ import annotations

import ast
import base64
from pathlib import Path

import numpy as np
import pytest

from models.evaluation import vibration_world as vw
from models.evaluation.vibration_signals import bearing_orders

EVAL_DIR = Path(__file__).resolve().parents[2] / "models" / "evaluation"


def _order_amp(w: vw.EvalWindow, order: float, tol: float = 0.03) -> float:
    """Peak amplitude (g) near order x reported speed: Hann window, 8x zero-padding to keep scalloping small."""
    x = w.samples.astype(float) - float(w.samples.mean())
    win = np.hanning(x.size)
    pad = 8 * x.size
    spec = 2 * np.abs(np.fft.rfft(x * win, pad)) / win.sum()
    f = np.fft.rfftfreq(pad, 1 / w.fs_hz)
    hz = order * w.rpm / 60.0
    df = w.fs_hz / x.size
    return float(spec[np.abs(f - hz) <= hz * tol + df].max())


def _envelope_peak(w: vw.EvalWindow, hz: float) -> tuple[float, float]:
    """(peak frequency / hz, peak / envelope-spectrum median) after band-passing around the ringing resonance."""
    x = w.samples.astype(float)
    n = x.size
    spec = np.fft.fft(x)
    f = np.fft.fftfreq(n, 1 / w.fs_hz)
    fn = w.params["resonance_hz"]
    spec[(f < 0.75 * fn) | (f > 1.25 * fn)] = 0  # also drops negative frequencies: analytic signal
    env = np.abs(np.fft.ifft(2 * spec))
    env -= env.mean()
    win = np.hanning(n)
    pad = 8 * n
    es = np.abs(np.fft.rfft(env * win, pad))
    ff = np.fft.rfftfreq(pad, 1 / w.fs_hz)
    near = np.abs(ff - hz) < 0.06 * hz + w.fs_hz / n
    wide = (ff > 0.2 * hz) & (ff < 5 * hz)
    i = int(np.argmax(es[near]))
    return float(ff[near][i] / hz), float(es[near][i] / np.median(es[wide]))


def test_given_same_seed_when_generating_then_windows_are_identical_and_other_seed_differs():
    a = vw.windows(3, 2, vw.TRAINED_STATES + vw.UNTRAINED_STATES)
    b = vw.windows(3, 2, vw.TRAINED_STATES + vw.UNTRAINED_STATES)
    c = vw.windows(4, 2, vw.TRAINED_STATES + vw.UNTRAINED_STATES)
    assert all(np.array_equal(x.samples, y.samples) and x.params == y.params for x, y in zip(a, b))
    assert not np.array_equal(a[0].samples, c[0].samples)
    m = vw.fleet(5, 3)
    assert [x.params for x in m] == [x.params for x in vw.fleet(5, 3)]
    one = vw.machine_windows(m[0], "outer_race", 2, seed=1)
    two = vw.machine_windows(m[0], "outer_race", 2, seed=1)
    assert all(np.array_equal(x.samples, y.samples) for x, y in zip(one, two))


def test_given_all_states_when_generating_then_windows_are_within_spec_and_cover_every_speed_band():
    ws = vw.windows(0, 6, vw.TRAINED_STATES + vw.UNTRAINED_STATES)
    assert len(ws) == 6 * 10
    for w in ws:
        assert w.samples.dtype == np.float32 and w.samples.ndim == 1
        assert np.all(np.isfinite(w.samples))
        assert 10_000 <= w.fs_hz <= 26_000
        assert 0.25 <= w.samples.size / w.fs_hz <= 1.0
        assert 600 <= w.rpm <= 3600
        assert abs(w.params["rpm"] / w.rpm - 1) < 0.03  # reported speed is a little off the true one
        assert set(w.bearing) == {"balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg"}
        assert {"rpm", "snr_db", "severity", "machine"} <= set(w.params)
        assert w.params["machine"] == w.asset_id
    for state in vw.TRAINED_STATES + vw.UNTRAINED_STATES:
        rpms = [w.rpm for w in ws if w.state == state]
        assert any(r < 1200 for r in rpms) and any(1200 <= r < 2400 for r in rpms) and any(r >= 2400 for r in rpms)


def test_given_a_window_when_encoding_message_then_samples_round_trip_in_both_forms():
    w = vw.windows(1, 1, ("inner_race",))[0]
    msg = w.message()
    assert set(msg) == {"ts_ms", "fs_hz", "rpm", "unit", "samples_b64", "bearing"} and msg["unit"] == "g"
    decoded = np.frombuffer(base64.b64decode(msg["samples_b64"]), dtype="<f4")
    assert np.array_equal(decoded, w.samples)
    plain = w.message(binary=False)
    assert np.array_equal(np.asarray(plain["samples"], dtype=np.float32), w.samples)
    assert plain["bearing"] == w.bearing and plain["rpm"] == w.rpm


@pytest.mark.parametrize(
    ("state", "key", "mult"), [("outer_race", "bpfo", 1), ("inner_race", "bpfi", 1), ("ball", "bsf", 2)]
)
def test_given_bearing_fault_when_enveloped_then_spectrum_peaks_at_its_defect_frequency(state, key, mult):
    ws = [w for w in vw.windows(11, 9, (state,)) if w.params["severity"] >= (0.5 if state == "ball" else 0.0)]
    assert len(ws) >= 3
    for w in ws:
        hz = mult * bearing_orders(w.bearing)[key] * w.rpm / 60.0
        where, prominence = _envelope_peak(w, hz)
        assert abs(where - 1) < 0.05, (w.asset_id, where)
        assert prominence > 3.0, (w.asset_id, prominence)


def test_given_fleet_when_healthy_then_residual_1x_spreads_over_a_decade():
    machines = vw.fleet(2, 12)
    ones = [_order_amp(vw.machine_windows(m, "healthy", 1, seed=0)[0], 1.0) for m in machines]
    assert max(ones) / min(ones) >= 10.0


def test_given_imbalance_when_compared_with_own_healthy_then_1x_is_at_least_3x_and_dominant():
    for m in vw.fleet(6, 4):
        healthy = np.median([_order_amp(w, 1.0) for w in vw.machine_windows(m, "healthy", 3, seed=2)])
        for w in vw.machine_windows(m, "imbalance", 2, seed=2):
            one = _order_amp(w, 1.0)
            assert one >= 2.7 * healthy, (m.asset_id, one / healthy)
            assert one > 1.5 * max(_order_amp(w, 2.0), _order_amp(w, 3.0))


def test_given_imbalance_factor_3_when_generating_then_1x_is_about_3x_the_healthy_1x():
    for m in vw.fleet(8, 4):
        healthy = np.median([_order_amp(w, 1.0) for w in vw.machine_windows(m, "healthy", 3, seed=4)])
        ratios = [_order_amp(w, 1.0) / healthy for w in vw.machine_windows(m, "imbalance", 3, 4, imbalance_factor=3)]
        assert 2.5 < float(np.median(ratios)) < 3.5, (m.asset_id, ratios)


def test_given_misalignment_when_analysed_then_2x_is_strong():
    for m in vw.fleet(9, 4):
        healthy_2x = np.median([_order_amp(w, 2.0) for w in vw.machine_windows(m, "healthy", 3, seed=5)])
        for w in vw.machine_windows(m, "misalignment", 2, seed=5):
            two = _order_amp(w, 2.0)
            assert two >= 0.8 * _order_amp(w, 1.0)
            assert two >= 2.0 * healthy_2x


def test_given_fault_state_with_imbalance_factor_when_not_imbalance_then_rejected():
    m = vw.fleet(0, 1)[0]
    with pytest.raises(ValueError):
        vw.machine_windows(m, "healthy", 1, 0, imbalance_factor=3)
    with pytest.raises(ValueError):
        vw.machine_windows(m, "no_such_state", 1, 0)


def test_given_evaluation_package_when_parsing_imports_then_nothing_comes_from_training_or_edge_agent():
    forbidden = ("models.training", "edge_agent")
    for path in sorted(EVAL_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            for name in names:
                assert not any(name == f or name.startswith(f + ".") for f in forbidden), (path.name, name)
