"""Fourth clean-room evaluation generator: plant-like bearing/rotating-machine accelerometer windows from the spec."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.evaluation import fourth_vibration_faults as faults
from models.evaluation.fourth_vibration_faults import G_MM_S2, TWO_PI

TRAINED_STATES: tuple[str, ...] = faults.TRAINED_STATES
UNTRAINED_STATES: tuple[str, ...] = faults.UNTRAINED_STATES
SEVERITY_SCALE: dict[str, str] = faults.SEVERITY_SCALE  # what params["severity"] 0 and 1 mean for each state

_EPOCH_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC
_CATALOGUE_RPM = (740.0, 890.0, 985.0, 1185.0, 1480.0, 1780.0, 2960.0, 3560.0)  # full-load induction-motor speeds
_DAQ_RATES = (10240.0, 12000.0, 12800.0, 16384.0, 20000.0, 20480.0, 24000.0, 25600.0)
_BEARING_KEYS = ("balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg")
_ANALOGUE_HZ = 40_000.0  # the physical signal is simulated at >= this rate, then anti-alias filtered and decimated


@dataclass(frozen=True)
class Machine:
    """One monitored asset with its drive, bearing, mounting, DAQ and persistent healthy signature."""

    asset_id: str
    rpm_nominal: float  # configured (nameplate or set-point) shaft speed
    rpm_offset: float  # the true operating speed sits this fraction off rpm_nominal (load, slip)
    rpm_source: str  # "tach" (message carries a measured speed) or "config" (message carries rpm_nominal)
    ripple: tuple[float, float]  # speed ripple: fractional amplitude, Hz
    fs_hz: float
    n_samples: int
    daq: str  # "sigma_delta" (sharp digital anti-alias at 0.45 fs) or "analog" (Butterworth at fs/2.56)
    aa_order: int
    adc_bits: int
    full_scale_g: float
    balls: int
    ball_diameter_mm: float
    pitch_diameter_mm: float
    contact_angle_deg: float
    residual_mm_s: tuple[float, float, float]  # peak velocity of the healthy 1x/2x/3x series
    residual_phase: tuple[float, float, float]
    line_hz: float
    hum_g: tuple[float, float, float]  # cable pickup at 1x and 3x line, magnetic vibration at 2x line (g peak)
    vanes: int  # impeller/fan blades (0: none), its pass tone in g
    vane_g: float
    teeth: int
    rotor_bars: int
    modes: tuple[tuple[float, float, float], ...]  # structural modes lifting the background: Hz, damping, gain
    res_hz: float  # bearing/housing resonance that rolling-element impacts ring
    res_zeta: float
    res2_hz: float
    res2_zeta: float
    noise_g: float  # broadband machine background rms up to the passband edge
    noise_tilt: float  # background colour: acceleration PSD slope ~ f**(2*tilt) above noise_corner_hz
    noise_corner_hz: float  # below it the background is flat in velocity, so it falls ~f in acceleration
    axial: bool
    sensor: str  # "piezo" (AC coupled) or "mems" (DC coupled, noisier)
    sensor_noise: float  # g/sqrt(Hz)
    sensitivity: float  # actual / nominal sensitivity (calibration error)
    highpass_hz: float
    offset_g: float
    mount: str  # "stud", "adhesive" or "magnet"
    mount_hz: float
    mount_zeta: float

    @property
    def fmax_hz(self) -> float:
        """Usable passband edge of the DAQ."""
        return 0.45 * self.fs_hz if self.daq == "sigma_delta" else self.fs_hz / 2.56

    @property
    def bearing(self) -> dict[str, Any]:
        """Bearing geometry exactly as the asset config publishes it."""
        return {key: getattr(self, key) for key in _BEARING_KEYS}


@dataclass(frozen=True, eq=False)
class Window:
    """One accelerometer window as a gateway publishes it; params['severity'] is explained in SEVERITY_SCALE."""

    state: str
    samples: np.ndarray
    fs_hz: float
    rpm: float
    bearing: dict[str, Any]
    asset_id: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, binary: bool = True) -> dict[str, Any]:
        """The MQTT vibration message (JSON-ready dict)."""
        data = np.asarray(self.samples, dtype="<f4")
        payload = (
            {"samples_b64": base64.b64encode(data.tobytes()).decode("ascii")} if binary else {"samples": data.tolist()}
        )
        head = {"ts_ms": int(self.params["ts_ms"]), "fs_hz": float(self.fs_hz), "rpm": float(self.rpm), "unit": "g"}
        return {**head, **payload, "bearing": {key: self.bearing[key] for key in _BEARING_KEYS}}


def _crc(text: str) -> int:
    return zlib.crc32(text.encode())


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _speed(rng: np.random.Generator, third: int) -> float:
    lo, hi = 600.0 + 1000.0 * third, 1600.0 + 1000.0 * third
    catalogue = [r for r in _CATALOGUE_RPM if lo * 1.02 <= r <= hi * 0.98]
    if catalogue and rng.random() < 0.5:  # half the fleet runs across the line, half on drives at any speed
        return float(rng.choice(catalogue))
    return round(float(rng.uniform(lo * 1.02, hi * 0.98)), 1)


def _bearing_geometry(rng: np.random.Generator) -> tuple[int, float, float, float]:
    pitch = round(_log_uniform(rng, 25.0, 180.0), 1)
    ball = max(1, round(pitch * rng.uniform(0.16, 0.3) / 0.79375)) * 0.79375  # balls come in 1/32 inch steps
    balls = int(np.clip(round(np.pi * pitch * rng.uniform(0.55, 0.8) / ball), 6, 24))
    kind = rng.random()  # deep-groove ball, angular-contact ball, tapered roller
    angle = 0.0 if kind < 0.6 else float(rng.choice([15.0, 25.0, 30.0, 40.0])) if kind < 0.85 else rng.uniform(10, 16)
    return balls, round(ball, 3), pitch, round(float(angle), 1)


def _random_machine(rng: np.random.Generator, third: int, asset_id: str) -> Machine:
    """Draw one machine of the plant; rpm from the given third of 600-3600 rpm."""
    rpm = _speed(rng, third)
    fs = float(rng.choice(_DAQ_RATES))
    sizes = [2**p for p in range(10, 16) if 0.25 <= 2**p / fs <= 1.0] + [int(d * fs) for d in (0.25, 0.5, 1.0)]
    daq = "sigma_delta" if rng.random() < 0.6 else "analog"
    fmax = 0.45 * fs if daq == "sigma_delta" else fs / 2.56
    sensor = "piezo" if rng.random() < 0.7 else "mems"
    mount = str(rng.choice(["stud", "adhesive", "magnet"], p=[0.4, 0.25, 0.35]))
    mount_hz = {"stud": (20e3, 30e3), "adhesive": (10e3, 18e3), "magnet": (6e3, 10e3)}[mount]
    mount_zeta = {"stud": 0.03, "adhesive": 0.05, "magnet": 0.1}[mount] * rng.uniform(0.7, 1.4)
    v1 = _log_uniform(rng, 0.25, 2.5)  # healthy 1x over a decade between machines (ISO zone A/B)
    res_hz = rng.uniform(2000.0, min(6000.0, 0.85 * fmax))  # analysts pick fmax so the bearing resonance is in band
    modes = tuple((_log_uniform(rng, 80, 0.9 * fmax), rng.uniform(0.02, 0.1), rng.uniform(1, 8)) for _ in range(3))
    vanes = int(rng.integers(3, 10)) if rng.random() < 0.5 else 0
    balls, ball, pitch, angle = _bearing_geometry(rng)
    phase = rng.uniform(0, TWO_PI, 3)
    return Machine(
        asset_id=asset_id, rpm_nominal=rpm, rpm_offset=rng.uniform(-0.005, 0.015),
        rpm_source="tach" if rng.random() < 0.6 else "config",
        ripple=(_log_uniform(rng, 2e-4, 2e-3), rng.uniform(0.5, 5.0)),
        fs_hz=fs, n_samples=int(rng.choice(sizes)), daq=daq, aa_order=int(rng.integers(4, 9)),
        adc_bits=int(rng.choice([16, 24])),
        full_scale_g=float(rng.choice([10.0, 25.0, 50.0] if sensor == "piezo" else [16.0, 40.0])),
        balls=balls, ball_diameter_mm=ball, pitch_diameter_mm=pitch, contact_angle_deg=angle,
        residual_mm_s=(v1, v1 * _log_uniform(rng, 0.1, 0.6), v1 * _log_uniform(rng, 0.04, 0.3)),
        residual_phase=(float(phase[0]), float(phase[1]), float(phase[2])),
        line_hz=50.0 if rng.random() < 0.6 else 60.0,
        hum_g=(_log_uniform(rng, 1e-4, 3e-3), _log_uniform(rng, 5e-4, 1.5e-2), _log_uniform(rng, 2e-5, 1e-3)),
        vanes=vanes, vane_g=_log_uniform(rng, 5e-4, 1e-2) * (rpm / 1800.0) ** 2 if vanes else 0.0,
        teeth=int(rng.integers(17, 68)), rotor_bars=int(rng.integers(28, 62)), modes=modes,
        res_hz=res_hz, res_zeta=rng.uniform(0.02, 0.08), res2_hz=rng.uniform(0.3, 0.95) * fmax,
        res2_zeta=rng.uniform(0.02, 0.08), noise_g=_log_uniform(rng, 0.01, 0.1) * (rpm / 1800.0) ** 0.7,
        noise_tilt=rng.uniform(-0.3, 0.6), noise_corner_hz=_log_uniform(rng, 100, 1000), sensor=sensor,
        axial=bool(rng.random() < 0.2),
        sensor_noise=_log_uniform(rng, 2e-6, 2e-5) if sensor == "piezo" else _log_uniform(rng, 2.5e-5, 1e-4),
        sensitivity=float(np.clip(rng.normal(1.0, 0.025), 0.95, 1.05)),
        highpass_hz=rng.uniform(0.5, 3.0) if sensor == "piezo" else 0.0,
        offset_g=rng.uniform(-0.05, 0.05) if sensor == "mems" else rng.uniform(-1e-3, 1e-3),
        mount=mount, mount_hz=rng.uniform(*mount_hz), mount_zeta=mount_zeta,
    )  # fmt: skip


def _background_gain(m: Machine, f: np.ndarray) -> np.ndarray:
    """Spectral magnitude of the machine's random vibration: a coloured floor lifted by its structural modes."""
    corner = f / m.noise_corner_hz
    floor = corner / np.sqrt(1 + corner**2) * (np.maximum(f, m.noise_corner_hz) / 1000.0) ** m.noise_tilt
    lift = 1.0 + sum((g * faults.resonance_gain(f, hz, z) for hz, z, g in m.modes), np.zeros_like(f))
    # rolling contacts of even a sound bearing keep its housing resonance gently alive
    return floor * (lift + 3.0 * faults.resonance_gain(f, m.res_hz, 2 * m.res_zeta))


