"""Second clean-room predictive-maintenance evaluator: plant accelerometer windows, written from DESIGN.md §10."""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.evaluation import plant_vibration_faults as pf

TRAINED_STATES = ("healthy", "outer_race", "inner_race", "ball", "imbalance", "misalignment")
UNTRAINED_STATES: tuple[str, ...] = pf.UNTRAINED
BANDS = ((600.0, 1200.0), (1200.0, 2400.0), (2400.0, 3600.0))
BEARINGS, DAQ_RATES, MOUNTS = pf.BEARINGS, pf.DAQ_RATES, pf.MOUNTS
ALL_STATES = TRAINED_STATES + UNTRAINED_STATES


@dataclass(frozen=True, eq=False)
class PlantMachine:
    """One monitored asset: its bearing, DAQ, sensor, mounting, electrical supply and healthy signature."""

    asset_id: str
    bearing_name: str
    bearing: dict[str, float]
    rpm_nominal: float
    fs_hz: float
    n_samples: int
    line_hz: float
    hum_g: tuple[float, ...]  # peak g of line harmonics 1..7 picked up by the cable (ground loop, drive)
    residual_mm_s: tuple[float, float, float]  # healthy 1x, 2x, 3x, mm/s rms
    residual_phase: tuple[float, float, float]
    broadband_g: float  # white machine noise rms at 1800 rpm; it grows in proportion to speed
    structure: tuple[tuple[float, float, float], ...]  # frame/casing modes (Hz, Q, peak gain) fed by broadband
    bearing_modes: tuple[tuple[float, float, float], ...]  # modes rung by bearing impacts (Hz, damping, share)
    sensor: str
    sensor_noise_g: float
    dc_offset_g: float
    adc_lsb_g: float
    mount: str
    mount_hz: float
    mount_q: float
    aa_hz: float
    ripple: tuple[float, float]  # speed ripple fraction and its frequency in Hz
    tach_bias: float
    poles: int


@dataclass(frozen=True, eq=False)
class PlantWindow:
    """One accelerometer window as a plant would publish it, its true state and every choice that made it."""

    state: str
    samples: np.ndarray
    fs_hz: float
    rpm: float
    bearing: dict[str, float]
    asset_id: str
    params: dict[str, Any]

    def message(self, binary: bool = True) -> dict[str, Any]:
        """The MQTT JSON document of DESIGN.md §4 for this window."""
        doc: dict[str, Any] = {
            "ts_ms": int(self.params["ts_ms"]),
            "fs_hz": self.fs_hz,
            "rpm": self.rpm,
            "unit": "g",
            "bearing": {k: (int(v) if k == "balls" else float(v)) for k, v in self.bearing.items()},
        }
        if binary:
            doc["samples_b64"] = base64.b64encode(self.samples.astype("<f4").tobytes()).decode("ascii")
        else:
            doc["samples"] = [float(x) for x in self.samples]
        return doc


def _range(rpm_range: Sequence[float]) -> tuple[float, float]:
    lo, hi = (float(x) for x in rpm_range)
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise ValueError(f"rpm_range must be 0 < low <= high, got {rpm_range!r}")
    return lo, hi


