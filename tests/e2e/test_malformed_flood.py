"""Given `edge-agent run` and a flood of malformed frames at full rate, every valid frame still gets its result."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.demo.devbroker import DevBroker
from edge_agent.mqtt import MqttClient, MqttSettings
from models.training.surfaces import generate_surface
from tests.e2e.agent_process import AgentProcess
from tests.mqtt_probe import Probe

NS = "factory/v1/demo-plant/line-1"
JUNK = [
    np.random.default_rng(3).bytes(40_000),  # noise
    b"\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff" + bytes(64),  # JPEG header declaring 65535 x 65535 px
    b"\x89PNG\r\n\x1a\n" + np.random.default_rng(4).bytes(60_000),  # PNG signature, no IHDR
    b'{"not": "a frame"}',
    b"",
]


@pytest.fixture
def probe(broker: DevBroker) -> Iterator[Probe]:
    # results and status only: a probe on NS/# would receive the flood too and slow the test, not the agent
    client = Probe(broker.port, "flood-probe", [f"{NS}/inspection/+/result", f"{NS}/agent/+/status"])
    yield client
    client.close()


@pytest.fixture
def agent(agent_config: dict[str, Any], tmp_path: Path, probe: Probe) -> Iterator[AgentProcess]:
    agent_config["mqtt"]["status_interval_s"] = 1.0  # the test reads the agent's counters from its status
    process = AgentProcess(agent_config, tmp_path).start()
    try:
        deadline = time.monotonic() + 30
        while not [s for s in probe.json_on(f"{NS}/agent/demo-gw/status") if s.get("state") == "online"]:
            assert process.alive() and time.monotonic() < deadline, process.log()
            time.sleep(0.1)
        yield process
    finally:
        process.stop()


class Flooder:
    """Publishes malformed frames as fast as the broker takes them, on its own connection and thread."""

    def __init__(self, port: int) -> None:
        settings = MqttSettings(host="127.0.0.1", port=port, client_id="flooder", session_expiry_s=0, max_queued=0)
        self.client = MqttClient(settings, lambda message: None)
        self.client.start()
        assert self.client.wait_connected(10)
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.client.pending() > 200:  # keep paho's queue short: full rate is what the broker acknowledges
                time.sleep(0.001)
                continue
            self.client.publish(f"{NS}/cam/cam-2/frame", JUNK[self.sent % len(JUNK)])
            self.sent += 1

    def __enter__(self) -> Flooder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.client.stop()


def test_given_a_full_rate_flood_of_malformed_frames_when_valid_frames_arrive_then_every_one_gets_its_result(
    agent: AgentProcess, probe: Probe, broker: DevBroker
) -> None:
    # given a camera sending 60 valid frames at 15 fps, while another floods garbage at full rate
    frames = [generate_surface(np.random.default_rng(seed), "ok", 256).jpeg for seed in range(4)]
    started = time.monotonic()
    with Flooder(broker.port) as flooder:
        time.sleep(0.5)  # the flood is running before the first valid frame
        for i in range(60):
            time.sleep(max(0.0, started + 0.5 + i / 15 - time.monotonic()))
            probe.publish(f"{NS}/cam/cam-1/frame", frames[i % len(frames)], {"part_id": f"V{i}"})
        # then every valid frame has its result, while the flood goes on
        results = probe.wait_for(f"{NS}/inspection/cam-1/result", 60, timeout=60)
        junk_sent = flooder.sent
    assert {json.loads(m.payload)["part_id"] for m in results} == {f"V{i}" for i in range(60)}
    assert junk_sent > 600, f"the flood reached only {junk_sent} frames"
    # and the garbage was counted as malformed, and never cost a valid frame its queue slot
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        totals = probe.json_on(f"{NS}/agent/demo-gw/status")[-1]["totals"]
        if totals["malformed"] >= junk_sent * 0.9:
            break
        time.sleep(0.5)
    assert totals["malformed"] >= junk_sent * 0.9, totals
    assert totals["dropped"] == 0, totals
    assert agent.alive(), agent.log()