def _mount_gain(m: Machine, f: np.ndarray) -> np.ndarray:
    """Sensor-on-mount resonance: a magnet rings low, a stud far above the band."""
    return 1.0 / (1.0 - (f / m.mount_hz) ** 2 + 2j * m.mount_zeta * f / m.mount_hz)


def _daq_gain(m: Machine, f: np.ndarray) -> np.ndarray:
    """Sensor high-pass, calibration error and anti-alias filter between the housing and the ADC."""
    if m.daq == "sigma_delta":
        aa = np.cos(0.5 * np.pi * np.clip((f - 0.45 * m.fs_hz) / (0.05 * m.fs_hz), 0.0, 1.0)) ** 2
    else:
        aa = 1.0 / np.sqrt(1.0 + (f / m.fmax_hz) ** (2 * m.aa_order))
    hp = np.ones_like(f) if m.highpass_hz <= 0 else (f / m.highpass_hz) / np.sqrt(1 + (f / m.highpass_hz) ** 2)
    return aa * hp * m.sensitivity


def _render(m: Machine, state: str, k: int, sev: float, factor: float, seed: int) -> Window:
    """Window k of a series: the machine's own signature + the state's component, through mount, sensor and DAQ."""
    key = [seed % 2**63, _crc(m.asset_id), _crc(state)]
    rng, fixed = np.random.default_rng([*key, k]), np.random.default_rng(key)
    ts_ms = _EPOCH_MS + int(fixed.integers(0, 365)) * 86_400_000 + k * 60_000  # one window a minute
    over = int(np.ceil(_ANALOGUE_HZ / m.fs_hz))
    fs, n = m.fs_hz * over, m.n_samples * over
    t, f = np.arange(n) / fs, np.fft.rfftfreq(n, 1.0 / fs)
    # operating speed: the configured speed, this machine's offset from it, a little load wander per window,
    # and within the window a slow speed ripple that the shaft angle integrates
    f0 = float(np.clip(m.rpm_nominal * (1 + m.rpm_offset + rng.normal(0, 0.002)), 600.0, 3600.0)) / 60.0
    inst = f0 * (1 + m.ripple[0] * np.sin(TWO_PI * m.ripple[1] * t + rng.uniform(0, TWO_PI)))
    theta = rng.uniform(0, TWO_PI) + TWO_PI * np.cumsum(inst) / fs
    fr = float(inst.mean())
    own = [
        v / G_MM_S2 * TWO_PI * (i + 1) * fr * np.exp(1j * p)
        for i, (v, p) in enumerate(zip(m.residual_mm_s, m.residual_phase))
    ]
    drift = rng.lognormal(0, 0.01, 3) * np.exp(1j * rng.normal(0, 0.02, 3))  # temperature/load: a few % per window
    mech = sum(np.real(h * d * np.exp(1j * (i + 1) * theta)) for i, (h, d) in enumerate(zip(own, drift)))
    line = m.line_hz * (1 + rng.normal(0, 1e-3))  # the grid wanders by a few hundredths of a Hz
    hum = np.asarray(m.hum_g) * rng.lognormal(0, 0.05, 3)
    mech = mech + hum[1] * np.cos(TWO_PI * 2 * line * t + rng.uniform(0, TWO_PI))
    if m.vanes:
        mech += m.vane_g * rng.lognormal(0, 0.05) * np.cos(m.vanes * theta + m.residual_phase[2])
    gain, mount = _background_gain(m, f), _mount_gain(m, f)
    scale = m.noise_g / np.sqrt(2 * np.sum(gain[f <= m.fmax_hz] ** 2) / n**2)
    noise = scale * gain * (rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)) / np.sqrt(2)
    # the background rms an analyst would see in the resonance band, referred back to the housing
    band = np.abs(f - m.res_hz) <= 0.2 * m.res_hz
    band_out = 2 * np.sum((scale * gain[band] * np.abs(mount[band])) ** 2) / n**2 + m.sensor_noise**2 * 0.4 * m.res_hz
    band_g = float(np.sqrt(band_out) / np.abs(_mount_gain(m, np.array([m.res_hz])))[0])
    rotor = faults.Rotor(
        t=t, theta=theta, fr=fr, fs=fs, fmax=m.fmax_hz, balls=m.balls, ball_mm=m.ball_diameter_mm,
        pitch_mm=m.pitch_diameter_mm, angle_deg=m.contact_angle_deg, res_hz=m.res_hz, res_zeta=m.res_zeta,
        res2_hz=m.res2_hz, res2_zeta=m.res2_zeta, band_g=band_g, noise_g=m.noise_g,
        h=(complex(own[0]), complex(own[1]), complex(own[2])), line_hz=line, axial=m.axial, vanes=m.vanes,
        teeth=m.teeth, bars=m.rotor_bars,
    )  # fmt: skip
    fault, extra = faults.synthesize(state, rotor, sev, factor, fixed, rng)
    spec = (np.fft.rfft(mech + fault) + noise) * mount
    # sensor self-noise and cable pickup of the mains enter electrically, after the mechanical path
    elec = rng.standard_normal(n) * m.sensor_noise * np.sqrt(fs / 2)
    elec += hum[0] * np.cos(TWO_PI * line * t + rng.uniform(0, TWO_PI))
    elec += hum[2] * np.cos(TWO_PI * 3 * line * t + rng.uniform(0, TWO_PI))
    y = np.fft.irfft((spec + np.fft.rfft(elec)) * _daq_gain(m, f), n)[::over] + m.offset_g
    lsb = 2 * m.full_scale_g / 2**m.adc_bits
    samples = np.clip(np.round(y / lsb) * lsb, -m.full_scale_g, m.full_scale_g).astype(np.float32)
    rpm_true = 60.0 * fr
    reported = round(rpm_true * (1 + rng.normal(0, 1e-3)), 1) if m.rpm_source == "tach" else m.rpm_nominal
    params: dict[str, Any] = {
        "rpm": rpm_true, "severity": sev, "ts_ms": ts_ms, "resonance_hz": m.res_hz, "fmax_hz": m.fmax_hz,
        "band_g": band_g, "noise_g": m.noise_g, "mount": m.mount, "sensor": m.sensor, "axial": m.axial, **extra,
    }  # fmt: skip
    return Window(state, samples, m.fs_hz, float(reported), m.bearing, m.asset_id, params)