def random_plant_machine(
    rng: np.random.Generator, asset_id: str = "plant-000", rpm_range: Sequence[float] = (600.0, 3600.0)
) -> PlantMachine:
    """Draw one asset; every choice is made once here, so its windows share one healthy signature."""
    lo, hi = _range(rpm_range)
    lo, hi = (lo * 1.025, hi / 1.025) if lo * 1.025 <= hi / 1.025 else ((lo + hi) / 2,) * 2  # room for drift and tach
    name, balls, d, pitch, angle = BEARINGS[int(rng.integers(len(BEARINGS)))]
    fs = float(rng.choice(DAQ_RATES))
    sizes = [2**k for k in range(11, 16) if 0.25 <= 2**k / fs <= 1.0] + [round(fs * s) for s in (0.25, 0.5, 1.0)]
    # Healthy residual 1x: ISO 20816-3 puts new machines (zone A) below 1.4-2.3 mm/s rms and acceptable ones (B)
    # below 2.8-4.5; a log-uniform 0.25-2.5 mm/s spans a decade and stays in A/B. 2x and 3x are kept well under 1x
    # (2x <= 35 %, 3x <= 15 % in velocity, so also below 1x in acceleration) because a 2x reaching 50 % of 1x is
    # the textbook start of misalignment; nothing sub-synchronous, no impacts, no shaft-locked structure modes.
    v1 = pf.logu(rng, 0.25, 2.5)
    v2 = v1 * rng.uniform(0.08, 0.35)
    v3 = min(v1 * rng.uniform(0.03, 0.15), 0.8 * v2)
    mount = str(rng.choice(["stud", "stud", "adhesive", "magnet", "magnet"]))
    m_lo, m_hi, q_lo, q_hi = MOUNTS[mount]
    mems = rng.uniform() < 0.4
    line = float(rng.choice([50.0, 60.0]))
    hum1 = pf.logu(rng, 0.8e-3, 5e-3)
    # ground-loop pickup is rich in odd harmonics; the mechanical 2x line hum of a sound motor stays small
    hum = tuple(
        hum1 * (1.0 if k == 1 else rng.uniform(0.15, 0.6) if k % 2 else rng.uniform(0.03, 0.25)) for k in range(1, 8)
    )
    # frame modes sit above 500 Hz (> 8x at 3600 rpm), so no noise-fed bump can pose as a 1x-3x line
    structure = tuple(
        (pf.logu(rng, 500.0, 0.4 * fs), rng.uniform(5.0, 30.0), rng.uniform(1.5, 6.0))
        for _ in range(int(rng.integers(2, 5)))
    )
    f_b = pf.logu(rng, 2000.0, min(6000.0, 0.4 * fs))  # the bearing housing resonance rung by impacts
    modes = [(f_b, rng.uniform(0.02, 0.07), 1.0)]
    if rng.uniform() < 0.5 and 1.8 * f_b < 0.42 * fs:
        modes.append((f_b * rng.uniform(1.3, 1.8), rng.uniform(0.02, 0.07), rng.uniform(0.25, 0.5)))
    shares = sum(m[2] for m in modes)
    return PlantMachine(
        asset_id=asset_id,
        bearing_name=name,
        bearing={"balls": balls, "ball_diameter_mm": d, "pitch_diameter_mm": pitch, "contact_angle_deg": angle},
        rpm_nominal=float(rng.uniform(lo, hi)),
        fs_hz=fs,
        n_samples=int(rng.choice(sizes)),
        line_hz=line,
        hum_g=hum,
        residual_mm_s=(v1, v2, v3),
        residual_phase=(rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi)),
        broadband_g=pf.logu(rng, 0.003, 0.03),
        structure=structure,
        bearing_modes=tuple((f, z, s / shares) for f, z, s in modes),
        sensor="mems" if mems else "iepe",
        # noise density: MEMS 25-100 ug/rtHz, IEPE 1.5-8 ug/rtHz, over the whole band
        sensor_noise_g=(pf.logu(rng, 25e-6, 100e-6) if mems else pf.logu(rng, 1.5e-6, 8e-6)) * math.sqrt(fs / 2),
        dc_offset_g=rng.uniform(-0.05, 0.05) if mems else 0.0,  # MEMS are DC coupled: zero-g bias stays in
        adc_lsb_g=100.0 / 2**16 if mems else 100.0 / 2**24,  # +-50 g on a 16-bit vs a 24-bit converter
        mount=mount,
        mount_hz=rng.uniform(m_lo, m_hi),
        mount_q=rng.uniform(q_lo, q_hi),
        aa_hz=rng.uniform(0.38, 0.45) * fs,
        ripple=(pf.logu(rng, 0.0005, 0.004), rng.uniform(0.3, 4.0)),
        tach_bias=rng.uniform(-0.006, 0.006),
        poles=int(rng.choice([2, 4, 6])),
    )


def _check(state: str, severity: float | None, imbalance_factor: float | None) -> None:
    if state not in ALL_STATES:
        raise ValueError(f"unknown state {state!r}; expected one of {ALL_STATES}")
    if imbalance_factor is not None and state != "imbalance":
        raise ValueError(f"imbalance_factor applies to state 'imbalance' only, not {state!r}")
    if imbalance_factor is not None and not (math.isfinite(imbalance_factor) and imbalance_factor > 1.0):
        raise ValueError(f"imbalance_factor must be a finite number > 1, got {imbalance_factor!r}")
    if severity is not None and not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity must lie in [0, 1], got {severity!r}")


