"""Independent clean-room accelerometer-window generator for evaluating the predictive-maintenance model."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.evaluation.third_vibration_faults import GENERATORS, Ctx, bearing_orders, draw_params, render_series

TRAINED_STATES = ("healthy", "outer_race", "inner_race", "ball", "imbalance", "misalignment")
UNTRAINED_STATES: tuple[str, ...] = ("looseness", "gear_mesh", "electrical", "cavitation", "belt")
_FAULTS = (*TRAINED_STATES, *UNTRAINED_STATES)

_DAQ_RATES = (10240.0, 12800.0, 16384.0, 20000.0, 20480.0, 25600.0)
_DURATIONS = (0.25, 0.5, 1.0)
# catalogue-like deep-groove, angular-contact, tapered and spherical-roller bearings: (elements, d, D, angle)
_BEARINGS = (
    (8, 6.75, 28.5, 0.0),
    (9, 7.94, 39.04, 0.0),
    (9, 9.53, 46.5, 0.0),
    (9, 11.9, 60.0, 0.0),
    (10, 12.7, 70.0, 0.0),
    (8, 17.5, 72.5, 0.0),
    (8, 22.2, 95.0, 0.0),
    (8, 28.6, 125.0, 0.0),
    (13, 11.1, 60.0, 40.0),
    (12, 17.5, 80.0, 40.0),
    (17, 9.0, 60.0, 15.0),
    (17, 10.0, 70.0, 10.0),
)
# sensor mounting: mounted-resonance range (Hz) and quality factor
_MOUNTS = {"stud": (20e3, 30e3, 20.0), "adhesive": (10e3, 15e3, 12.0), "magnet": (6e3, 10e3, 6.0)}
_EPOCH_MS = 1_767_225_600_000  # 2026-01-01


@dataclass(frozen=True, eq=False)
class Machine:
    """One monitored asset: speed, bearing, sensor/DAQ set-up and its own healthy signature."""

    asset_id: str
    rpm_nominal: float
    fs_hz: float
    window_s: float
    bearing: dict[str, float]
    residual_mm_s: tuple[float, float, float]  # healthy 1x/2x/3x velocity, mm/s peak
    residual_phase: tuple[float, float, float]
    line_hz: float
    hum_g: float
    noise_g: float  # broadband rms at 1800 rpm, before the mount
    noise_slope: float  # exponent of acceleration amplitude density vs frequency
    floor_g: float  # sensor + DAQ white floor rms
    modes: tuple[tuple[float, float, float], ...]  # structural resonances (Hz, Q, gain)
    res_hz: float  # bearing/housing resonance rung by impacts
    res_zeta: float
    res_gain: float
    mount: str
    mount_hz: float
    mount_q: float
    ripple_frac: float
    ripple_hz: float
    tach_bias: float


@dataclass(frozen=True, eq=False)
class Window:
    """One accelerometer window with its ground truth."""

    state: str
    samples: np.ndarray
    fs_hz: float
    rpm: float
    bearing: dict[str, float]
    asset_id: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, binary: bool = True) -> dict[str, Any]:
        """The MQTT JSON payload of this window (base64 float32 LE samples when binary)."""
        msg: dict[str, Any] = {
            "ts_ms": int(self.params["ts_ms"]),
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


def _crc(s: str) -> int:
    return zlib.crc32(s.encode())


def random_machine(rng: np.random.Generator, rpm: float, asset_id: str) -> Machine:
    """Draw a plausible machine running at rpm."""
    fs = float(rng.choice(_DAQ_RATES))
    b = _BEARINGS[int(rng.integers(len(_BEARINGS)))]
    r1 = float(10 ** rng.uniform(np.log10(0.3), np.log10(3.0)))  # a decade: ISO 20816 zone A to B
    mount = str(rng.choice(list(_MOUNTS)))
    lo, hi, q = _MOUNTS[mount]
    n_modes = int(rng.integers(1, 4))
    modes = tuple(
        (float(rng.uniform(80, 1500)), float(rng.uniform(8, 30)), float(rng.uniform(1, 6))) for _ in range(n_modes)
    )
    return Machine(
        asset_id=asset_id,
        rpm_nominal=float(rpm),
        fs_hz=fs,
        window_s=float(rng.choice(_DURATIONS)),
        bearing={
            "balls": int(b[0]),
            "ball_diameter_mm": b[1],
            "pitch_diameter_mm": b[2],
            "contact_angle_deg": b[3],
        },
        residual_mm_s=(r1, r1 * float(rng.uniform(0.15, 0.6)), r1 * float(rng.uniform(0.05, 0.3))),
        residual_phase=(
            float(rng.uniform(0, 2 * np.pi)),
            float(rng.uniform(0, 2 * np.pi)),
            float(rng.uniform(0, 2 * np.pi)),
        ),
        line_hz=float(rng.choice([50.0, 60.0])),
        hum_g=float(10 ** rng.uniform(-3.3, -2.0)),
        noise_g=float(10 ** rng.uniform(np.log10(0.015), np.log10(0.15))),
        noise_slope=float(rng.uniform(-0.2, 0.6)),
        floor_g=float(rng.uniform(5e-5, 3e-4)),
        modes=modes,
        res_hz=float(rng.uniform(2000.0, min(6000.0, 0.38 * fs))),
        res_zeta=float(rng.uniform(0.03, 0.08)),
        res_gain=float(rng.uniform(1.0, 4.0)),
        mount=mount,
        mount_hz=float(rng.uniform(lo, hi)),
        mount_q=q,
        ripple_frac=float(rng.uniform(0.0005, 0.005)),
        ripple_hz=float(rng.uniform(0.3, 3.0)),
        tach_bias=float(rng.uniform(-0.004, 0.004)),
    )


def _bandpass(f: np.ndarray, fn: float, q: float) -> np.ndarray:
    """Magnitude of a second-order resonance normalised to 1 at fn."""
    ff = np.maximum(f, 1e-3)
    return 1.0 / np.sqrt(1.0 + q * q * (ff / fn - fn / ff) ** 2)


def _noise_shape(m: Machine, f: np.ndarray) -> np.ndarray:
    """Amplitude spectral shape of the machine's broadband vibration (coloured, with resonances)."""
    amp = (np.maximum(f, 10.0) / 1000.0) ** m.noise_slope * np.minimum(1.0, f / 150.0)  # velocity ~flat at low f
    gain = np.ones_like(f)
    for fn, q, g in m.modes:
        gain += g * _bandpass(f, fn, q)
    gain += m.res_gain * _bandpass(f, m.res_hz, 1 / (2 * m.res_zeta))
    return amp * gain


