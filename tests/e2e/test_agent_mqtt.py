"""Given a real mosquitto and `edge-agent run` as a process, frames and windows in give results out."""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.demo.devbroker import DevBroker, free_port
from models.training.surfaces import generate_surface
from models.training.vibration import generate_window, to_message
from tests.e2e.agent_process import AgentProcess
from tests.mqtt_probe import Probe
from tests.sparkplug_venv import run_node

NS = "factory/v1/demo-plant/line-1"


@pytest.fixture
def probe(broker: DevBroker) -> Iterator[Probe]:
    client = Probe(broker.port, "test-probe", [f"{NS}/#"], persistent=True)
    yield client
    client.close()


@pytest.fixture
def agent(agent_config: dict[str, Any], tmp_path: Path, probe: Probe) -> Iterator[AgentProcess]:
    process = AgentProcess(agent_config, tmp_path).start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            statuses = [s for s in probe.json_on(f"{NS}/agent/demo-gw/status") if s.get("state") == "online"]
            if statuses:
                break
            assert process.alive(), process.log()
            time.sleep(0.1)
        else:
            pytest.fail(f"agent never reported online:\n{process.log()}")
        yield process
    finally:
        process.stop()


def _frame(seed: int, label: str) -> bytes:
    return generate_surface(np.random.default_rng(seed), label, 256).jpeg


def _window(seed: int, state: str, binary: bool = True) -> bytes:
    sample = generate_window(np.random.default_rng(seed), state, rpm=1780.0, fs_hz=25600.0, duration_s=0.5)
    return json.dumps(to_message(sample, include_bearing=True, binary=binary)).encode()


def test_frames_become_inspection_results_with_model_identity(agent: AgentProcess, probe: Probe) -> None:
    labels = ["ok", "scratch", "ok", "pit", "crack", "stain"]
    for i, label in enumerate(labels):
        probe.publish(f"{NS}/cam/cam-1/frame", _frame(i, label), {"part_id": f"P{i}", "ts_ms": str(1000 + i)})
    results = probe.wait_for(f"{NS}/inspection/cam-1/result", len(labels))
    documents = {json.loads(m.payload)["part_id"]: json.loads(m.payload) for m in results}
    assert set(documents) == {f"P{i}" for i in range(len(labels))}
    first = documents["P0"]
    assert first["ts_ms"] == 1000 and first["camera"] == "cam-1"
    assert first["model"]["name"] == "surface-inspection" and len(first["model"]["sha256"]) == 64
    assert first["latency_ms"] > 0 and set(first["scores"]) == {"ok", "scratch", "pit", "crack", "stain"}
    verdicts = [documents[f"P{i}"]["verdict"] for i in range(len(labels))]
    assert verdicts.count("ng") >= 3, verdicts


def test_vibration_windows_become_health_results(agent: AgentProcess, probe: Probe) -> None:
    probe.publish(f"{NS}/sensor/pump-1/vibration", _window(1, "healthy"))
    probe.publish(f"{NS}/sensor/pump-1/vibration", _window(2, "outer_race", binary=False))
    probe.publish(f"{NS}/sensor/motor-1/vibration", _window(3, "imbalance"))
    pump = probe.wait_for(f"{NS}/maintenance/pump-1/health", 2)
    motor = probe.wait_for(f"{NS}/maintenance/motor-1/health", 1)
    health = [json.loads(m.payload) for m in pump + motor]
    for document in health:
        assert {"state", "scores", "anomaly_score", "health_index", "features", "model", "latency_ms"} <= set(document)
        assert document["model"]["name"] == "bearing-health"
    assert health[0]["rpm"] == pytest.approx(health[0]["rpm"])  # rpm echoes what the message said