def _electrical(m: PlantMachine, rng: np.random.Generator, t: np.ndarray, line: float) -> tuple[np.ndarray, float]:
    """Sensor noise and line hum enter in the cable and DAQ, after the mechanical path and the mounting."""
    out = rng.standard_normal(t.size) * m.sensor_noise_g
    level = math.exp(0.1 * rng.standard_normal())  # pickup changes with other loads on the same supply
    for k, a in enumerate(m.hum_g, 1):
        out += level * a * np.sin(2 * np.pi * k * line * t + rng.uniform(0, 2 * np.pi))
    return out, level * m.hum_g[0]


def _window(
    m: PlantMachine, state: str, rng: np.random.Generator, fault: dict[str, float], drift: float
) -> tuple[np.ndarray, dict[str, Any]]:
    fs, n = m.fs_hz, m.n_samples
    pre = int(0.04 * fs)  # impacts in the 40 ms before the window still ring into it
    t = (np.arange(pre + n) - pre) / fs
    wobble = m.ripple[0] * np.sin(2 * np.pi * m.ripple[1] * t + rng.uniform(0, 2 * np.pi))
    f = m.rpm_nominal / 60.0 * (1 + drift) * (1 + wobble)
    rev = rng.uniform() + np.cumsum(f) / fs
    f0 = float(f[pre:].mean())
    line = m.line_hz * (1 + rng.uniform(-0.002, 0.002))  # grid frequency wanders by about +-0.1 Hz
    # broadband: rolling, flow and windage noise growing with speed, coloured by the frame's own modes
    white = rng.standard_normal(pre + n) * m.broadband_g * f0 / 30.0 * math.exp(0.05 * rng.standard_normal())
    freqs = np.fft.rfftfreq(pre + n, 1 / fs)
    shape = 1 + sum(g * pf.resonance(freqs, fn, q) for fn, q, g in m.structure)
    noise = np.fft.irfft(np.fft.rfft(white) * shape, pre + n)
    sc = pf.Scene(t, rev, fs, f0, m.residual_mm_s[0], float(noise[pre:].std()), line, m.poles)
    v = np.asarray(m.residual_mm_s) * np.exp(0.03 * rng.standard_normal(3))  # minute-to-minute load, temperature
    ph = m.residual_phase
    lines = {1.0: (v[0], ph[0]), 2.0: (v[1], ph[1]), 3.0: (v[2], ph[2])}
    if state == "imbalance":  # only the 1x grows; 2x, 3x, noise and everything else stay the machine's own
        lines[1.0] = (v[0] * fault["imbalance_factor"], ph[0] + fault["phase"])
    elif state == "misalignment":
        v2 = v[0] * fault["ratio_2x"]
        lines = {
            1.0: (v[0] * fault["gain_1x"], ph[0] + fault["phase_1x"]),
            2.0: (v2, ph[1]),
            3.0: (max(v[2], v2 * fault["ratio_3x"]), ph[2]),
            4.0: (v2 * fault["ratio_4x"], ph[0] + ph[1]),
        }
    x = pf.tones(sc, lines) + noise
    if state in pf.BEARING_STATES:
        x += pf.bearing_fault(state, sc, rng, m.bearing, m.bearing_modes, fault)
    elif state in UNTRAINED_STATES:
        x += pf.untrained(state, sc, rng, fault)
    freqs = np.fft.rfftfreq(n, 1 / fs)
    r = freqs / m.mount_hz
    mount = 1 / (1 - r * r + 1j * r / m.mount_q)  # sensor on its mount: a second-order low-pass with a peak
    aa = 1 / np.sqrt(1 + (freqs / m.aa_hz) ** 16)  # the DAQ's 8th-order anti-alias filter
    elec, hum = _electrical(m, rng, t[pre:], line)
    y = np.fft.irfft((np.fft.rfft(x[pre:]) * mount + np.fft.rfft(elec)) * aa, n)
    y = np.round((y + m.dc_offset_g) / m.adc_lsb_g) * m.adc_lsb_g
    params = {
        "rpm": f0 * 60.0,
        "line_hz": line,
        "noise_rms_g": sc.sigma,
        "lines_g": {f"{o:g}x": pf.accel_g(a, o * f0) for o, (a, _) in lines.items()},
        "hum_g": hum,
        # white floor below the frame modes, g/sqrt(Hz): what buries a weak line in a short window
        "floor_g_rthz": math.hypot(float(white.std()), m.sensor_noise_g) / math.sqrt(fs / 2),
        "fault_orders": pf.fault_orders(m.bearing),
        "bearing_name": m.bearing_name,
        "sensor": m.sensor,
        "mount": m.mount,
    }
    return y.astype(np.float32), params