def _render(
    m: Machine,
    state: str,
    sev: float,
    p: dict[str, Any],
    rng: np.random.Generator,
    ts_ms: int,
    jitter: float,
) -> Window:
    """Synthesize one window of machine m in state at severity sev."""
    fs = m.fs_hz
    rpm_true = m.rpm_nominal * (1 + rng.normal(0, 0.002 * jitter))
    fr0 = rpm_true / 60.0
    n = max(round(m.window_s * fs), int(np.ceil(2.2 * fs / fr0)), 1024)
    t = np.arange(n) / fs
    fr_t = fr0 * (1 + m.ripple_frac * np.sin(2 * np.pi * m.ripple_hz * t + rng.uniform(0, 2 * np.pi)))
    theta = np.cumsum(fr_t) / fs + rng.uniform()
    fr = float(np.mean(fr_t))
    f = np.fft.rfftfreq(n, 1 / fs)
    shape = _noise_shape(m, f)
    noise_rms = m.noise_g * (fr * 60 / 1800.0) ** 0.8
    band = (f > 0.75 * m.res_hz) & (f < 1.25 * m.res_hz)
    band_rms = noise_rms * float(np.sqrt(np.sum(shape[band] ** 2) / np.sum(shape**2)))
    spec = (rng.normal(size=f.size) + 1j * rng.normal(size=f.size)) * shape
    x = np.fft.irfft(spec, n)
    x *= noise_rms / (np.std(x) + 1e-15)
    series = {
        float(k + 1): m.residual_mm_s[k]
        * (1 + rng.normal(0, 0.04 * jitter))
        * np.exp(1j * (m.residual_phase[k] + rng.normal(0, 0.05 * jitter)))
        for k in range(3)
    }
    ctx = Ctx(fs, t, theta, fr, m.bearing, m.res_hz, m.res_zeta, band_rms, m.residual_mm_s[0], m.line_hz)
    x = x + GENERATORS[state](ctx, sev, p, rng, series)
    x = x + render_series(ctx, series)
    for k, rel in ((1, 0.3), (2, 1.0), (3, 0.2), (4, 0.25)):
        if k * m.line_hz < 0.45 * fs:
            x += m.hum_g * rel * np.sin(2 * np.pi * k * m.line_hz * t + rng.uniform(0, 2 * np.pi))
    r = f / m.mount_hz
    x = np.fft.irfft(np.fft.rfft(x) / (1 - r * r + 1j * r / m.mount_q), n)
    x = x + rng.normal(0, m.floor_g, n)
    reported = fr * 60 * (1 + m.tach_bias + rng.normal(0, 0.001))
    params: dict[str, Any] = {
        "rpm": fr * 60,
        "severity": float(sev),
        "ts_ms": int(ts_ms),
        "resonance_hz": m.res_hz,
        "band_rms_g": band_rms,
        "orders": bearing_orders(m.bearing),
        "mount": m.mount,
        "residual_1x_mm_s": m.residual_mm_s[0],
    }
    if state == "imbalance":
        params["imbalance_factor"] = float(p["imbalance_factor"])
    if state in ("gear_mesh", "electrical", "cavitation", "belt"):
        key = {"gear_mesh": "teeth", "electrical": "bars", "cavitation": "vanes", "belt": "belt_ratio"}[state]
        params[key] = p[key]
    return Window(state, x.astype(np.float32), fs, float(reported), dict(m.bearing), m.asset_id, params)


