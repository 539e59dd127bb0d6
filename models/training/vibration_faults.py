"""What each state adds to a window of the training generator: bearing impact trains ringing the structure,
untrained patterns (looseness, gear mesh), and the reshaped shaft-order series of imbalance and misalignment."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_agent.contracts import BearingGeometry
from models.training.vibration_signals import impact_times, phasor, ring, sync_tones, uniform

if TYPE_CHECKING:
    from models.training.vibration import VibrationDomain

# Keep resonances below the DAQ's anti-alias corner; a mode above it would simply not be recorded.
MAX_RESONANCE_FRACTION_OF_FS = 0.42
# A 1x line this far under the broadband power is still 20+ dB over its own FFT bin's noise in a 0.25 s window.
IMBALANCE_MIN_SNR_DB = -15.0


def state_signature(
    state: str,
    rng: np.random.Generator,
    drawn: dict[str, Any],
    t: np.ndarray,
    angle: np.ndarray,
    half_turn: np.ndarray,
    fr: float,
    fs: float,
    res_hz: float,
    zeta: float,
    bearing: BearingGeometry,
    params: dict[str, float | str],
) -> np.ndarray | None:
    """The state's own vibration component (before scaling to the drawn SNR); None for healthy."""
    n = t.size
    orders = bearing.fault_orders()
    depth = float(drawn["modulation_depth"])
    if state in ("outer_race", "inner_race", "ball"):
        modes = [(res_hz, zeta, 1.0)]
        second = res_hz * rng.uniform(1.3, 2.0)
        if second < MAX_RESONANCE_FRACTION_OF_FS * fs:
            modes.append((second, zeta * rng.uniform(0.8, 1.5), float(rng.uniform(0.2, 0.7))))
        slip = 1.0 + float(drawn["slip"])
        jitter = float(drawn["jitter"])
        lead_s = 6.0 / (2 * np.pi * zeta * res_hz)
        if state == "outer_race":
            # Stationary defect: every ball hits it in the load zone with nearly the same force.
            order = orders["bpfo"] * slip
            times = impact_times(angle, t, order, jitter, lead_s, rng)
            amps = 1.0 + 0.1 * rng.normal(size=times.size)
        elif state == "inner_race":
            # Defect turns with the shaft, so it passes the load zone once per revolution: AM at 1x.
            order = orders["bpfi"] * slip
            times = impact_times(angle, t, order, jitter, lead_s, rng)
            shaft = np.interp(times, t, angle)
            phase = rng.uniform(0, 2 * np.pi)
            amps = (1.0 + depth * np.cos(shaft + phase)) / (1.0 + depth) * (1.0 + 0.1 * rng.normal(size=times.size))
        else:
            # A spalled ball strikes both races once per spin turn (2xBSF); the cage carries it through
            # the load zone at FTF; the spot does not touch on every turn, hence more amplitude scatter.
            order = 2 * orders["bsf"] * slip
            times = impact_times(angle, t, order, jitter, lead_s, rng)
            cage = np.interp(times, t, angle) * orders["ftf"]
            phase = rng.uniform(0, 2 * np.pi)
            amps = (1.0 + depth * np.cos(cage + phase)) / (1.0 + depth) * (1.0 + 0.25 * rng.normal(size=times.size))
        params["impact_order"] = order
        return ring(times, np.clip(amps, 0.0, None), n, fs, modes)
    if state in ("healthy", "imbalance", "misalignment"):
        return None  # shaft faults live in the synchronous series (_shaft_fault)
    if state == "looseness":
        # Rattling: a rich 1x harmonic series with half orders, truncated where the part hits its stop.
        decay = rng.uniform(0.2, 0.8)
        series = {float(k): phasor(rng, k**-decay * rng.uniform(0.5, 1.5)) for k in range(1, 11)}
        series.update({k: phasor(rng, rng.uniform(0.2, 0.6)) for k in (0.5, 1.5, 2.5, 3.5)})
        x = sync_tones(half_turn, series)
        stop = float(rng.uniform(0.4, 0.8)) * float(np.max(x))
        params["clip_fraction"] = float(np.mean(x > stop))
        return np.minimum(x, stop)
    # gear_mesh: tooth-mesh tone at z x 1x, amplitude-modulated by the shaft (eccentric gear) -> 1x sidebands.
    z = int(drawn["gear_teeth"])
    mod = 1.0 + depth * 0.6 * np.cos(angle + rng.uniform(0, 2 * np.pi))
    x = mod * np.cos(z * angle + rng.uniform(0, 2 * np.pi))
    if 2 * z * fr < 0.45 * fs:
        x += rng.uniform(0.1, 0.5) * mod * np.cos(2 * z * angle + rng.uniform(0, 2 * np.pi))
    params["mesh_hz"] = z * fr
    return x


def shaft_fault(
    state: str,
    rng: np.random.Generator,
    drawn: dict[str, Any],
    sync: dict[float, complex],
    residual_1x: float,
    p_noise: float,
    d: VibrationDomain,
    params: dict[str, float | str],
) -> None:
    """Imbalance and misalignment reshape the machine's own series in place: imbalance makes the 1x dominate
    its harmonics (at least 3x the residual 1x, and at the drawn SNR); misalignment lifts the 2x over the
    1x, with 3x/4x behind it. The drawn SNR is raised where the fault must stand out of the residual."""
    if state not in ("imbalance", "misalignment"):
        return
    amp_snr = math.sqrt(2 * p_noise * 10 ** (float(drawn["snr_db"]) / 10))
    if state == "imbalance":
        # Sized against the machine's own 1x, and at least a line that stands out of the broadband.
        visible = math.sqrt(2 * p_noise * 10 ** (IMBALANCE_MIN_SNR_DB / 10))
        amp = max(visible, residual_1x * 10 ** (uniform(rng, d.imbalance_over_residual_db) / 20))
        sync[1.0] = phasor(rng, amp)
        params["imbalance_over_residual_db"] = 20 * math.log10(amp / residual_1x)
        drawn["snr_db"] = 10 * math.log10(amp * amp / 2 / p_noise)
        return
    r2, r3, r4 = uniform(rng, d.misalignment_2x_ratio), uniform(rng, (0.3, 1.0)), uniform(rng, (0.0, 0.4))
    # The signature's 1x carries a share of the drawn power; axial 1x never falls below the residual.
    amp_1x = max(amp_snr / math.sqrt(1 + r2 * r2 + r3 * r3 + r4 * r4), residual_1x * uniform(rng, (1.0, 2.0)))
    for order, ratio in ((1.0, 1.0), (2.0, r2), (3.0, r3), (4.0, r4)):
        sync[order] = phasor(rng, amp_1x * ratio)
    params["ratio_2x_1x"] = float(r2)
    drawn["snr_db"] = 10 * math.log10(amp_1x**2 * (1 + r2 * r2 + r3 * r3 + r4 * r4) / 2 / p_noise)
