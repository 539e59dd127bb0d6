"""Given a real cloud-sync, mosquitto and `edge-agent run`, a rollout goes live without dropping a message,
and a bad version is rolled back automatically with the reason on the fleet page."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask

from edge_agent.demo.devbroker import DevBroker
from models.training.vibration import generate_window, to_message
from tests.builders import resign
from tests.e2e.agent_process import AgentProcess
from tests.e2e.cloud_server import serve_cloud
from tests.mqtt_probe import Probe

REPO = Path(__file__).resolve().parents[2]
NS = "factory/v1/demo-plant/line-1"
ADMIN = {"Authorization": "Bearer e2e-admin-token-0123456789"}
MODEL = "bearing-health"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[Flask, str, Path]]:
    yield from serve_cloud(tmp_path, ADMIN["Authorization"].split()[1])


def _version(tmp_path: Path, version: str, **manifest_edits: Any) -> bytes:
    """bearing-health re-versioned (and edited), signed by the dev key, as an upload tar."""
    package = tmp_path / "build" / version / MODEL / version
    shutil.copytree(REPO / "models" / MODEL / "1.0.0", package)
    resign(package, {"version": version, **manifest_edits})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(package, arcname=f"{MODEL}/{version}")
    return buffer.getvalue()


def _wait(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_rollout_goes_live_without_drops_and_a_slow_version_is_rolled_back(
    cloud: tuple[Flask, str, Path], broker: DevBroker, tmp_path: Path
) -> None:
    app, url, fleet_public = cloud
    admin = app.test_client()
    # Given a provisioned gateway running bearing-health 1.0.0, trusting the dev key and the fleet key
    answer = admin.post("/api/v1/devices", json={"id": "gw-1", "group": "line-1"}, headers=ADMIN)
    assert answer.status_code == 201, answer.get_json()
    (tmp_path / "token").write_text(answer.get_json()["token"])
    models_dir = tmp_path / "models"
    shutil.copytree(REPO / "models" / MODEL / "1.0.0", models_dir / MODEL / "1.0.0")
    bearing = {"balls": 9, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 39.04, "contact_angle_deg": 0}
    config = {
        "version": 1,
        "gateway": {"id": "gw-1", "site": "demo-plant", "line": "line-1"},
        "mqtt": {"host": "127.0.0.1", "port": broker.port},
        "assets": [{"id": "pump-1", "bearing": bearing, "rpm": 1780}],
        "models": {
            "dir": str(models_dir),
            "trusted_keys": [str(REPO / "models" / "keys" / "dev-signing.pub"), str(fleet_public)],
            "maintenance": MODEL,
        },
        "store": {"path": str(tmp_path / "agent.db")},
        "outbox": {"path": str(tmp_path / "outbox.db")},
        "cloud": {"url": url, "token_file": str(tmp_path / "token"), "poll_s": 0.5},
        "ota": {"probation_min_items": 10},
        "web": {"port": 0},
    }
    probe = Probe(broker.port, "ota-probe", [f"{NS}/maintenance/+/health", f"{NS}/agent/+/status"], persistent=True)
    agent = AgentProcess(config, tmp_path).start()
    rng = np.random.default_rng(8)
    windows = [
        json.dumps(to_message(generate_window(rng, s, rpm=1780.0, fs_hz=25600.0, duration_s=0.5), binary=True))
        for s in ("healthy", "outer_race", "imbalance")
    ]
    sent = {"n": 0}
    streaming = threading.Event()
    streaming.set()

    def stream() -> None:
        while streaming.is_set():
            probe.publish(f"{NS}/sensor/pump-1/vibration", windows[sent["n"] % len(windows)])
            sent["n"] += 1
            time.sleep(0.05)

    def versions_seen() -> list[str]:
        return [json.loads(m.payload)["model"]["version"] for m in probe.on(f"{NS}/maintenance/pump-1/health")]

    def device_state(version: str) -> str:
        history = admin.get("/api/v1/devices/gw-1", headers=ADMIN).get_json().get("history", [])  # newest first
        states = [h["state"] for h in history if h.get("version") == version and h.get("name") == MODEL]
        return states[0] if states else ""

    streamer = threading.Thread(target=stream, daemon=True)
    try:
        _wait(lambda: any(d.get("state") == "online" for d in probe.json_on(f"{NS}/agent/+/status")), 30, "online")
        time.sleep(0.5)  # the agent's SUBACK follows its CONNACK
        streamer.start()
        _wait(lambda: "1.0.0" in versions_seen(), 30, "results from 1.0.0")
        # When 1.1.0 is published and rolled out to the gateway's group
        assert (
            admin.post(
                "/api/v1/models", data=_version(tmp_path, "1.1.0"), headers=ADMIN, content_type="application/x-tar"
            ).status_code
            == 201
        )
        rollout = {"model": MODEL, "version": "1.1.0", "group": "line-1", "probation_s": 3}
        assert admin.post("/api/v1/rollouts", json=rollout, headers=ADMIN).status_code == 201
        # Then it goes live and is committed, and every window published meanwhile got a result
        _wait(lambda: device_state("1.1.0") == "committed", 60, f"1.1.0 committed\n{agent.log()}")
        assert "1.1.0" in versions_seen()
        streaming.clear()
        streamer.join(5)
        _wait(lambda: len(versions_seen()) >= sent["n"], 20, "every result")
        assert len(versions_seen()) == sent["n"], f"{sent['n'] - len(versions_seen())} windows lost across the swap"
        # When a version that blows its latency budget is rolled out
        slow = _version(tmp_path, "1.2.0", **{"thresholds.max_latency_ms": 0.0001})
        assert (
            admin.post("/api/v1/models", data=slow, headers=ADMIN, content_type="application/x-tar").status_code == 201
        )
        rollout = {"model": MODEL, "version": "1.2.0", "group": "line-1", "probation_s": 60}
        assert admin.post("/api/v1/rollouts", json=rollout, headers=ADMIN).status_code == 201
        streaming.set()
        streamer = threading.Thread(target=stream, daemon=True)
        streamer.start()
        # Then probation rolls it back, the gateway serves 1.1.0 again and the fleet page says why
        _wait(lambda: device_state("1.2.0") == "rolled_back", 60, f"1.2.0 rolled back\n{agent.log()}")
        page = admin.get("/", headers=ADMIN).get_data(as_text=True)
        assert "rolled_back" in page and "over the" in page
        before = len(versions_seen())
        _wait(lambda: len(versions_seen()) > before + 3, 20, "results after the rollback")
        assert versions_seen()[-1] == "1.1.0"
    finally:
        streaming.clear()
        probe.close()
        assert agent.stop() == 0, agent.log()
