"""Given `edge-agent run` and a real mosquitto, an asset commissions its baseline across a kill -9 and is reset."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.demo.devbroker import DevBroker
from models.training.vibration import generate_window, to_message
from tests.e2e.agent_process import AgentProcess
from tests.mqtt_probe import Probe

NS = "factory/v1/demo-plant/line-1"
HEALTH = f"{NS}/maintenance/pump-1/health"
EVENTS = f"{NS}/agent/demo-gw/events"


@pytest.fixture
def probe(broker: DevBroker) -> Iterator[Probe]:
    client = Probe(broker.port, "test-probe", [f"{NS}/#"], persistent=True)
    yield client
    client.close()


def _window(seed: int) -> bytes:
    sample = generate_window(np.random.default_rng(seed), "healthy", rpm=1780.0, fs_hz=25600.0, duration_s=0.5)
    return json.dumps(to_message(sample, include_bearing=True, binary=True)).encode()


def _online(agent: AgentProcess, probe: Probe, after: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sum(1 for s in probe.json_on(f"{NS}/agent/demo-gw/status") if s.get("state") == "online") > after:
            return
        assert agent.alive(), agent.log()
        time.sleep(0.1)
    pytest.fail(f"agent never reported online:\n{agent.log()}")


def _events(probe: Probe, kind: str) -> list[dict[str, Any]]:
    return [e for e in probe.json_on(EVENTS) if e["type"] == kind and e.get("asset") == "pump-1"]


def _wait_event(probe: Probe, kind: str, agent: AgentProcess) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = _events(probe, kind)
        if found:
            return found[-1]
        time.sleep(0.1)
    pytest.fail(f"no {kind} event:\n{agent.log()}")


def test_given_commissioning_when_the_agent_is_killed_then_it_resumes_learns_and_an_operator_resets_it(
    agent_config: dict[str, Any], tmp_path: Path, probe: Probe
) -> None:
    agent_config["baseline"] = {"windows": 8, "min_windows": 3, "save_interval_s": 0.3}
    agent = AgentProcess(agent_config, tmp_path).start()
    try:
        _online(agent, probe, 0)
        # when five windows arrive, the progress is saved, and the agent is killed with SIGKILL
        for seed in range(5):
            probe.publish(f"{NS}/sensor/pump-1/vibration", _window(seed))
        first = [json.loads(m.payload) for m in probe.wait_for(HEALTH, 5)]
        assert sorted(r["baseline"]["progress"][0] for r in first) == [1, 2, 3, 4, 5]
        assert all(r["baseline"]["status"] == "commissioning" and r["severity"]["iso_zone"] in "ABCD" for r in first)
        time.sleep(1.0)  # two save intervals and a main-loop tick
        assert agent.process is not None
        agent.process.kill()
        agent.process.wait(10)
        # then a new agent resumes at five of eight and learns after three more windows
        agent = AgentProcess(agent_config, tmp_path).start()
        _online(agent, probe, 1)
        resumed = _wait_event(probe, "baseline_resumed", agent)
        assert (resumed["asset"], resumed["windows"], resumed["of"]) == ("pump-1", 5, 8)
        for seed in range(5, 8):
            probe.publish(f"{NS}/sensor/pump-1/vibration", _window(seed))
        learned = _wait_event(probe, "baseline_learned", agent)
        assert learned["asset"] == "pump-1" and learned["windows"] == 8 and learned["iso_zone"] in "ABCD"
        probe.publish(f"{NS}/sensor/pump-1/vibration", _window(20))
        judged = [json.loads(m.payload) for m in probe.wait_for(HEALTH, 9)][-1]
        assert judged["baseline"]["status"] in ("used", "other_speed") and "deviation" in judged["baseline"]
        # when an operator resets it from the command line, then the running agent commissions it again
        cli = [
            sys.executable,
            "-m",
            "edge_agent.cli",
            "baseline",
            "reset",
            "pump-1",
            "--config",
            str(agent.config_path),
        ]
        out = subprocess.run(cli, capture_output=True, text=True, timeout=30, check=True).stdout
        assert "applied by the agent; now pump-1  commissioning  0/8 windows" in out, out
        reset = _wait_event(probe, "baseline_reset", agent)
        assert reset["was"] == "learned" and reset["by"].startswith("cli:")
        probe.publish(f"{NS}/sensor/pump-1/vibration", _window(21))
        again = [json.loads(m.payload) for m in probe.wait_for(HEALTH, 10)][-1]
        assert again["baseline"] == {**again["baseline"], "status": "commissioning", "progress": [1, 8]}
    finally:
        agent.stop()
