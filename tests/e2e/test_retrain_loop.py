"""Given a line whose machine drifts out of the model's domain, the loop closes: hard examples and labels flow
up, cloud-sync retrains, a rollout brings the new version back, and the miss rate on the drifted domain falls."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.demo.devbroker import DevBroker
from models.training.vibration import STATES, VibrationDomain, generate_window, to_message
from tests.e2e.agent_process import AgentProcess
from tests.e2e.cloud_server import serve_cloud
from tests.mqtt_probe import Probe

REPO = Path(__file__).resolve().parents[2]
NS = "factory/v1/demo-plant/line-1"
TOKEN = "loop-admin-token-0123456789abcdef"
MODEL = "bearing-health"
# A new sensor mounting on pump-1: a much steeper broadband noise spectrum than the model was trained on.
DRIFTED = VibrationDomain(noise_tilt=(1.8, 2.4))
BIN = Path(sys.executable).parent


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    for _app, url, public in serve_cloud(tmp_path, TOKEN):
        yield url, public


def _cli(*args: str) -> str:
    done = subprocess.run([str(BIN / "cloud-sync"), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"cloud-sync {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _run_shift(probe: Probe, seed: int, count: int) -> float:
    """Publish drifted windows with the maintenance tech's labels; the share of results that miss the truth."""
    rng = np.random.default_rng(seed)
    truth: dict[int, str] = {}
    start = len(probe.on(f"{NS}/maintenance/pump-1/health"))
    base_ts = int(time.time() * 1000)
    for i in range(count):
        state = STATES[i % len(STATES)]
        sample = generate_window(rng, state, DRIFTED, rpm=1780.0, fs_hz=25600.0, duration_s=0.5)
        ts = base_ts + i * 10_000  # 10 s apart in plant time, so every label joins exactly one window
        truth[ts] = state
        probe.publish(f"{NS}/sensor/pump-1/vibration", json.dumps(to_message(sample, binary=True, ts_ms=ts)))
        probe.publish(f"{NS}/label/pump-1", json.dumps({"ts_ms": ts, "label": state}))
        time.sleep(0.03)
    results = probe.wait_for(f"{NS}/maintenance/pump-1/health", start + count, timeout=60)[start:]
    documents = [json.loads(m.payload) for m in results]
    return float(np.mean([d["state"] != truth[d["ts_ms"]] for d in documents]))


def test_the_miss_rate_on_a_drifted_machine_falls_after_the_loop(
    cloud: tuple[str, Path], broker: DevBroker, tmp_path: Path
) -> None:
    url, fleet_public = cloud
    remote = ["--url", url, "--token", TOKEN]
    token = _cli("device", "add", "gw-1", "--group", "line-1", *remote).strip()
    (tmp_path / "token").write_text(token)
    _cli("publish", str(REPO / "models" / MODEL / "1.0.0"), *remote)
    models_dir = tmp_path / "models"
    shutil.copytree(REPO / "models" / MODEL / "1.0.0", models_dir / MODEL / "1.0.0")
    bearing = {"balls": 9, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 39.04, "contact_angle_deg": 0}
    config: dict[str, Any] = {
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
        "capture": {"audit_rate": 0.5, "max_per_hour": 10_000},
        # every state cycles on this one asset: the loop is about the model, not the asset's baseline
        "baseline": {"enabled": False},
        "web": {"port": 0},
    }
    probe = Probe(broker.port, "loop-probe", [f"{NS}/maintenance/+/health", f"{NS}/agent/+/status"], persistent=True)
    agent = AgentProcess(config, tmp_path).start()
    try:
        deadline = time.monotonic() + 30
        while not any(d.get("state") == "online" for d in probe.json_on(f"{NS}/agent/+/status")):
            assert time.monotonic() < deadline and agent.alive(), agent.log()
            time.sleep(0.1)
        time.sleep(0.5)
        # Given the drifted machine: the shipped model misses a good share of its windows
        before = _run_shift(probe, seed=501, count=180)
        assert before >= 0.08, f"the drift should hurt the current model (miss rate {before:.2f})"
        # When hard examples and labels reach the cloud, and cloud-sync retrains and rolls out
        dataset = tmp_path / "dataset"
        deadline = time.monotonic() + 60
        while True:
            _cli("export", MODEL, "--out", str(dataset), "--only-labelled", *remote)
            lines = (
                (dataset / "manifest.jsonl").read_text().splitlines() if (dataset / "manifest.jsonl").exists() else []
            )
            if len(lines) >= 100 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert len(lines) >= 100, f"only {len(lines)} labelled samples reached the cloud"
        table = _cli("retrain", MODEL, "--quick", "--workdir", str(tmp_path / "retrain"), *remote)
        print(table)
        assert "registered bearing-health@1.1.0" in table and "field held-out" in table
        _cli("rollout", MODEL, "1.1.0", "--group", "line-1", "--canary", "100", "--probation", "2", *remote)
        deadline = time.monotonic() + 60
        while not [m for m in probe.on(f"{NS}/maintenance/pump-1/health") if b'"1.1.0"' in m.payload]:
            probe.publish(f"{NS}/sensor/pump-1/vibration", json.dumps(to_message(
                generate_window(np.random.default_rng(1), "healthy", rpm=1780.0, fs_hz=25600.0, duration_s=0.5),
                binary=True)))  # fmt: skip
            assert time.monotonic() < deadline, agent.log()
            time.sleep(0.5)
        # Then the miss rate on the drifted machine falls
        after = _run_shift(probe, seed=502, count=180)
        print(f"miss rate on the drifted machine: before {before:.3f}, after {after:.3f}")
        assert after <= before / 2, (before, after)
    finally:
        probe.close()
        assert agent.stop() == 0, agent.log()