def test_hostile_payloads_are_counted_reported_and_never_fatal(agent: AgentProcess, probe: Probe) -> None:
    hostile = [
        (f"{NS}/cam/cam-1/frame", b"\x00garbage"),
        (f"{NS}/cam/cam-1/frame", b"\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff" + b"\0" * 64),  # JPEG bomb header
        (f"{NS}/cam/cam-9/frame", _frame(1, "ok")),  # unknown camera
        (f"{NS}/sensor/pump-1/vibration", b"\xff\xfe not utf-8"),
        (f"{NS}/sensor/pump-1/vibration", b'{"fs_hz": 20000, "rpm": 1800, "samples": [1, NaN, 2]}'),
        (f"{NS}/sensor/pump-1/vibration", json.dumps({"fs_hz": 25600, "rpm": 1800, "samples": [0.1] * 10}).encode()),
        (
            f"{NS}/sensor/pump-1/vibration",
            json.dumps({"fs_hz": 25600, "rpm": 1800, "samples_b64": base64.b64encode(b"abc").decode()}).encode(),
        ),
        (f"{NS}/sensor/ghost/vibration", _window(1, "healthy")),  # unknown asset
        (f"{NS}/sensor/pump-1/temperature", b"{not json"),
        (f"{NS}/cam/cam-1/frame", b"\xff\xd8" + os.urandom(50 * 1024 * 1024)),  # 50 MB of noise
    ]
    for topic, payload in hostile:
        probe.publish(topic, payload)
    probe.publish(f"{NS}/cam/cam-1/frame", _frame(5, "ok"), {"part_id": "after-hostile"})
    probe.wait_for(f"{NS}/inspection/cam-1/result", 1, timeout=30)
    events = probe.wait_for(f"{NS}/agent/demo-gw/events", 3, timeout=30)
    kinds = {json.loads(m.payload)["type"] for m in events}
    assert "malformed_input" in kinds
    streams = {json.loads(m.payload).get("stream") for m in events}
    assert {"cam/cam-1", "vibration/pump-1"} <= streams
    assert agent.alive(), agent.log()


def test_the_agent_leaves_an_offline_status_when_stopped(agent: AgentProcess, probe: Probe) -> None:
    assert agent.stop() == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = [s["state"] for s in probe.json_on(f"{NS}/agent/demo-gw/status")]
        if states and states[-1] == "offline":
            break
        time.sleep(0.1)
    assert states[-1] == "offline"


def test_a_sparkplug_edge_node_built_with_pysparkplug_feeds_tags_through_the_broker(
    agent_config: dict[str, Any], tmp_path: Path, broker: DevBroker, pysparkplug_python: Path
) -> None:
    # Given the agent with its status page on a known port, and messages of a real Sparkplug B node
    port = free_port()
    agent_config["web"] = {"port": port}
    probe = Probe(broker.port, "spb-probe", [f"{NS}/agent/+/status", "spBv1.0/+/NCMD/+"])
    agent = AgentProcess(agent_config, tmp_path).start()
    try:
        deadline = time.monotonic() + 30
        while not [s for s in probe.json_on(f"{NS}/agent/demo-gw/status") if s.get("state") == "online"]:
            assert time.monotonic() < deadline and agent.alive(), agent.log()
            time.sleep(0.1)
        time.sleep(0.5)
        generated = run_node(pysparkplug_python, "generate")
        # When the node's NBIRTH, DBIRTH and alias-only NDATA/DDATA go through mosquitto
        for message in generated["messages"]:
            if message["topic"].split("/")[2] in ("NBIRTH", "DBIRTH", "NDATA", "DDATA"):
                probe.publish(message["topic"], base64.b64decode(message["payload_b64"]))
        # Then the agent's tags hold the values pysparkplug itself decodes
        expected = {}
        for message in generated["messages"]:
            kind = message["topic"].split("/")[2]
            if kind in ("NBIRTH", "NDATA", "DBIRTH", "DDATA"):
                parts = message["topic"].split("/")
                asset = "/".join(parts[3:])  # edge node, or edge node/device
                for name, value in message["decoded"].items():
                    # the node's last word counts (a null too); Bytes metrics are not tags
                    if not name.startswith(("Node Control", "bdSeq", "Snapshot")):
                        expected[(asset, name)] = value
        deadline = time.monotonic() + 15
        tags: dict[tuple[str, str], Any] = {}
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status", timeout=5) as response:
                status = json.loads(response.read())
            tags = {(t["asset"], t["tag"]): t["value"] for t in status["tags"]}
            if all(key in tags for key in expected):
                break
            time.sleep(0.3)
        press = {k: v for k, v in expected.items() if k[0].startswith("press-1")}
        wrong = {k: (v, tags.get(k)) for k, v in press.items() if tags.get(k) != v}
        assert press and not wrong, (wrong, sorted(tags)[:20], agent.log()[-1500:])
    finally:
        probe.close()
        assert agent.stop() == 0, agent.log()
