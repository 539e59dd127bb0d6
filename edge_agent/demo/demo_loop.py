"""`edge-agent demo --loop`: motor-1 drifts, the model misses, labels flow up, cloud-sync retrains and rolls out."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any

from edge_agent.mqtt import InboundMessage

DRIFT_AFTER_S = 20.0
RETRAIN_AFTER_S = 110.0


class MissRate:
    """Scores motor-1's health results against the simulator's ground truth, over a sliding window."""

    def __init__(self, truth: dict[tuple[str, int], str], asset: str = "motor-1", window: int = 60) -> None:
        self.truth = truth
        self.asset = asset
        self.recent: deque[tuple[bool, str]] = deque(maxlen=window)
        self.lock = threading.Lock()

    def __call__(self, message: InboundMessage) -> None:
        if not message.topic.endswith(f"/maintenance/{self.asset}/health"):
            return
        document = json.loads(message.payload)
        expected = self.truth.get((self.asset, int(document.get("ts_ms", 0))))
        if expected is not None:
            with self.lock:
                self.recent.append((document["state"] != expected, document["model"]["version"]))

    def summary(self) -> str:
        """Miss rate and model versions over the window."""
        with self.lock:
            if not self.recent:
                return "no scored windows yet"
            misses = sum(m for m, _ in self.recent)
            versions = sorted({v for _, v in self.recent})
        return f"motor-1 miss rate {misses / len(self.recent):.0%} over {len(self.recent)} windows ({versions})"


class RetrainLoop:
    """Drives the drift, then `cloud-sync retrain` and a rollout, reporting as it goes."""

    def __init__(self, simulator: Any, cloud_url: str, admin_token: str, workdir: Path) -> None:
        self.simulator = simulator
        self.url = cloud_url
        self.token = admin_token
        self.workdir = workdir
        self.drifted = False
        self.retrained = False

    def _cloud_sync(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(Path(sys.executable).with_name("cloud-sync")), *args, "--url", self.url, "--token", self.token]
        return subprocess.run(command, capture_output=True, text=True, timeout=900)

    def tick(self, elapsed_s: float) -> None:
        """Called every second by the demo."""
        from models.training.vibration import STATES, VibrationDomain

        if not self.drifted and elapsed_s >= DRIFT_AFTER_S:
            motor = next(a for a in self.simulator.assets if a.id == "motor-1")
            motor.domain = VibrationDomain(noise_tilt=(1.8, 2.4))
            motor.states_cycle = STATES
            motor.label_rate = 1.0
            self.drifted = True
            print("[loop] motor-1 gets a new sensor mounting: its noise spectrum is steeper than anything trained on;")
            print("[loop] a technician now labels its windows (published on .../label/motor-1)")
        if self.drifted and not self.retrained and elapsed_s >= RETRAIN_AFTER_S:
            self.retrained = True
            threading.Thread(target=self._retrain, daemon=True).start()

    def _retrain(self) -> None:
        print("[loop] cloud-sync retrain bearing-health --quick ...", flush=True)
        done = self._cloud_sync("retrain", "bearing-health", "--quick", "--workdir", str(self.workdir))
        print(done.stdout.strip(), flush=True)
        if done.returncode != 0:
            print(f"[loop] retrain did not register a new version: {done.stderr.strip()[-500:]}", flush=True)
            return
        rollout = self._cloud_sync(
            "rollout", "bearing-health", "1.1.0", "--group", "line-1", "--canary", "100", "--probation", "20"
        )
        print(f"[loop] rollout: {rollout.stdout.strip() or rollout.stderr.strip()}", flush=True)
