"""Clean-room vibration evaluation world: machines with their own healthy signatures, faults and novel patterns."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.evaluation import vibration_faults as vf
from models.evaluation import vibration_signals as vs

TRAINED_STATES: tuple[str, ...] = ("healthy", "outer_race", "inner_race", "ball", "imbalance", "misalignment")
UNTRAINED_STATES: tuple[str, ...] = ("looseness", "gear_mesh", "electrical", "cavitation")
SPEED_BANDS: tuple[tuple[float, float], ...] = ((600.0, 1200.0), (1200.0, 2400.0), (2400.0, 3600.0))

# Catalogue-like geometries (rolling elements per row, element and pitch diameter in mm, contact angle in degrees).
BEARINGS: dict[str, tuple[int, float, float, float]] = {
    "6004": (9, 6.35, 31.5, 0.0),
    "6204": (8, 7.94, 33.5, 0.0),
    "6206": (9, 9.525, 46.0, 0.0),
    "6207": (9, 11.11, 53.5, 0.0),
    "6305": (8, 10.32, 44.0, 0.0),
    "6308": (8, 15.08, 65.0, 0.0),
    "6310": (8, 19.05, 80.0, 0.0),
    "6312": (8, 22.23, 95.0, 0.0),
    "NJ208": (13, 11.0, 60.0, 0.0),
    "7206": (12, 9.525, 46.0, 40.0),
    "22212": (16, 12.0, 83.0, 10.5),
    "32208": (17, 9.5, 60.0, 15.0),
}
DAQ_RATES: tuple[float, ...] = (10240.0, 12800.0, 16384.0, 20000.0, 20480.0, 25600.0)
TS_BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z; fixed so messages are reproducible


@dataclass(frozen=True, eq=False)
class Machine:
    """One asset: its bearing, running speed, sample rate, window length, mounting and its own healthy signature."""

    asset_id: str
    bearing: dict[str, float]
    rpm: float
    fs_hz: float
    duration_s: float
    params: dict[str, Any]


@dataclass(frozen=True, eq=False)
class EvalWindow:
    """One accelerometer window with its ground truth; params["rpm"] is the true mean speed, .rpm the reported one."""

    state: str
    samples: np.ndarray
    fs_hz: float
    rpm: float
    bearing: dict[str, float]
    asset_id: str
    params: dict[str, Any]

    def message(self, binary: bool = True) -> dict[str, Any]:
        """The MQTT JSON of DESIGN.md §4, with float32 little-endian base64 samples or a plain list."""
        msg: dict[str, Any] = {
            "ts_ms": int(self.params.get("ts_ms", TS_BASE_MS)),
            "fs_hz": float(self.fs_hz),
            "rpm": float(self.rpm),
            "unit": "g",
            "bearing": dict(self.bearing),
        }
        data = np.asarray(self.samples, dtype="<f4")
        if binary:
            msg["samples_b64"] = base64.b64encode(data.tobytes()).decode("ascii")
        else:
            msg["samples"] = [float(v) for v in data]
        return msg


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _nominal_speed(rng: np.random.Generator, line_hz: float, lo: float, hi: float) -> tuple[float, float]:
    """(reported rpm, true/reported - 1): direct-on-line motors report a nameplate speed, VFD drives a setpoint."""
    if rng.random() < 0.5:
        sync = [120.0 * line_hz / poles for poles in (2, 4, 6, 8)]
        nameplate = [round(s * (1 - rng.uniform(0.01, 0.04)) / 5) * 5 for s in sync]
        fits = [r for r in nameplate if lo <= r <= hi]
        if fits:
            # The real speed follows the load along the motor's slip curve, so it wanders off the nameplate.
            return float(fits[int(rng.integers(len(fits)))]), float(np.clip(rng.normal(0, 0.005), -0.012, 0.012))
    return float(round(rng.uniform(lo, hi))), float(np.clip(rng.normal(0, 0.002), -0.008, 0.008))


def random_machine(rng: np.random.Generator, asset_id: str, rpm_range: tuple[float, float] = (600, 3600)) -> Machine:
    """Draw one asset with its own bearing, speed, DAQ setup, mounting, structure and healthy signature."""
    line_hz = float(rng.choice([50.0, 60.0]))
    rpm, speed_offset = _nominal_speed(rng, line_hz, float(rpm_range[0]), float(rpm_range[1]))
    name = str(rng.choice(list(BEARINGS)))
    balls, d, pitch, angle = BEARINGS[name]
    bearing = {"balls": float(balls), "ball_diameter_mm": d, "pitch_diameter_mm": pitch, "contact_angle_deg": angle}
    fs = float(rng.choice(DAQ_RATES))
    sizes = [2**k for k in range(11, 16) if 0.25 <= 2**k / fs <= 1.0]
    n = int(rng.choice(sizes))
    fr = rpm / 60.0
    # Residual 1x in velocity spans ISO 10816 zone A/B (~0.25-2.8 mm/s, a decade); 2x and 3x are smaller fractions.
    v1 = _log_uniform(rng, 0.25, 2.8)
    a1 = vs.velocity_to_g(v1, fr)
    residual = [a1, a1 * float(rng.uniform(0.12, 0.6)), a1 * float(rng.uniform(0.04, 0.35))]
    nyq = fs / 2
    bearing_mode = float(rng.uniform(2000.0, min(6000.0, 0.42 * fs)))
    modes = [
        (float(rng.uniform(90.0, 900.0)), float(rng.uniform(0.02, 0.08)), float(rng.uniform(1.0, 6.0))),  # frame
        (bearing_mode, float(rng.uniform(0.02, 0.07)), float(rng.uniform(2.0, 8.0))),  # bearing housing
    ]
    if rng.random() < 0.5:
        modes.append(
            (float(rng.uniform(600.0, 0.45 * fs)), float(rng.uniform(0.03, 0.1)), float(rng.uniform(0.5, 4.0)))
        )
    mount = str(rng.choice(["stud", "magnet", "magnet", "adhesive"]))
    corner = {
        "stud": rng.uniform(1.1, 1.8) * nyq,
        "magnet": rng.uniform(3500.0, 7000.0),
        "adhesive": rng.uniform(5000.0, 9000.0),
    }[mount]
    sensor = "mems" if rng.random() < 0.25 else "iepe"
    # Mains pickup and magnetostriction put most hum at twice line frequency, less at 1x and 3x line.
    hum = _log_uniform(rng, 2e-4, 5e-3)
    params: dict[str, Any] = {
        "bearing_model": name,
        "line_hz": line_hz,
        "speed_offset": speed_offset,
        "ripple": _log_uniform(rng, 0.0008, 0.006),
        "residual_v1_mm_s": v1,
        "residual_g": residual,
        "residual_phase": [float(p) for p in rng.uniform(0, 2 * np.pi, size=3)],
        "hum_g": [hum * float(rng.uniform(0.1, 0.5)), hum, hum * float(rng.uniform(0.05, 0.3))],
        "modes": modes,
        "bearing_mode_hz": bearing_mode,
        "bearing_mode_zeta": float(rng.uniform(0.02, 0.06)),
        "noise_g": _log_uniform(rng, 0.004, 0.03),
        "noise_slope": float(rng.uniform(-1.0, 1.0)),
        "mount": mount,
        "mount_corner_hz": float(corner),
        "mount_q": float(
            {"stud": rng.uniform(0.7, 1.5), "magnet": rng.uniform(1.5, 5.0), "adhesive": rng.uniform(1.0, 3.0)}[mount]
        ),
        "gain": float(rng.uniform(0.92, 1.06) if mount == "stud" else rng.uniform(0.8, 1.02)),
        "sensor": sensor,
        "hp_hz": 0.0 if sensor == "mems" else float(rng.uniform(0.3, 2.5)),
        "dc_offset_g": float(rng.choice([-1, 1]) * _log_uniform(rng, 0.005, 0.08)) if sensor == "mems" else 0.0,
        "slip": float(rng.uniform(0.003, 0.02)),
        "gear_teeth": int(rng.integers(17, max(18, min(61, int(0.3 * fs / fr))))),
    }
    return Machine(asset_id, bearing, rpm, fs, n / fs, params)


def _state_key(text: str) -> int:
    return zlib.crc32(text.encode())


def _render(
    machine: Machine, state: str, severity: float, rng: np.random.Generator, k_imb: float | None, ts_ms: int
) -> EvalWindow:
    """One window of machine in state: shaft series + hum + fault + coloured noise, seen through the mount."""
    p = machine.params
    fs, n = machine.fs_hz, round(machine.fs_hz * machine.duration_s)
    fr = machine.rpm / 60.0 * (1.0 + p["speed_offset"]) * (1.0 + float(rng.normal(0, 0.0015)))
    revs = vs.shaft_revolutions(rng, n, fs, fr, p["ripple"])
    a_nom = np.asarray(p["residual_g"])
    amps = a_nom * rng.lognormal(0.0, 0.05, size=3)
    phases = np.asarray(p["residual_phase"]) + rng.normal(0, 0.08, size=3)
    shaft = vs.tones(revs, np.array([1.0, 2.0, 3.0]), amps, phases)
    line = p["line_hz"] * (1 + rng.normal(0, 5e-4))
    hum = vs.fixed_tones(n, fs, line * np.arange(1, 4), np.asarray(p["hum_g"]), rng.uniform(0, 2 * np.pi, size=3))
    noise_g = p["noise_g"] * float(rng.lognormal(0.0, 0.12))
    spec = vs.coloured_noise_spectrum(rng, n, fs, p["noise_slope"], p["modes"]) * noise_g
    impacts = np.zeros_like(spec)
    ctx = vf.FaultContext(rng, n, fs, fr, revs, amps, a_nom, phases, shaft, noise_g, spec, machine.bearing, p, impacts)
    fault, extra = vf.render_fault(ctx, state, severity, k_imb)
    x = np.fft.irfft(spec + impacts, n) + shaft + hum + fault
    freqs = np.fft.rfftfreq(n, 1 / fs)
    x = np.fft.irfft(np.fft.rfft(x) * vs.mounting_response(freqs, p["mount_corner_hz"], p["mount_q"], p["hp_hz"]), n)
    x = x * p["gain"] + p["dc_offset_g"]
    p_sig = float(np.mean(fault**2)) + vs.rfft_rms(impacts, n) ** 2 if state != "healthy" else float(np.mean(shaft**2))
    params: dict[str, Any] = {
        "rpm": fr * 60.0,
        "snr_db": 10.0 * np.log10(max(p_sig, 1e-30) / noise_g**2),
        "severity": severity,
        "machine": machine.asset_id,
        "ts_ms": ts_ms,
        "noise_g": noise_g,
        "healthy_1x_g": float(a_nom[0]),
        **extra,
    }
    return EvalWindow(state, x.astype(np.float32), fs, machine.rpm, dict(machine.bearing), machine.asset_id, params)


def _check_state(state: str) -> None:
    if state not in TRAINED_STATES + UNTRAINED_STATES:
        raise ValueError(f"unknown state {state!r}; expected one of {TRAINED_STATES + UNTRAINED_STATES}")


def machine_windows(
    machine: Machine,
    state: str,
    n: int,
    seed: int,
    severity: float | None = None,
    imbalance_factor: float | None = None,
) -> list[EvalWindow]:
    """n windows of one machine in one state; one severity per call (random in [0, 1] if None, 0 for healthy)."""
    _check_state(state)
    if imbalance_factor is not None and state != "imbalance":
        raise ValueError("imbalance_factor only applies to state 'imbalance'")
    rng = np.random.default_rng([seed, _state_key(machine.asset_id), _state_key(state)])
    sev = 0.0 if state == "healthy" else float(rng.uniform(0, 1) if severity is None else severity)
    # One window a minute, as a commissioning or monitoring schedule would take them.
    return [_render(machine, state, sev, rng, imbalance_factor, TS_BASE_MS + i * 60_000) for i in range(n)]


def _bands(rpm_range: tuple[float, float]) -> list[tuple[float, float]]:
    lo, hi = float(rpm_range[0]), float(rpm_range[1])
    bands = [(max(lo, a), min(hi, b)) for a, b in SPEED_BANDS if min(hi, b) > max(lo, a)]
    return bands or [(lo, hi)]


def windows(
    seed: int, n_per_state: int, states: Sequence[str] = TRAINED_STATES, rpm_range: tuple[float, float] = (600, 3600)
) -> list[EvalWindow]:
    """n_per_state windows per state, each from a fresh machine, spread evenly over the speed bands."""
    bands = _bands(rpm_range)
    out: list[EvalWindow] = []
    for j, state in enumerate(states):
        _check_state(state)
        for i in range(n_per_state):
            rng = np.random.default_rng([seed, _state_key(state), i])
            machine = random_machine(rng, f"eval-{state}-{i:04d}", bands[i % len(bands)])
            sev = 0.0 if state == "healthy" else float(rng.uniform(0, 1))
            out.append(_render(machine, state, sev, rng, None, TS_BASE_MS + (j * n_per_state + i) * 1000))
    return out


def fleet(seed: int, n_machines: int) -> list[Machine]:
    """A deterministic set of assets for per-asset baseline evaluation."""
    rng = np.random.default_rng([seed, _state_key("fleet")])
    return [random_machine(rng, f"asset-{i:03d}") for i in range(n_machines)]
