"""The bench's publisher and subscriber, each in its own process so their CPU is not charged to the system measured.

Driven over stdin/stdout by bench/throughput.py, one JSON command per line, one JSON reply per line:
  publisher:  {"op": "flood", "kind": "frame"|"window"|"mixed"|"junk", "n": N, "sources": K}
              {"op": "paced", "kind": "frame"|"window", "rate": R, "seconds": S, "sources": K}
  subscriber: {"op": "reset"} | {"op": "wait", "n": N, "idle_s": S} -> counts, span, latencies
Every reply carries this process's CPU seconds since the previous reply ("cpu_s").
Run: python bench/load_client.py pub|sub PORT NAMESPACE
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge_agent.mqtt import InboundMessage, MqttClient, MqttSettings  # noqa: E402

CAMERAS = ("cam-1", "cam-2", "cam-3", "cam-4")
ASSETS = ("pump-1", "pump-2", "fan-1", "motor-1", "pump-3", "pump-4", "fan-2", "motor-2")


def connect(port: int, name: str, handler: Any = None, subscribe: list[str] | None = None) -> MqttClient:
    """A connected client of the agent's own MQTT wrapper (QoS 1, no queue limit)."""
    settings = MqttSettings(host="127.0.0.1", port=port, client_id=name, session_expiry_s=0, max_queued=0)
    mqtt = MqttClient(settings, handler or (lambda m: None))
    if subscribe:
        mqtt.subscribe(subscribe)
    mqtt.start()
    mqtt.wait_connected(10)
    time.sleep(0.2)
    return mqtt


def frame_payloads() -> list[bytes]:
    """Five 640x480 JPEG surfaces (ok and each defect)."""
    from models.training.surfaces import generate_surface

    rng = np.random.default_rng(1)
    return [generate_surface(rng, label, (480, 640)).jpeg for label in ("ok", "scratch", "pit", "crack", "stain")]


def window_payloads() -> list[bytes]:
    """Six 0.5 s 25.6 kHz windows (healthy and each trained fault), base64 float32."""
    from models.training.vibration import generate_window, to_message

    rng = np.random.default_rng(2)
    states = ("healthy", "outer_race", "inner_race", "ball", "imbalance", "misalignment")
    return [
        json.dumps(to_message(generate_window(rng, s, rpm=1780.0, fs_hz=25600.0, duration_s=0.5), binary=True)).encode()
        for s in states
    ]


def junk_payloads() -> list[bytes]:
    """Malformed frames: random bytes, a JPEG bomb header, a PNG signature with noise, text, empty."""
    rng = np.random.default_rng(3)
    bomb = b"\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff" + bytes(64)
    return [rng.bytes(40_000), bomb, b"\x89PNG\r\n\x1a\n" + rng.bytes(60_000), b'{"not": "a frame"}', b""]


class Cpu:
    """CPU seconds of this process since the last call."""

    def __init__(self) -> None:
        self._last = time.process_time()

    def lap(self) -> float:
        now = time.process_time()
        spent, self._last = now - self._last, now
        return round(spent, 4)


def publisher(port: int, ns: str) -> None:
    """Publishes what each command asks for; replies once paho has everything acknowledged."""
    pub = connect(port, f"bench-pub-{os.getpid()}")
    payloads: dict[str, list[bytes]] = {}
    cpu = Cpu()

    def get(kind: str) -> list[bytes]:
        if kind not in payloads:
            payloads[kind] = {"frame": frame_payloads, "window": window_payloads, "junk": junk_payloads}[kind]()
        return payloads[kind]

    def send(kind: str, i: int, sources: int) -> None:
        if kind == "window":
            body = get("window")[i % 6]
            pub.publish(f"{ns}/sensor/{ASSETS[i % sources]}/vibration", body)
            return
        body = get(kind)[i % len(get(kind))]
        camera = CAMERAS[i % sources]
        pub.publish(f"{ns}/cam/{camera}/frame", body, user_properties={"part_id": f"{i}:{time.monotonic_ns()}"})

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        cpu.lap()
        started = time.monotonic()
        if command["op"] == "flood":
            kind, n, sources = command["kind"], int(command["n"]), int(command.get("sources", 1))
            for i in range(n):
                if kind == "mixed":  # 4 cameras : 8 assets, one window per frame
                    send("frame", i, min(sources, 4))
                    send("window", i, 8)
                else:
                    send(kind, i, sources)
        elif command["op"] == "paced":
            rate, seconds = float(command["rate"]), float(command["seconds"])
            kind, sources = command.get("kind", "frame"), int(command.get("sources", 1))
            n = max(10, int(rate * seconds))
            for i in range(n):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                send(kind, i, sources)
        while pub.pending():
            time.sleep(0.005)
        print(json.dumps({"sent_s": round(time.monotonic() - started, 3), "cpu_s": cpu.lap()}), flush=True)
    pub.stop()


class Results:
    """Counts results per kind and end-to-end latency from the monotonic stamp in the part id."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.counts = {"inspection": 0, "health": 0}
            self.latencies_ms: list[float] = []
            self.first = self.last = 0.0

    def __call__(self, message: InboundMessage) -> None:
        now = time.monotonic()
        kind = "inspection" if "/inspection/" in message.topic else "health"
        stamp = None
        if kind == "inspection":
            stamp = json.loads(message.payload).get("part_id")
        with self.lock:
            self.counts[kind] += 1
            self.first = self.first or now
            self.last = now
            if isinstance(stamp, str) and ":" in stamp:
                self.latencies_ms.append((now - int(stamp.split(":")[1]) / 1e9) * 1000)


def subscriber(port: int, ns: str) -> None:
    """Counts results; `wait` returns once n arrived or none came for idle_s."""
    results = Results()
    topics = [f"{ns}/inspection/+/result", f"{ns}/maintenance/+/health"]
    sub = connect(port, f"bench-sub-{os.getpid()}", results, topics)
    cpu = Cpu()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "reset":
            results.reset()
            cpu.lap()
            print(json.dumps({"cpu_s": 0.0}), flush=True)
            continue
        n, idle_s = int(command["n"]), float(command.get("idle_s", 3.0))
        seen, idle_since = -1, time.monotonic()
        while time.monotonic() - idle_since < idle_s:
            total = sum(results.counts.values())
            if total >= n:
                break
            if total != seen:
                seen, idle_since = total, time.monotonic()
            time.sleep(0.05)
        with results.lock:
            reply = {
                "counts": dict(results.counts),
                "span_s": results.last - results.first,
                "latencies_ms": list(results.latencies_ms),
                "cpu_s": cpu.lap(),
            }
        print(json.dumps(reply), flush=True)
    sub.stop()


if __name__ == "__main__":
    role, port_arg, namespace = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    (publisher if role == "pub" else subscriber)(port_arg, namespace)
