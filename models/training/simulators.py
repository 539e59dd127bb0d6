"""A simulated production line: cameras, vibration DAQs and scalar tags publishing like the real ones."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from edge_agent.contracts import BearingGeometry
from models.training.sparkplug_sim import SparkplugNode
from models.training.surfaces import CLASSES, SurfaceDomain, generate_surface
from models.training.vibration import VibrationDomain, generate_window, to_message

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, dict[str, str] | None], None]


def machine_domain(seed: int, base: VibrationDomain | None = None) -> VibrationDomain:
    """One machine's own fixed signature (residual series, noise colour and level, hum, resonance, sensor
    mounting) as a narrow domain: its windows differ only as one real machine's do from second to second,
    so a per-asset baseline learned at commissioning means something."""
    d = base or VibrationDomain()
    rng = np.random.default_rng([seed, 77])

    def pick(span: tuple[float, float], width: float = 0.0) -> tuple[float, float]:
        value = float(rng.uniform(span[0], span[1]))
        return (value, value + width)

    residual = float(np.exp(rng.uniform(np.log(0.3), np.log(2.5))))
    noise = float(np.exp(rng.uniform(np.log(0.01), np.log(0.1))))
    return replace(
        d,
        residual_1x_mm_s=(residual, residual * 1.05),
        residual_2x_gap_db=pick((4.0, 14.0), 1.0),
        residual_3x_gap_db=pick((8.0, 20.0), 1.0),
        noise_rms_g=(noise, noise * 1.05),
        noise_tilt=pick((-0.5, 0.5)),
        noise_resonance_gain=pick((0.5, 3.0)),
        resonance_hz=pick((2500.0, 5500.0)),
        damping_ratio=pick((0.03, 0.06)),
        background_db=pick((-45.0, -25.0)),
        hum_db=pick((-25.0, -12.0)),
        hum_share=1.0,
        mount_corner_hz=pick((6000.0, 12000.0)),
        mount_q=pick((2.0, 6.0)),
        structural_modes=(0, 0),
        speed_wobble=(0.0, 0.002),
    )


@dataclass
class SimulatedAsset:
    """A machine: its bearing, speed, and the fault it develops after `fault_after_s`."""

    id: str
    bearing: BearingGeometry
    rpm: float
    fault: str = "healthy"
    fault_after_s: float = 60.0
    fs_hz: float = 25_600.0
    duration_s: float = 0.5
    # a changed machine or sensor mounting: windows come from this domain instead of the schedule's
    domain: VibrationDomain | None = None
    # share of windows a maintenance technician labels with the true state (published on {ns}/label/{asset})
    label_rate: float = 0.0
    states_cycle: tuple[str, ...] = ()


@dataclass
class LineSchedule:
    """How fast the line runs and how often parts are bad."""

    frame_hz: float = 2.0
    window_hz: float = 1.0
    tag_hz: float = 1.0
    defect_rate: float = 0.15
    surface_domain: SurfaceDomain = field(default_factory=SurfaceDomain)
    vibration_domain: VibrationDomain = field(default_factory=VibrationDomain)


class LineSimulator:
    """Publishes frames, vibration windows and tags on the plant namespace until stopped."""

    def __init__(
        self,
        publish: Publish,
        ns: str,
        cameras: list[str],
        assets: list[SimulatedAsset],
        schedule: LineSchedule | None = None,
        seed: int = 7,
    ) -> None:
        self.publish = publish
        self.ns = ns
        self.cameras = cameras
        self.assets = assets
        self.schedule = schedule or LineSchedule()
        self.rng = np.random.default_rng(seed)
        self.part_counter = 0
        self.sent: dict[str, int] = {"frames": 0, "windows": 0, "tags": 0, "sparkplug": 0}
        self.plc = SparkplugNode(lambda topic, payload: publish(topic, payload, None))
        # (asset, ts_ms) -> true state of every window sent, so a demo can score the agent's answers
        self.truth: dict[tuple[str, int], str] = {}
        self._stop = threading.Event()
        self._started = time.monotonic()

    def frame(self, camera: str) -> tuple[bytes, dict[str, str], str]:
        """One JPEG frame with its user properties and true label."""
        defect_classes = [c for c in CLASSES if c != "ok"]
        is_bad = self.rng.random() < self.schedule.defect_rate
        label = str(self.rng.choice(defect_classes)) if is_bad else "ok"
        sample = generate_surface(self.rng, label, 256, self.schedule.surface_domain)
        self.part_counter += 1
        props = {"part_id": f"{camera}-{self.part_counter:07d}", "ts_ms": str(int(time.time() * 1000))}
        return sample.jpeg, props, label

    def window(self, asset: SimulatedAsset, elapsed_s: float) -> tuple[bytes, str, int]:
        """One vibration window message, its true state and its timestamp."""
        state = asset.fault if elapsed_s >= asset.fault_after_s else "healthy"
        if asset.states_cycle:
            state = asset.states_cycle[self.sent["windows"] % len(asset.states_cycle)]
        ts_ms = int(time.time() * 1000)
        sample = generate_window(
            self.rng,
            state,
            asset.domain or self.schedule.vibration_domain,
            rpm=asset.rpm * float(self.rng.uniform(0.98, 1.02)),
            bearing=asset.bearing,
            fs_hz=asset.fs_hz,
            duration_s=asset.duration_s,
        )
        message = to_message(sample, include_bearing=False, binary=True, ts_ms=ts_ms)
        return json.dumps(message).encode(), state, ts_ms

    def tick(self, elapsed_s: float) -> None:
        """Publish one round of every source."""
        for camera in self.cameras:
            jpeg, props, _ = self.frame(camera)
            self.publish(f"{self.ns}/cam/{camera}/frame", jpeg, props)
            self.sent["frames"] += 1

    def _loop(self, period_s: float, action: Callable[[float], None]) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                action(time.monotonic() - self._started)
            except Exception:
                log.exception("simulator step failed")
            next_at += period_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _frames(self, elapsed_s: float) -> None:
        self.tick(elapsed_s)

    def _windows(self, elapsed_s: float) -> None:
        for asset in self.assets:
            payload, state, ts_ms = self.window(asset, elapsed_s)
            self.publish(f"{self.ns}/sensor/{asset.id}/vibration", payload, None)
            self.sent["windows"] += 1
            self.truth[(asset.id, ts_ms)] = state
            if asset.label_rate and self.rng.random() < asset.label_rate:
                label = json.dumps({"ts_ms": ts_ms, "label": state}).encode()
                self.publish(f"{self.ns}/label/{asset.id}", label, None)
                self.sent["labels"] = self.sent.get("labels", 0) + 1

    def _tags(self, elapsed_s: float) -> None:
        now_ms = int(time.time() * 1000)
        for asset in self.assets:
            temperature = 45 + 10 * np.sin(elapsed_s / 60) + self.rng.normal(0, 0.3)
            for tag, value, unit in (("temperature", temperature, "degC"), ("speed", asset.rpm, "rpm")):
                document = {"timestamp_ms": now_ms, "value": round(float(value), 2), "unit": unit, "quality": 192}
                self.publish(f"{self.ns}/sensor/{asset.id}/{tag}", json.dumps(document).encode(), None)
                self.sent["tags"] += 1

    def _sparkplug(self, elapsed_s: float) -> None:
        self.plc.data(elapsed_s)
        self.sent["sparkplug"] += 1

    def start(self) -> list[threading.Thread]:
        """Start one thread per source kind."""
        s = self.schedule
        loops = [
            (1 / s.frame_hz, self._frames),
            (1 / s.window_hz, self._windows),
            (1 / s.tag_hz, self._tags),
            (1 / s.tag_hz, self._sparkplug),
        ]
        threads = [threading.Thread(target=self._loop, args=loop, daemon=True, name="sim") for loop in loops]
        for thread in threads:
            thread.start()
        return threads

    def stop(self) -> None:
        """Stop publishing."""
        self._stop.set()