def machine_windows(
    machine: PlantMachine,
    state: str,
    n: int,
    seed: int,
    severity: float | None = None,
    imbalance_factor: float | None = None,
) -> list[PlantWindow]:
    """n successive windows, one a minute, of one machine in one state at one severity."""
    _check(state, severity, imbalance_factor)
    rng = np.random.default_rng([seed, zlib.crc32(machine.asset_id.encode()), zlib.crc32(state.encode())])
    s = float(rng.uniform()) if severity is None else float(severity)
    fault = pf.draw(state, rng, s)
    if state == "imbalance":  # from 3x the machine's own residual 1x (the spec's detection point) to 10x
        fault["imbalance_factor"] = float(imbalance_factor or 3.0 * (10.0 / 3.0) ** s)
        s = float(np.clip(math.log(fault["imbalance_factor"] / 3.0) / math.log(10.0 / 3.0), 0.0, 1.0))
    s = 0.0 if state == "healthy" else s
    ts0 = 1_704_067_200_000 + int(rng.integers(0, 525_600)) * 60_000
    drift = rng.uniform(-0.005, 0.005)
    out = []
    for i in range(n):
        samples, params = _window(machine, state, rng, fault, drift)
        # tachometer or drive-reported speed: a fixed calibration bias plus jitter, never more than 1 % off
        tach = float(np.clip(machine.tach_bias + rng.normal(0, 0.002), -0.01, 0.01))
        params.update(state=state, severity=s, ts_ms=ts0 + 60_000 * i, minute=i, fault=dict(fault))
        rpm = round(params["rpm"] * (1 + tach), 1)
        out.append(PlantWindow(state, samples, machine.fs_hz, rpm, dict(machine.bearing), machine.asset_id, params))
        drift = float(np.clip(drift + rng.normal(0, 0.002), -0.01, 0.01))  # slow load-driven speed drift
    return out


def _bands(rpm_range: Sequence[float]) -> list[tuple[float, float]]:
    lo, hi = _range(rpm_range)
    bands = [(max(a, lo), min(b, hi)) for a, b in BANDS if max(a, lo) < min(b, hi)]
    return bands or [(lo, hi)]


def windows(
    seed: int, n_per_state: int, states: Sequence[str] = TRAINED_STATES, rpm_range: Sequence[float] = (600, 3600)
) -> list[PlantWindow]:
    """n windows per state, each from a fresh random machine, speeds cycling through the low, mid and high bands."""
    for state in states:
        _check(state, None, None)
    bands = _bands(rpm_range)
    out: list[PlantWindow] = []
    for k, state in enumerate(states):
        tag = zlib.crc32(state.encode())
        for i in range(n_per_state):
            rng = np.random.default_rng([seed, tag, i])
            band = bands[(i + k) % len(bands)]
            machine = random_plant_machine(rng, f"plant-{seed}-{state}-{i:04d}", band)
            out += machine_windows(machine, state, 1, int(rng.integers(2**31)))
    return out


def fleet(seed: int, n_machines: int, rpm_range: Sequence[float] = (600, 3600)) -> list[PlantMachine]:
    """A plant's worth of assets, speeds cycling through the bands, for per-asset baseline studies."""
    bands = _bands(rpm_range)
    return [
        random_plant_machine(np.random.default_rng([seed, 0xF1EE7, k]), f"asset-{seed}-{k:03d}", bands[k % len(bands)])
        for k in range(n_machines)
    ]
