"""Synthetic machine windows for the baseline tests: shaft-order series, hum, noise and bearing impacts."""

from __future__ import annotations

import numpy as np

from edge_agent.baseline import MachineSignature, machine_signature
from edge_agent.contracts import BearingGeometry
from edge_agent.pipelines.postprocess import HealthAssessment
from edge_agent.pipelines.vibration_features import default_step, extract_features

FS = 12800.0
SECONDS = 0.5
RPM = 1780.0
BEARING = BearingGeometry(balls=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04, contact_angle_deg=0)
LABELS = ("healthy", "outer_race", "inner_race", "ball", "imbalance", "misalignment")


def window(
    seed: int,
    *,
    rpm: float = RPM,
    orders: tuple[float, float, float] = (0.08, 0.02, 0.015),
    noise_g: float = 0.05,
    impacts_order: float | None = None,
    impact_g: float = 1.0,
    extra_orders: dict[float, float] | None = None,
    tone_hz: tuple[float, float] | None = None,
) -> np.ndarray:
    """A machine's window: 1x/2x/3x (g) with speed jitter, 50 Hz hum, noise; optional impacts, orders, a fixed tone."""
    rng = np.random.default_rng(seed)
    n = int(FS * SECONDS)
    t = np.arange(n) / FS
    fr = rpm / 60.0 * (1.0 + 0.005 * rng.standard_normal())
    phase = 2 * np.pi * fr * t
    x = sum(a * np.sin(k * phase + rng.uniform(0, 2 * np.pi)) for k, a in enumerate(orders, start=1))
    x = x + 0.02 * np.sin(2 * np.pi * 50.0 * t) + noise_g * rng.standard_normal(n)
    for order, amplitude in (extra_orders or {}).items():
        x = x + amplitude * np.sin(order * phase + rng.uniform(0, 2 * np.pi))
    if tone_hz is not None:
        x = x + tone_hz[1] * np.sin(2 * np.pi * tone_hz[0] * t + rng.uniform(0, 2 * np.pi))
    if impacts_order is not None:
        ring = np.exp(-np.arange(200) / 30.0) * np.sin(2 * np.pi * 3500.0 * np.arange(200) / FS)
        train = np.zeros(n)
        period = FS / (impacts_order * fr)
        for start in np.arange(rng.uniform(0, period), n, period):
            train[int(start)] += impact_g * (1.0 + 0.1 * rng.standard_normal())
        x = x + np.convolve(train, ring)[:n]
    return np.asarray(x, dtype=np.float64)


def observe(samples: np.ndarray, rpm: float = RPM, fs: float = FS) -> tuple[MachineSignature, dict[str, float]]:
    """The signature and the model features of a window, as the service computes them."""
    step = default_step()
    values = extract_features(samples, fs, rpm, BEARING, step)
    return machine_signature(samples, fs, rpm), {n: float(v) for n, v in zip(step.feature_names, values)}


def assessment(state: str, p: float = 0.95, *, second: str = "healthy", anomaly: bool = False) -> HealthAssessment:
    """An absolute-model assessment whose top class is `state` with probability p."""
    closest = state if state not in ("uncertain", "unknown") else second
    runner_up = second if closest != second else "imbalance"
    scores = {label: 0.0 for label in LABELS}
    scores[closest], scores[runner_up] = p, 1.0 - p
    return HealthAssessment(
        state=state,
        closest_state=closest,
        scores=scores,
        anomaly_score=9.0 if anomaly else 0.5,
        anomaly=anomaly,
        health_index=scores["healthy"],
        margin=abs(2 * p - 1.0),
        top2=(closest, runner_up),
    )


MASKED_FS = 20480.0
MASKED_RPM = 1500.0


def masked_fault_window(seed: int, impact_g: float) -> np.ndarray:
    """A machine whose frame mode at 5.5 kHz, fed by flow noise, fills the wide envelope band, while outer-race
    impacts (impact_g each, 0 for a healthy window) ring a lightly damped 2.5 kHz housing resonance."""
    rng = np.random.default_rng(seed)
    n = 16384
    freqs = np.fft.rfftfreq(n, 1.0 / MASKED_FS)
    shaped = np.fft.rfft(rng.standard_normal(n)) * (0.02 + np.exp(-0.5 * ((freqs - 5500.0) / 300.0) ** 2))
    t = np.arange(n) / MASKED_FS
    x = 0.1 * np.fft.irfft(shaped, n) + 0.05 * np.sin(2 * np.pi * MASKED_RPM / 60.0 * t)
    k = np.arange(400)
    ring = np.exp(-2 * np.pi * 0.02 * 2500.0 * k / MASKED_FS) * np.sin(2 * np.pi * 2500.0 * k / MASKED_FS)
    period = MASKED_FS / (BEARING.fault_orders()["bpfo"] * MASKED_RPM / 60.0)
    train = np.zeros(n)
    train[np.arange(rng.uniform(0, period), n, period).astype(int)] = impact_g
    return np.asarray(x + np.convolve(train, ring)[:n], dtype=np.float64)
