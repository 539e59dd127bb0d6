"""Given the broker settings we ship, a broker killed under load or restarted on a corrupt store loses no result."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.demo.devbroker import DevBroker
from models.training.surfaces import generate_surface
from tests.e2e.agent_process import AgentProcess
from tests.mqtt_probe import Probe

NS = "factory/v1/demo-plant/line-1"
ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONF = ROOT / "firmware-config" / "mosquitto.conf"
STORE_CHECK = ROOT / "firmware-config" / "mosquitto-store-check"
# how the shipped broker stores and queues; listeners, TLS and accounts are the plant's and stay test-local
STORE_OPTIONS = ("persistence", "autosave_interval", "autosave_on_changes", "max_queued_messages", "set_tcp_nodelay")


def shipped_store_settings() -> str:
    """The shipped mosquitto.conf lines that decide what a SIGKILL can lose."""
    lines = [line.strip() for line in SHIPPED_CONF.read_text().splitlines()]
    chosen = [line for line in lines if line and line.split()[0] in STORE_OPTIONS]
    assert any(line.startswith("autosave_interval") for line in chosen), "the shipped config no longer sets autosave"
    return "\n".join(chosen)


def _autosave_s() -> int:
    return int(next(line.split()[1] for line in shipped_store_settings().splitlines() if "autosave_interval" in line))


@pytest.fixture
def probe(broker: DevBroker) -> Iterator[Probe]:
    client = Probe(broker.port, "plant-historian", [f"{NS}/inspection/#", f"{NS}/agent/+/status"], persistent=True)
    yield client
    client.close()


def _stored_part_ids(config: dict[str, Any]) -> set[str]:
    with sqlite3.connect(config["store"]["path"]) as db:
        return {row[0] for row in db.execute("SELECT part_id FROM inspection_results")}


def _received(probe: Probe) -> set[str]:
    return {json.loads(m.payload)["part_id"] for m in probe.on(f"{NS}/inspection/cam-1/result")}


def _start_online(config: dict[str, Any], tmp_path: Path, probe: Probe) -> AgentProcess:
    agent = AgentProcess(config, tmp_path).start()
    deadline = time.monotonic() + 30
    while not [s for s in probe.json_on(f"{NS}/agent/demo-gw/status") if s.get("state") == "online"]:
        assert time.monotonic() < deadline and agent.alive(), agent.log()
        time.sleep(0.1)
    return agent


def _wait_for_a_save(broker: DevBroker, after: float) -> None:
    """Block until the broker has saved its store (with the sessions of the agent and the subscriber)."""
    store = broker.workdir / "mosquitto.db"
    deadline = time.monotonic() + _autosave_s() + 10
    while not (store.exists() and store.stat().st_mtime > after):
        assert time.monotonic() < deadline, f"the broker never saved {store}"
        time.sleep(0.2)


class Camera(threading.Thread):
    """Publishes frames at a steady rate until stopped, as a line camera does."""

    def __init__(self, probe: Probe, fps: float) -> None:
        super().__init__(daemon=True)
        self.probe, self.period, self.sent = probe, 1.0 / fps, 0
        self.frame = generate_surface(np.random.default_rng(5), "ok", (600, 800)).jpeg
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.period):
            self.probe.publish(f"{NS}/cam/cam-1/frame", self.frame, {"part_id": f"F{self.sent}"})
            self.sent += 1


def _drain(probe: Probe, config: dict[str, Any], timeout: float) -> None:
    """Wait until the agent has worked off its frame backlog and the subscriber holds every result."""
    deadline = time.monotonic() + timeout
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        produced = _stored_part_ids(config)
        if len(produced) != last:
            last, stable_since = len(produced), time.monotonic()
        elif time.monotonic() - stable_since > 1.5 and produced <= _received(probe):
            return
        time.sleep(0.25)


@pytest.mark.broker_config(shipped_store_settings())
def test_no_result_is_lost_when_the_shipped_broker_is_killed_at_random_instants_under_load(
    agent_config: dict[str, Any], tmp_path: Path, probe: Probe, broker: DevBroker
) -> None:
    # Given the shipped broker store settings, an agent under a steady camera load, and a persistent historian
    # that is offline for a while, so the broker holds its results in a queue it saves only every autosave_interval
    started = time.time()
    agent = _start_online(agent_config, tmp_path, probe)
    _wait_for_a_save(broker, after=started + 0.5)
    camera = Camera(Probe(broker.port, "line-camera", []), fps=40)
    camera.start()
    probe.close()
    rng = random.Random(20261203)
    try:
        # When the broker is SIGKILLed three times at random instants and comes back after a random outage
        for _ in range(3):
            time.sleep(rng.uniform(1.0, 4.0))
            broker.kill()
            time.sleep(rng.uniform(0.2, 1.5))
            broker.start()
        time.sleep(1.5)
        camera.halt.set()
        camera.join()
        historian = Probe(broker.port, "plant-historian", [f"{NS}/inspection/#"], persistent=True)
        try:
            _drain(historian, agent_config, timeout=30)
        finally:
            historian.close()
    finally:
        camera.halt.set()
        camera.probe.close()
        assert agent.stop() == 0, agent.log()
    # Then every result the agent produced reached the historian (duplicates allowed: at least once)
    produced, got = _stored_part_ids(agent_config), _received(probe) | _received(historian)
    assert len(produced) > 100, f"too little load to prove anything: {len(produced)} results"
    assert produced <= got, f"lost {len(produced - got)} results: {sorted(produced - got)[:20]}\n{agent.log()}"
    # and the store check the shipped systemd drop-in runs before the broker leaves a whole store alone
    store = broker.workdir / "mosquitto.db"
    check = subprocess.run([sys.executable, str(STORE_CHECK), str(store)], capture_output=True, text=True)
    assert check.returncode == 0 and store.exists() and not check.stderr, check.stderr


@pytest.mark.broker_config(shipped_store_settings())
def test_a_broker_restarted_on_a_corrupt_store_is_reconnected_to_and_results_are_replayed(
    agent_config: dict[str, Any], tmp_path: Path, probe: Probe, broker: DevBroker
) -> None:
    # Given an agent whose results reach a persistent subscriber, and a broker store that power loss truncated
    agent = _start_online(agent_config, tmp_path, probe)
    try:
        frame = generate_surface(np.random.default_rng(8), "ok", 256).jpeg
        for i in range(20):
            probe.publish(f"{NS}/cam/cam-1/frame", frame, {"part_id": f"B{i}"})
        probe.wait_for(f"{NS}/inspection/cam-1/result", 20)
        broker.kill()
        store = broker.workdir / "mosquitto.db"
        store.write_bytes(b"\x00\xb5\x00mosquitto db" + b"\x00" * 8 + b"\x00\x00\x00\x01\x00\x00\x10\x00trunc")
        # mosquitto itself refuses such a store; the shipped ExecStartPre check moves it aside first
        with pytest.raises(Exception, match="exited at start"):
            broker.start()
        check = subprocess.run([sys.executable, str(STORE_CHECK), str(store)], capture_output=True, text=True)
        assert check.returncode == 0 and "moved to" in check.stderr
        before = len(probe.on(f"{NS}/inspection/cam-1/result"))
        # When the broker starts empty (no sessions at all) and everyone reconnects
        broker.start()
        assert probe.client.wait_connected(15)
        # Then the agent replays what the empty broker lost, and new frames still get results
        deadline = time.monotonic() + 30
        while len(probe.on(f"{NS}/inspection/cam-1/result")) < before + 20:
            assert time.monotonic() < deadline, f"no replay after the store was lost:\n{agent.log()}"
            time.sleep(0.2)
        probe.publish(f"{NS}/cam/cam-1/frame", frame, {"part_id": "after"})
        deadline = time.monotonic() + 20
        while "after" not in _received(probe):
            assert time.monotonic() < deadline, agent.log()
            time.sleep(0.2)
    finally:
        assert agent.stop() == 0, agent.log()
    assert list(store.parent.glob("mosquitto.db.corrupt-*")), "the corrupt store was not kept for inspection"
