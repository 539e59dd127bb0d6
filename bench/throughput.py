"""Sustained throughput and end-to-end latency of `edge-agent run` against a real mosquitto on loopback.

Prints, in one run on this machine: frames/s and windows/s sustained by the agent, p50/p99 end-to-end latency
at 50% of that rate, RSS and time to ready; the same for (a) the bare pipeline (decode + preprocess + run in a
tight loop, no MQTT) and (b) a naive paho-callback script (bench/naive_agent.py); scalar tag ingest; ratios.
Run: .venv/bin/python bench/throughput.py [--frames 600 --windows 1500 --tags 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_agent.app import build_pipeline  # noqa: E402
from edge_agent.demo import demo_config  # noqa: E402
from edge_agent.devbroker import DevBroker  # noqa: E402
from edge_agent.ingest.images import decode_image  # noqa: E402
from edge_agent.ingest.vibration import parse_vibration  # noqa: E402
from edge_agent.mqtt import InboundMessage, MqttClient, MqttSettings  # noqa: E402
from models.training.surfaces import generate_surface  # noqa: E402
from models.training.vibration import generate_window, to_message  # noqa: E402

NS = "factory/v1/demo-plant/line-1"
MODELS = REPO / "models"


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


def client(port: int, name: str, handler: Any = None, subscribe: list[str] | None = None) -> MqttClient:
    settings = MqttSettings(host="127.0.0.1", port=port, client_id=name, session_expiry_s=0, max_queued=0)
    mqtt = MqttClient(settings, handler or (lambda m: None))
    if subscribe:
        mqtt.subscribe(subscribe)
    mqtt.start()
    mqtt.wait_connected(10)
    time.sleep(0.2)
    return mqtt


def frames(n: int) -> list[bytes]:
    rng = np.random.default_rng(1)
    base = [generate_surface(rng, label, (480, 640)).jpeg for label in ("ok", "scratch", "pit", "crack", "stain")]
    return [base[i % len(base)] for i in range(n)]


def windows(n: int) -> list[bytes]:
    rng = np.random.default_rng(2)
    states = ("healthy", "outer_race", "inner_race", "ball", "imbalance", "misalignment")
    base = [
        json.dumps(to_message(generate_window(rng, s, rpm=1780.0, fs_hz=25600.0, duration_s=0.5), binary=True)).encode()
        for s in states
    ]
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


def bare_rate(kind: str, payloads: list[bytes], seconds: float = 5.0) -> tuple[float, float]:
    """Items/s and p50 ms of decode + preprocess + run in a tight loop, no MQTT, one thread."""
    name = "surface-inspection" if kind == "frame" else "bearing-health"
    pipeline = build_pipeline(MODELS / name / "1.0.0", [MODELS / "keys"])
    times = []
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        if kind == "frame":
            pipeline.infer([pipeline.prepare(decode_image(payloads[i % len(payloads)]))])  # type: ignore[arg-type]
        else:
            pipeline.infer([pipeline.prepare(parse_vibration(payloads[i % len(payloads)]))])  # type: ignore[arg-type]
        times.append((time.perf_counter() - t0) * 1000)
        i += 1
    return i / (time.perf_counter() - started), statistics.median(times)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_agent(port: int, workdir: Path, extra: dict[str, Any] | None = None) -> tuple[subprocess.Popen[bytes], float]:
    """`edge-agent run` on the demo config (plus `extra` sections); returns it and its time to ready."""
    config = demo_config(port, workdir, MODELS, MODELS / "keys", web_port=0)
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


def tag_ingest(port: int, n: int) -> tuple[float, int, int]:
    """Publish n scalar tags as fast as possible; the agent's counters say how many it processed."""
    status = Counter()
    probe = client(port, "bench-tags", status, [f"{NS}/agent/+/status"])
    time.sleep(1.5)
    before = status.status["totals"]
    pub = client(port, "bench-tag-pub")
    started = time.monotonic()
    for i in range(n):
        pub.publish(f"{NS}/sensor/pump-1/temperature", f'{{"timestamp_ms":{i},"value":{i % 90},"quality":192}}')
    while pub.pending():
        time.sleep(0.01)
    sent_s = time.monotonic() - started
    after: dict[str, int] = {}
    for _ in range(30):  # until the agent's counters stop moving (the status refreshes every second)
        time.sleep(1.2)
        if after and status.status["totals"] == after:
            break
        after = dict(status.status["totals"])
    pub.stop()
    probe.stop()
    processed = after["processed"] - before["processed"]
    dropped = after["dropped"] - before["dropped"] + after["malformed"] - before["malformed"]
    return n / sent_s, processed, dropped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--windows", type=int, default=1500)
    parser.add_argument("--tags", type=int, default=50_000)
    args = parser.parse_args()
    frame_payloads, window_payloads = frames(args.frames), windows(args.windows)
    print(f"cores: {os.cpu_count()}; frames 640x480 JPEG; windows 0.5 s at 25.6 kHz (base64 float32)")
    bare_f, bare_f_p50 = bare_rate("frame", frame_payloads)
    bare_w, bare_w_p50 = bare_rate("window", window_payloads)
    with tempfile.TemporaryDirectory() as tmp, DevBroker(workdir=Path(tmp)) as broker:
        results = Counter()
        sub = client(broker.port, "bench-sub", results, [f"{NS}/inspection/+/result", f"{NS}/maintenance/+/health"])
        pub = client(broker.port, "bench-pub")
        agent, ready_s = start_agent(broker.port, Path(tmp))
        try:
            agent_f = saturate(pub, results, "frame", frame_payloads)
            agent_w = saturate(pub, results, "window", window_payloads)
            lat = paced_latency(pub, results, frame_payloads, max(1.0, agent_f / 2), 10.0)
            rss = rss_mb(agent.pid)
            tag_rate, tags_processed, tags_dropped = tag_ingest(broker.port, args.tags)
        finally:
            agent.terminate()
            agent.wait(20)
        naive = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "naive_agent.py"), str(broker.port), NS, str(MODELS)],
            stdout=subprocess.PIPE,
        )
        try:
            assert naive.stdout is not None
            naive.stdout.readline()
            time.sleep(0.5)
            naive_f = saturate(pub, results, "frame", frame_payloads)
            naive_w = saturate(pub, results, "window", window_payloads)
            naive_lat = paced_latency(pub, results, frame_payloads, max(1.0, agent_f / 2), 10.0)
            naive_rss = rss_mb(naive.pid)
        finally:
            naive.terminate()
            naive.wait(10)
        pub.stop()
        sub.stop()

    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    print(f"\n{'':28}{'frames/s':>10}{'windows/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'RSS MB':>8}")
    print(f"{'bare pipeline (1 thread)':28}{bare_f:10.1f}{bare_w:11.1f}{bare_f_p50:9.2f}{'':>9}{'':>8}")
    print(f"{'edge-agent run':28}{agent_f:10.1f}{agent_w:11.1f}{pct(lat, 50):9.2f}{pct(lat, 99):9.2f}{rss:8.0f}")
    print(
        f"{'naive paho script':28}{naive_f:10.1f}{naive_w:11.1f}{pct(naive_lat, 50):9.2f}"
        f"{pct(naive_lat, 99):9.2f}{naive_rss:8.0f}"
    )
    print(f"\nagent / bare:  frames {agent_f / bare_f:.2f}x, windows {agent_w / bare_w:.2f}x")
    print(f"agent / naive: frames {agent_f / naive_f:.2f}x, windows {agent_w / naive_w:.2f}x")
    print(f"agent p99 at 50% load / bare p50: {pct(lat, 99) / bare_f_p50:.2f}x (bare window p50 {bare_w_p50:.2f} ms)")
    print(f"ready (broker connected, models self-tested): {ready_s:.2f} s")
    print(f"scalar tags: offered {tag_rate:.0f} msg/s, processed {tags_processed}/{args.tags}, dropped {tags_dropped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