def machine_windows(
    machine: Machine,
    state: str,
    n: int,
    seed: int,
    severity: float | None = None,
    imbalance_factor: float | None = None,
) -> list[Window]:
    """n successive windows, a minute apart, of one machine in one state at one fixed severity.

    severity: 0..1 as in SEVERITY_SCALE (random when None; always 0.0 for healthy). imbalance_factor (imbalance only,
    ignored otherwise): the 1x as a multiple of the machine's own residual 1x; it then sets the severity too.
    """
    if state not in TRAINED_STATES + UNTRAINED_STATES:
        raise ValueError(f"unknown state {state!r}; known: {TRAINED_STATES + UNTRAINED_STATES}")
    pick = np.random.default_rng([seed % 2**63, _crc(machine.asset_id), _crc(state), 0x5E7])
    sev = 0.0 if state == "healthy" else float(np.clip(pick.uniform(0, 1) if severity is None else severity, 0, 1))
    factor = 2.0 * 6.0**sev
    if state == "imbalance" and imbalance_factor is not None:
        if imbalance_factor <= 0:
            raise ValueError("imbalance_factor must be positive")
        factor, sev = float(imbalance_factor), faults.imbalance_severity(imbalance_factor)
    return [_render(machine, state, k, sev, factor, seed) for k in range(n)]


def fleet(seed: int, n_machines: int) -> list[Machine]:
    """n random machines, speeds cycling through the low/mid/high thirds of 600-3600 rpm."""
    return [
        _random_machine(np.random.default_rng([seed % 2**63, 0xF1EE7, i]), i % 3, f"fourth-{seed}-m{i:03d}")
        for i in range(n_machines)
    ]


def windows(seed: int, n_per_state: int, states: Sequence[str] = TRAINED_STATES) -> list[Window]:
    """n_per_state windows per state, each from a fresh random machine at a random severity."""
    if unknown := set(states) - set(TRAINED_STATES + UNTRAINED_STATES):
        raise ValueError(f"unknown states {sorted(unknown)}")
    out: list[Window] = []
    for j, state in enumerate(states):
        for i in range(n_per_state):
            rng = np.random.default_rng([seed % 2**63, _crc(state), i])
            machine = _random_machine(rng, (i + j) % 3, f"fourth-{seed}-{state}-{i:04d}")
            out.extend(machine_windows(machine, state, 1, seed))
    return out
