"""In-process bench helpers (publisher and subscriber inside the bench's own process), used by drain_impact.py.

bench/throughput.py runs its load in separate processes (bench/load_client.py) so their CPU is not the agent's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_models import bench_models  # noqa: E402
from load_client import connect as client  # noqa: E402

from edge_agent.demo.demo import demo_config  # noqa: E402
from edge_agent.mqtt import InboundMessage, MqttClient  # noqa: E402
from models.training.surfaces import generate_surface  # noqa: E402

NS = "factory/v1/demo-plant/line-1"


class Counter:
    """Counts results and keeps end-to-end latencies from a monotonic timestamp in the id."""

    def __init__(self) -> None:
        self.count = 0
        self.latencies_ms: list[float] = []
        self.first = 0.0
        self.last = 0.0
        self.status: dict[str, Any] = {}
        self.lock = threading.Lock()

    def __call__(self, message: InboundMessage) -> None:
        now = time.monotonic()
        if message.topic.endswith("/status"):
            self.status = json.loads(message.payload)
            return
        document = json.loads(message.payload)
        stamp = document.get("part_id") or document.get("ts_ms")
        with self.lock:
            self.count += 1
            self.first = self.first or now
            self.last = now
            if isinstance(stamp, str) and ":" in stamp:
                self.latencies_ms.append((now - int(stamp.split(":")[1]) / 1e9) * 1000)

    def reset(self) -> None:
        with self.lock:
            self.count, self.latencies_ms, self.first, self.last = 0, [], 0.0, 0.0


def frames(n: int) -> list[bytes]:
    rng = np.random.default_rng(1)
    base = [generate_surface(rng, label, (480, 640)).jpeg for label in ("ok", "scratch", "pit", "crack", "stain")]
    return [base[i % len(base)] for i in range(n)]


def saturate(pub: MqttClient, counter: Counter, kind: str, payloads: list[bytes]) -> float:
    """Offer everything at once; the sustained rate is results over the time they kept arriving."""
    counter.reset()
    for i, payload in enumerate(payloads):
        tag = f"{i}:{time.monotonic_ns()}"
        if kind == "frame":
            pub.publish(f"{NS}/cam/cam-1/frame", payload, user_properties={"part_id": tag})
        else:
            pub.publish(f"{NS}/sensor/pump-1/vibration", payload)
    idle_since = time.monotonic()
    seen = 0
    while time.monotonic() - idle_since < 3.0 and counter.count < len(payloads):
        time.sleep(0.1)
        if counter.count != seen:
            seen, idle_since = counter.count, time.monotonic()
    span = max(counter.last - counter.first, 1e-6)
    return (counter.count - 1) / span if counter.count > 1 else 0.0


def paced_latency(pub: MqttClient, counter: Counter, payloads: list[bytes], rate: float, seconds: float) -> list[float]:
    """Frames at a fixed rate; end-to-end latency from publish to result at the subscriber."""
    counter.reset()
    n = max(10, int(rate * seconds))
    period = 1.0 / rate
    started = time.monotonic()
    for i in range(n):
        target = started + i * period
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pub.publish(
            f"{NS}/cam/cam-1/frame",
            payloads[i % len(payloads)],
            user_properties={"part_id": f"{i}:{time.monotonic_ns()}"},
        )
    deadline = time.monotonic() + 10
    while counter.count < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return counter.latencies_ms


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_agent(port: int, workdir: Path, extra: dict[str, Any] | None = None) -> tuple[subprocess.Popen[bytes], float]:
    """`edge-agent run` on the demo config (plus `extra` sections); returns it and its time to ready."""
    config = demo_config(port, workdir, bench_models(), bench_models() / "keys", web_port=0)
    config.update(extra or {})
    config["mqtt"]["status_interval_s"] = 1.0
    config["queues"] = {"frames": {"size": 64, "policy": "drop_oldest"}, "workers": 2, "max_batch": 32}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    watcher = Counter()
    probe = client(port, "bench-status", watcher, [f"{NS}/agent/+/status"])
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_agent.cli", "run", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "agent.log", "wb"),  # noqa: SIM115
    )
    while watcher.status.get("state") != "online":
        if process.poll() is not None:
            raise SystemExit((workdir / "agent.log").read_text())
        time.sleep(0.02)
    ready = time.monotonic() - started
    probe.stop()
    return process, ready