def _episode(
    state: str, rng: np.random.Generator, severity: float | None, imbalance_factor: float | None
) -> tuple[float, dict[str, Any]]:
    """Severity and fixed fault parameters for one machine-state episode."""
    if state not in _FAULTS:
        raise ValueError(f"unknown state {state!r}; expected one of {_FAULTS}")
    p = draw_params(state, rng)
    if state == "healthy":
        return 0.0, p
    sev = float(rng.uniform(0, 1)) if severity is None else float(np.clip(severity, 0.0, 1.0))
    if state == "imbalance":
        if imbalance_factor is None:
            imbalance_factor = float(rng.uniform(3, 10)) if severity is None else 3 + 7 * sev
        p["imbalance_factor"] = float(imbalance_factor)
        sev = float(np.clip((imbalance_factor - 3) / 7, 0.0, 1.0))
    return sev, p


def _third_rpm(rng: np.random.Generator, i: int, rpm_range: tuple[float, float]) -> float:
    lo, hi = float(rpm_range[0]), float(rpm_range[1])
    k = i % 3
    return float(rng.uniform(lo + k * (hi - lo) / 3, lo + (k + 1) * (hi - lo) / 3))


def fleet(seed: int, n_machines: int) -> list[Machine]:
    """n random machines, speeds spread over the low/mid/high thirds of 600-3600 rpm."""
    out = []
    for i in range(n_machines):
        rng = np.random.default_rng([seed, _crc("fleet"), i])
        out.append(random_machine(rng, _third_rpm(rng, i, (600.0, 3600.0)), f"t3-{seed}-{i:04d}"))
    return out


def windows(
    seed: int,
    n_per_state: int,
    states: Sequence[str] = TRAINED_STATES,
    rpm_range: tuple[float, float] = (600, 3600),
) -> list[Window]:
    """n_per_state windows per state, each from a fresh random machine at a random severity."""
    out = []
    for state in states:
        if state not in _FAULTS:
            raise ValueError(f"unknown state {state!r}")
        for i in range(n_per_state):
            rng = np.random.default_rng([seed, _crc(state), i])
            m = random_machine(rng, _third_rpm(rng, i, rpm_range), f"t3w-{seed}-{state}-{i}")
            sev, p = _episode(state, rng, None, None)
            ts = _EPOCH_MS + int(rng.integers(0, 300 * 86_400_000))
            out.append(_render(m, state, sev, p, rng, ts, jitter=1.0))
    return out


def machine_windows(
    machine: Machine,
    state: str,
    n: int,
    seed: int,
    severity: float | None = None,
    imbalance_factor: float | None = None,
) -> list[Window]:
    """n successive one-minute windows of one machine in one state at one severity."""
    key = [seed, _crc(machine.asset_id), _crc(state)]
    rng = np.random.default_rng(key)
    sev, p = _episode(state, rng, severity, imbalance_factor)
    ts0 = _EPOCH_MS + int(rng.integers(0, 300 * 86_400_000))
    return [
        _render(machine, state, sev, p, np.random.default_rng([*key, i]), ts0 + 60_000 * i, jitter=1.0)
        for i in range(n)
    ]
